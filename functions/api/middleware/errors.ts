import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { isStoreThrottling } from '../../../shared/db/errors.js';
import {
  type AppError,
  MalformedRequestError,
  NotFoundError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
} from '../../../shared/errors/errors.js';
import { PROBLEM_CONTENT_TYPE, toProblem } from '../../../shared/errors/problem.js';
import type { AppEnv } from '../env.js';

/** Hono's own exceptions (bad JSON, wrong content type) mapped to domain error categories. */
function fromHttpException(error: HTTPException): AppError | undefined {
  switch (error.status) {
    case 400:
      return /json/i.test(error.message)
        ? new MalformedRequestError('The body is not valid JSON.', 'MALFORMED_JSON')
        : new MalformedRequestError(error.message || 'The request is malformed.');
    case 413:
      return new PayloadTooLargeError('The body is larger than the limit.');
    case 415:
      return new UnsupportedMediaTypeError('Send the body as application/json.');
    default:
      return undefined;
  }
}

/** How long a caller waits before retrying a request the store refused for load. */
const STORE_THROTTLED_RETRY_AFTER_SECONDS = 2;

/** The one place that turns errors into HTTP: problem+json, logged with the request id. */
export function renderError(error: Error, c: Context<AppEnv>): Response {
  const requestId = c.var.requestId;
  const throttled = isStoreThrottling(error);
  const mapped = throttled
    ? new ServiceUnavailableError(
        'The store (or another AWS service behind this request) is refusing requests for load, even after retries. Retry in a few seconds.',
        'STORE_THROTTLED',
        { cause: error },
      )
    : error instanceof HTTPException
      ? (fromHttpException(error) ?? error)
      : error;
  const problem = toProblem(mapped, requestId);
  if (throttled) c.header('Retry-After', String(STORE_THROTTLED_RETRY_AFTER_SECONDS));
  const logger = c.var.logger;
  if (problem.status >= 500) {
    logger?.error({ err: error }, 'request failed');
  } else {
    logger?.info({ code: problem.code, status: problem.status }, 'request refused');
  }
  return c.body(JSON.stringify(problem), problem.status as 400, { 'content-type': PROBLEM_CONTENT_TYPE });
}

export function renderNotFound(c: Context<AppEnv>): Response {
  return renderError(new NotFoundError(`No route ${c.req.method} ${c.req.path}.`, 'ROUTE_NOT_FOUND'), c);
}
