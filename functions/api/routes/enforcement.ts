import { z } from '@hono/zod-openapi';
import {
  AuthorizeRequestSchema,
  AuthorizeResultSchema,
  CheckRequestSchema,
  CheckResultSchema,
} from '../../../shared/budgets/schema.js';
import { tenantOf } from '../middleware/authorize.js';
import { createRouter, defineOperation, notFoundProblem, problem } from '../openapi.js';

const check = defineOperation({
  method: 'post',
  path: '/v1/enforcement/check',
  tags: ['Enforcement'],
  summary: 'Should this call go ahead? The strictest action among the matching budgets',
  description:
    "Consistent reads of the matching budgets' counters: every usage event acknowledged before the call is counted, and every budget change made before it applies. Decisions, from least to most strict: allow, warn, downgrade (call `model` instead), throttle, block.",
  access: { scopes: ['ingest', 'admin'] },
  request: { body: { required: true, content: { 'application/json': { schema: CheckRequestSchema } } } },
  responses: {
    200: { description: 'The decision', content: { 'application/json': { schema: CheckResultSchema } } },
  },
});

const authorize = defineOperation({
  method: 'post',
  path: '/v1/enforcement/authorize',
  tags: ['Enforcement'],
  summary: 'Reserve the worst case of a call against every matching budget (race-free)',
  description:
    'Idempotent on `id`: a retry (the same request) gets the same reservation (id, amounts, expiry) and reserves nothing twice; the same `id` with another request answers 422. A usage event carrying the `reservation_id` settles it (the actual cost replaces the hold); unsettled reservations expire after `ttl_seconds`.',
  access: { scopes: ['ingest', 'admin'] },
  request: { body: { required: true, content: { 'application/json': { schema: AuthorizeRequestSchema } } } },
  responses: {
    200: {
      description: 'The decision and the reservation',
      content: { 'application/json': { schema: AuthorizeResultSchema } },
    },
    409: problem(
      '`AUTHORIZATION_IN_PROGRESS`: the first call with this `id` is still reserving; or `CONFLICT`: other calls with this `id` keep claiming it and giving it up. Retry.',
    ),
    422: problem(
      '`AUTHORIZATION_ID_REUSED`: this `id` was used for another request (another model, provider, estimate, dimensions or `ttl_seconds`). Use a new id for a new call.',
    ),
    429: problem(
      'Over the rate limit (`RATE_LIMITED`; see `Retry-After`), or a matching budget holds as many live reservations as it can (`TOO_MANY_RESERVATIONS`): settle or release some, or use a shorter `ttl_seconds`, and retry. Nothing was reserved.',
    ),
  },
});

const release = defineOperation({
  method: 'delete',
  path: '/v1/enforcement/reservations/{id}',
  tags: ['Enforcement'],
  summary: 'Release a reservation (the call was not made); idempotent',
  access: { scopes: ['ingest', 'admin'] },
  request: {
    params: z.object({
      id: z
        .string()
        .min(1)
        .max(64)
        .openapi({ param: { name: 'id', in: 'path' }, example: 'rsv_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
    }),
  },
  responses: { 204: { description: 'Released' }, 404: notFoundProblem },
});

export const enforcementRoutes = createRouter()
  .openapi(check, async (c) =>
    c.json(await c.var.runtime.services.budgets.check(tenantOf(c), c.req.valid('json')), 200),
  )
  .openapi(authorize, async (c) =>
    c.json(await c.var.runtime.services.budgets.authorize(tenantOf(c), c.req.valid('json')), 200),
  )
  .openapi(release, async (c) => {
    await c.var.runtime.services.budgets.release(tenantOf(c), c.req.valid('param').id);
    return c.body(null, 204);
  });
