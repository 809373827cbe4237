import { z } from '@hono/zod-openapi';
import { ApiKeySchema, CreateApiKeySchema, CreatedApiKeySchema } from '../../../shared/api-keys/schema.js';
import { tenantOf } from '../middleware/authorize.js';
import {
  createRouter,
  defineOperation,
  notFoundProblem,
  PageQuerySchema,
  pageOf,
  problem,
} from '../openapi.js';

const KeyIdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'key_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
});

const createKey = defineOperation({
  method: 'post',
  path: '/v1/api-keys',
  answersSecret: true,
  tags: ['API keys'],
  summary: 'Mint an API key (the secret is shown once)',
  access: { scopes: ['admin'] },
  request: { body: { required: true, content: { 'application/json': { schema: CreateApiKeySchema } } } },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: CreatedApiKeySchema } } },
  },
});

const listKeys = defineOperation({
  method: 'get',
  path: '/v1/api-keys',
  tags: ['API keys'],
  summary: "List the tenant's keys, without secrets",
  access: { scopes: ['admin'] },
  request: { query: PageQuerySchema },
  responses: {
    200: {
      description: 'A page of keys',
      content: { 'application/json': { schema: pageOf(ApiKeySchema, 'ApiKeyPage') } },
    },
  },
});

const revokeKey = defineOperation({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  tags: ['API keys'],
  summary: 'Revoke a key; it stops working at once',
  description:
    "The tenant's last active key with the `admin` scope cannot be revoked: create another admin key first.",
  access: { scopes: ['admin'] },
  request: { params: KeyIdParam },
  responses: {
    204: { description: 'Revoked' },
    404: notFoundProblem,
    409: problem(
      "The key is the tenant's last active key with the `admin` scope (`LAST_ADMIN_KEY`): create another admin key first.",
    ),
  },
});

export const apiKeyRoutes = createRouter()
  .openapi(createKey, async (c) =>
    c.json(await c.var.runtime.services.apiKeys.create(tenantOf(c), c.req.valid('json')), 201),
  )
  .openapi(listKeys, async (c) =>
    c.json(await c.var.runtime.services.apiKeys.list(tenantOf(c), c.req.valid('query')), 200),
  )
  .openapi(revokeKey, async (c) => {
    await c.var.runtime.services.apiKeys.revoke(tenantOf(c), c.req.valid('param').id);
    return c.body(null, 204);
  });
