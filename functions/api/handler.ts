import { handle } from 'hono/aws-lambda';
import { createLambdaRuntime } from '../lambda-runtime.js';
import { createApp } from './app.js';

/** The API Lambda behind API Gateway (HTTP API, payload v2): the same app as local mode. */
export const handler = handle(createApp(createLambdaRuntime()));
