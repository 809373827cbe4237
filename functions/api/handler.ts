import { handle } from 'hono/aws-lambda';
import { LAMBDA_RESPONSE_PAYLOAD_BYTES } from '../../shared/http/buffered-response.js';
import { createLambdaRuntime } from '../lambda-runtime.js';
import { createApp } from './app.js';

/** The API Lambda behind API Gateway (HTTP API, payload v2): the same app as local mode. */
export const handler = handle(
  createApp(createLambdaRuntime(), { responsePayloadLimitBytes: LAMBDA_RESPONSE_PAYLOAD_BYTES }),
);
