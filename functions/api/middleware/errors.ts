import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { isStoreThrottling } from '../../../shared/db/errors.js';
import {
  AppError,
  MalformedRequestError,
  MethodNotAllowedError,
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
        { cause: error, retryAfterSeconds: STORE_THROTTLED_RETRY_AFTER_SECONDS },
      )
    : error instanceof HTTPException
      ? (fromHttpException(error) ?? error)
      : error;
  const problem = toProblem(mapped, requestId);
  // Every 429 and 503 error names its wait (see AppError.retryAfterSeconds).
  if (mapped instanceof AppError && mapped.retryAfterSeconds !== undefined) {
    c.header('Retry-After', String(mapped.retryAfterSeconds));
  }
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

/**
 * The methods each path of the app answers, from its routes (`/v1/budgets/:id`): a request whose
 * path exists but whose method does not is answered 405 with `Allow` rather than 404.
 */
export function methodsByPath(routes: readonly { method: string; path: string }[]) {
  const patterns = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  for (const { method, path } of routes) {
    // Middleware (`ALL`) and wildcard mounts say nothing about what a path answers.
    if (method === 'ALL' || path.includes('*')) continue;
    const entry = patterns.get(path) ?? {
      pattern: new RegExp(
        `^${path
          .split('/')
          .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
          .join('/')}/?$`,
      ),
      methods: new Set<string>(),
    };
    entry.methods.add(method);
    if (method === 'GET') entry.methods.add('HEAD');
    patterns.set(path, entry);
  }
  return (path: string): string[] => {
    const allowed = new Set<string>();
    for (const { pattern, methods } of patterns.values())
      if (pattern.test(path)) for (const method of methods) allowed.add(method);
    return [...allowed].sort();
  };
}

/** No route for this method at a path that has routes for others: 405, with the ones it has. */
export function renderMethodNotAllowed(c: Context<AppEnv>, allowed: string[]): Response {
  c.header('Allow', allowed.join(', '));
  return renderError(
    new MethodNotAllowedError(`${c.req.path} does not take ${c.req.method}; it takes ${allowed.join(', ')}.`),
    c,
  );
}
