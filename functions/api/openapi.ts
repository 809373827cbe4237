import { createRoute, OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { Scope } from '../../shared/api-keys/schema.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../shared/db/pagination.js';
import { ValidationError } from '../../shared/errors/errors.js';
import type { AppEnv } from './env.js';
import { requireOperator, requireScope } from './middleware/authorize.js';
import { idempotency, refuseIdempotencyKey } from './middleware/idempotency.js';

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://tollgate.dev/problems/validation-failed' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'VALIDATION_FAILED' }),
    request_id: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

export const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

/** The error responses every authenticated operation can give. */
const commonProblems = {
  400: problem('The request is invalid (`VALIDATION_FAILED`, `MALFORMED_JSON`, `INVALID_CURSOR`).'),
  401: problem('No key, or not a live key.'),
  403: problem('The key lacks the scope, or is of the wrong kind (operator / tenant).'),
  413: problem('The body is larger than the limit.'),
  429: problem('Rate limited: see `Retry-After` and the `RateLimit-*` headers.'),
  500: problem('Unexpected failure; the body carries only the request id.'),
  503: problem(
    'The store still refused for load after retries (`STORE_THROTTLED`): retry after `Retry-After`.',
  ),
};

/** What every authenticated POST also documents: its Idempotency-Key (see middleware/idempotency.ts). */
const idempotencyKeyParameter = {
  in: 'header' as const,
  name: 'Idempotency-Key',
  required: false,
  schema: { type: 'string' as const, minLength: 1, maxLength: 255 },
  description:
    'Makes a retry safe: the first request with a key runs and a successful answer is kept for 24 h; a retry with the same key and the same request gets it again (with `Idempotent-Replayed: true`) without running. Error answers are not kept: a retry after one runs again, and finds a budget or provider connection that an earlier run stored instead of creating a second.',
};
const idempotencyProblems = {
  409: problem('A request with this Idempotency-Key is still running (`IDEMPOTENCY_KEY_IN_USE`).'),
  422: problem('The Idempotency-Key was used for another request (`IDEMPOTENCY_KEY_REUSED`).'),
};

export const notFoundProblem = problem('No such object for this tenant.');
export const conflictProblem = problem('The object exists already.');

export const PageQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_SIZE)
    .default(DEFAULT_PAGE_SIZE)
    .openapi({ description: `Page size, at most ${MAX_PAGE_SIZE}.` }),
  cursor: z.string().max(2048).optional().openapi({ description: 'The `next_cursor` of the previous page.' }),
});

export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z.object({ data: z.array(item), next_cursor: z.string().nullable() }).openapi(name);
}

/** Who may call an operation; recorded in the document as `x-tollgate-auth` for the security suite. */
export type Access = { operator: true } | { scopes: readonly [Scope, ...Scope[]] } | { public: true };

type OperationConfig = Omit<RouteConfig, 'middleware' | 'security'> & {
  access: Access;
  /**
   * A POST whose answer shows a secret once (a key, a signing secret): Tollgate does not keep it,
   * so it refuses an Idempotency-Key instead of replaying it.
   */
  answersSecret?: true;
};

/**
 * `createRoute` with Tollgate's conventions: the access rule becomes both the route's middleware
 * and its documented security, and the common problem responses are declared.
 */
export function defineOperation<const C extends OperationConfig>({ access, answersSecret, ...config }: C) {
  const isPublic = 'public' in access;
  const idempotent = !isPublic && config.method === 'post' && !answersSecret;
  const middleware: MiddlewareHandler<AppEnv>[] = isPublic
    ? []
    : ['operator' in access ? requireOperator() : requireScope(...access.scopes)];
  if (idempotent) middleware.push(idempotency());
  else if (config.method === 'post') middleware.push(refuseIdempotencyKey());
  const writes = config.method === 'post' || config.method === 'put' || config.method === 'patch';
  if (writes && !config.request?.body) middleware.push(refuseBody());
  return createRoute({
    ...config,
    ...(isPublic ? { security: [] } : { security: [{ bearer: [] }] }),
    'x-tollgate-auth': isPublic ? 'public' : 'operator' in access ? 'operator' : { scopes: access.scopes },
    middleware,
    ...(idempotent ? { parameters: [...(config.parameters ?? []), idempotencyKeyParameter] } : {}),
    responses: {
      ...(isPublic ? {} : commonProblems),
      ...(idempotent ? idempotencyProblems : {}),
      ...config.responses,
    },
    // The extra documentation keys do not change what handlers see; keep C's own typing for them.
  } as unknown as Omit<C, 'access' | 'answersSecret'> & { middleware: MiddlewareHandler<AppEnv>[] });
}

/**
 * For an operation that takes no body: a body other than none or `{}` is refused, so that a caller
 * who sends options (`{"expire_previous_in": 0}`) is not led to think they took effect.
 */
function refuseBody(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const text = (await c.req.text()).trim();
    if (text !== '' && text.replace(/\s+/g, '') !== '{}') {
      throw new ValidationError('This operation takes no body; send none.', [
        { path: '(root)', message: 'no body is taken here' },
      ]);
    }
    await next();
  };
}

/** A router whose request validation failures become problem+json `VALIDATION_FAILED`. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const location = result.target === 'json' ? [] : [result.target === 'param' ? 'path' : result.target];
      throw new ValidationError(
        `The request ${result.target === 'json' ? 'body' : result.target} is invalid.`,
        result.error.issues.map((issue) => ({
          path: [...location, ...issue.path.map(String)].join('.') || '(root)',
          message: issue.message,
        })),
      );
    },
  });
}

/**
 * An operation whose body the handler reads itself (several envelopes, per-item validation):
 * documented like any other, guarded by the same access middleware, but without the validator
 * that would refuse a whole batch for one bad event.
 */
export function openRawOperation<const C extends OperationConfig>(
  router: OpenAPIHono<AppEnv>,
  config: C,
  handler: (c: Context<AppEnv>) => Promise<Response>,
) {
  const { middleware, ...route } = defineOperation(config);
  router.openAPIRegistry.registerPath(route);
  router.on(
    [route.method.toUpperCase()],
    [route.path.replaceAll(/\/{(.+?)}/g, '/:$1')],
    ...middleware,
    handler,
  );
  return router;
}
