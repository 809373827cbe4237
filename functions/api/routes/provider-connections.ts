import { z } from '@hono/zod-openapi';
import {
  CreateProviderConnectionSchema,
  ProviderConnectionSchema,
  SyncSummarySchema,
} from '../../../shared/billing/schema.js';
import { tenantOf } from '../middleware/authorize.js';
import {
  conflictProblem,
  createRouter,
  defineOperation,
  notFoundProblem,
  PageQuerySchema,
  pageOf,
  problem,
} from '../openapi.js';

const ConnectionIdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'pcn_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
});

const createConnection = defineOperation({
  method: 'post',
  path: '/v1/provider-connections',
  tags: ['Provider billing'],
  summary: "Connect a provider organization's billing (the key is stored encrypted, never returned)",
  access: { scopes: ['admin'] },
  request: {
    body: { required: true, content: { 'application/json': { schema: CreateProviderConnectionSchema } } },
  },
  responses: {
    201: { description: 'Connected', content: { 'application/json': { schema: ProviderConnectionSchema } } },
    409: problem(
      'The same provider key is connected already (`PROVIDER_KEY_CONNECTED`, naming the connection): its bill would count twice.',
    ),
  },
});

const listConnections = defineOperation({
  method: 'get',
  path: '/v1/provider-connections',
  tags: ['Provider billing'],
  summary: "The tenant's provider connections and the outcome of their latest sync",
  access: { scopes: ['admin'] },
  request: { query: PageQuerySchema },
  responses: {
    200: {
      description: 'A page of connections',
      content: { 'application/json': { schema: pageOf(ProviderConnectionSchema, 'ProviderConnectionPage') } },
    },
  },
});

const getConnection = defineOperation({
  method: 'get',
  path: '/v1/provider-connections/{id}',
  tags: ['Provider billing'],
  summary: 'One provider connection',
  access: { scopes: ['admin'] },
  request: { params: ConnectionIdParam },
  responses: {
    200: {
      description: 'The connection',
      content: { 'application/json': { schema: ProviderConnectionSchema } },
    },
    404: notFoundProblem,
  },
});

const deleteConnection = defineOperation({
  method: 'delete',
  path: '/v1/provider-connections/{id}',
  tags: ['Provider billing'],
  summary: 'Disconnect: the credential and the billed lines pulled through it are deleted',
  access: { scopes: ['admin'] },
  request: { params: ConnectionIdParam },
  responses: { 204: { description: 'Deleted' }, 404: notFoundProblem },
});

const syncConnection = defineOperation({
  method: 'post',
  path: '/v1/provider-connections/{id}/sync',
  tags: ['Provider billing'],
  summary: "Pull the connection's usage and costs now (the trailing days again, so corrections land)",
  access: { scopes: ['admin'] },
  request: { params: ConnectionIdParam },
  responses: {
    200: {
      description: "The sync's outcome (also when the provider failed: see `sync.outcome`)",
      content: {
        'application/json': {
          schema: z
            .object({ connection: ProviderConnectionSchema, sync: SyncSummarySchema })
            .openapi('ProviderConnectionSync'),
        },
      },
    },
    404: notFoundProblem,
    409: conflictProblem,
  },
});

export const providerConnectionRoutes = createRouter()
  .openapi(createConnection, async (c) => {
    const connection = await c.var.runtime.services.billing.create(
      tenantOf(c),
      c.req.valid('json'),
      c.var.idempotentRun,
    );
    c.var.logger.info({ connection_id: connection.id, provider: connection.provider }, 'provider connected');
    return c.json(connection, 201);
  })
  .openapi(listConnections, async (c) =>
    c.json(await c.var.runtime.services.billing.list(tenantOf(c), c.req.valid('query')), 200),
  )
  .openapi(getConnection, async (c) =>
    c.json(await c.var.runtime.services.billing.get(tenantOf(c), c.req.valid('param').id), 200),
  )
  .openapi(deleteConnection, async (c) => {
    await c.var.runtime.services.billing.remove(tenantOf(c), c.req.valid('param').id);
    return c.body(null, 204);
  })
  .openapi(syncConnection, async (c) => {
    const result = await c.var.runtime.services.billing.syncNow(tenantOf(c), c.req.valid('param').id);
    c.var.logger.info(
      { connection_id: result.connection.id, outcome: result.sync.outcome, lines: result.sync.lines },
      'provider connection synced on demand',
    );
    return c.json(result, 200);
  });
