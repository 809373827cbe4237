import { z } from '@hono/zod-openapi';
import { CreateApiKeySchema, CreatedApiKeySchema } from '../../../shared/api-keys/schema.js';
import { CreateTenantSchema, TenantSchema } from '../../../shared/tenants/schema.js';
import { createRouter, defineOperation, notFoundProblem, PageQuerySchema, pageOf } from '../openapi.js';

const CreatedTenantSchema = TenantSchema.extend({
  api_key: CreatedApiKeySchema.pick({ id: true, key: true, scopes: true }),
}).openapi('CreatedTenant');

const TenantIdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'ten_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
});

const createTenant = defineOperation({
  method: 'post',
  path: '/v1/tenants',
  answersSecret: true,
  tags: ['Tenants'],
  summary: 'Create a tenant and its first key (all scopes, shown once)',
  access: { operator: true },
  request: { body: { required: true, content: { 'application/json': { schema: CreateTenantSchema } } } },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: CreatedTenantSchema } } },
  },
});

const listTenants = defineOperation({
  method: 'get',
  path: '/v1/tenants',
  tags: ['Tenants'],
  summary: 'List tenants, oldest first',
  access: { operator: true },
  request: { query: PageQuerySchema },
  responses: {
    200: {
      description: 'A page of tenants',
      content: { 'application/json': { schema: pageOf(TenantSchema, 'TenantPage') } },
    },
  },
});

const getTenant = defineOperation({
  method: 'get',
  path: '/v1/tenants/{id}',
  tags: ['Tenants'],
  summary: 'Get a tenant',
  access: { operator: true },
  request: { params: TenantIdParam },
  responses: {
    200: { description: 'The tenant', content: { 'application/json': { schema: TenantSchema } } },
    404: notFoundProblem,
  },
});

const issueTenantKey = defineOperation({
  method: 'post',
  path: '/v1/tenants/{id}/api-keys',
  answersSecret: true,
  tags: ['Tenants'],
  summary:
    'Issue a key for a tenant (the secret is shown once): the recovery of a tenant left without an admin key',
  description:
    "The same body and answer as the tenant's own `POST /v1/api-keys`. For a tenant that can no longer mint its keys itself, such as one whose admin keys were all revoked before the last one was guarded.",
  access: { operator: true },
  request: {
    params: TenantIdParam,
    body: { required: true, content: { 'application/json': { schema: CreateApiKeySchema } } },
  },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: CreatedApiKeySchema } } },
    404: notFoundProblem,
  },
});

export const tenantRoutes = createRouter()
  .openapi(createTenant, async (c) => {
    const created = await c.var.runtime.services.tenants.create(c.req.valid('json'));
    c.var.logger.info({ tenant_id: created.id }, 'tenant created');
    return c.json(created, 201);
  })
  .openapi(listTenants, async (c) =>
    c.json(await c.var.runtime.services.tenants.list(c.req.valid('query')), 200),
  )
  .openapi(getTenant, async (c) =>
    c.json(await c.var.runtime.services.tenants.get(c.req.valid('param').id), 200),
  )
  .openapi(issueTenantKey, async (c) => {
    const tenantId = c.req.valid('param').id;
    const issued = await c.var.runtime.services.tenants.issueApiKey(tenantId, c.req.valid('json'));
    // An operator acting on a tenant's keys leaves a trace (never the key itself).
    c.var.logger.info(
      { tenant_id: tenantId, key_id: issued.id, scopes: issued.scopes },
      'API key issued by the operator',
    );
    return c.json(issued, 201);
  });
