import { z } from '@hono/zod-openapi';
import {
  CreatedWebhookEndpointSchema,
  CreateWebhookEndpointSchema,
  RotatedSecretSchema,
  UpdateWebhookEndpointSchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
} from '../../../shared/webhooks/schema.js';
import { tenantOf } from '../middleware/authorize.js';
import {
  conflictProblem,
  createRouter,
  defineOperation,
  notFoundProblem,
  PageQuerySchema,
  pageOf,
} from '../openapi.js';

const idParam = (example: string) =>
  z.object({
    id: z
      .string()
      .max(64)
      .openapi({ param: { name: 'id', in: 'path' }, example }),
  });
const EndpointIdParam = idParam('whe_01JDQ7Z5M2X9K3V4W6Y8A0B1C2');
const DeliveryIdParam = idParam('del_01JDQ7Z5M2X9K3V4W6Y8A0B1C2');

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const TAGS = ['Webhooks'];
const disabledProblem = {
  ...conflictProblem,
  description: 'The endpoint is disabled (`WEBHOOK_ENDPOINT_DISABLED`): enable it with PATCH first.',
};

const createEndpoint = defineOperation({
  method: 'post',
  path: '/v1/webhook-endpoints',
  answersSecret: true,
  tags: TAGS,
  summary: 'Register an endpoint (the signing secret is shown once)',
  description:
    'The URL must be https and resolve only to public addresses (`WEBHOOK_URL_REFUSED` otherwise), unless the operator allows private URLs.',
  access: { scopes: ['admin'] },
  request: {
    body: { required: true, content: { 'application/json': { schema: CreateWebhookEndpointSchema } } },
  },
  responses: {
    201: json(CreatedWebhookEndpointSchema, 'Created'),
    409: {
      ...conflictProblem,
      description: 'The tenant has its maximum of endpoints (`WEBHOOK_ENDPOINT_LIMIT`): delete one first.',
    },
  },
});

const listEndpoints = defineOperation({
  method: 'get',
  path: '/v1/webhook-endpoints',
  tags: TAGS,
  summary: "The tenant's endpoints, without secrets",
  access: { scopes: ['admin'] },
  request: { query: PageQuerySchema },
  responses: { 200: json(pageOf(WebhookEndpointSchema, 'WebhookEndpointPage'), 'A page of endpoints') },
});

const getEndpoint = defineOperation({
  method: 'get',
  path: '/v1/webhook-endpoints/{id}',
  tags: TAGS,
  summary: 'One endpoint, with its status and why it was disabled',
  access: { scopes: ['admin'] },
  request: { params: EndpointIdParam },
  responses: { 200: json(WebhookEndpointSchema, 'The endpoint'), 404: notFoundProblem },
});

const updateEndpoint = defineOperation({
  method: 'patch',
  path: '/v1/webhook-endpoints/{id}',
  tags: TAGS,
  summary: 'Change the URL, filters or description; enable or disable',
  access: { scopes: ['admin'] },
  request: {
    params: EndpointIdParam,
    body: { required: true, content: { 'application/json': { schema: UpdateWebhookEndpointSchema } } },
  },
  responses: { 200: json(WebhookEndpointSchema, 'The endpoint'), 404: notFoundProblem },
});

const deleteEndpoint = defineOperation({
  method: 'delete',
  path: '/v1/webhook-endpoints/{id}',
  tags: TAGS,
  summary: 'Delete an endpoint; its pending deliveries are not sent',
  access: { scopes: ['admin'] },
  request: { params: EndpointIdParam },
  responses: { 204: { description: 'Deleted' }, 404: notFoundProblem },
});

const rotateSecret = defineOperation({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/rotate-secret',
  answersSecret: true,
  tags: TAGS,
  summary: 'A new signing secret; the old one also signs for 24 h',
  access: { scopes: ['admin'] },
  request: { params: EndpointIdParam },
  responses: { 200: json(RotatedSecretSchema, 'The new secret, shown once'), 404: notFoundProblem },
});

const sendTest = defineOperation({
  method: 'post',
  path: '/v1/webhook-endpoints/{id}/test',
  tags: TAGS,
  summary: 'Send a `webhook.test` event now',
  description: 'Answers after the first attempt: the delivery shows its status code and latency.',
  access: { scopes: ['admin'] },
  request: { params: EndpointIdParam },
  responses: { 202: json(WebhookDeliverySchema, 'The delivery'), 404: notFoundProblem, 409: disabledProblem },
});

const listDeliveries = defineOperation({
  method: 'get',
  path: '/v1/webhook-endpoints/{id}/deliveries',
  tags: TAGS,
  summary: "The endpoint's delivery log, newest first",
  access: { scopes: ['admin'] },
  request: { params: EndpointIdParam, query: PageQuerySchema },
  responses: {
    200: json(pageOf(WebhookDeliverySchema, 'WebhookDeliveryPage'), 'A page of deliveries'),
    404: notFoundProblem,
  },
});

const replayDelivery = defineOperation({
  method: 'post',
  path: '/v1/webhook-deliveries/{id}/replay',
  tags: TAGS,
  summary: "Send a delivery's event again (a new delivery, same body and webhook-id)",
  access: { scopes: ['admin'] },
  request: { params: DeliveryIdParam },
  responses: {
    202: json(WebhookDeliverySchema, 'The new delivery, after its first attempt'),
    404: notFoundProblem,
    409: disabledProblem,
  },
});

export const webhookRoutes = createRouter()
  .openapi(createEndpoint, async (c) =>
    c.json(await c.var.runtime.services.webhooks.create(tenantOf(c), c.req.valid('json')), 201),
  )
  .openapi(listEndpoints, async (c) =>
    c.json(await c.var.runtime.services.webhooks.list(tenantOf(c), c.req.valid('query')), 200),
  )
  .openapi(getEndpoint, async (c) =>
    c.json(await c.var.runtime.services.webhooks.get(tenantOf(c), c.req.valid('param').id), 200),
  )
  .openapi(updateEndpoint, async (c) =>
    c.json(
      await c.var.runtime.services.webhooks.update(tenantOf(c), c.req.valid('param').id, c.req.valid('json')),
      200,
    ),
  )
  .openapi(deleteEndpoint, async (c) => {
    await c.var.runtime.services.webhooks.remove(tenantOf(c), c.req.valid('param').id);
    return c.body(null, 204);
  })
  .openapi(rotateSecret, async (c) =>
    c.json(await c.var.runtime.services.webhooks.rotateSecret(tenantOf(c), c.req.valid('param').id), 200),
  )
  .openapi(sendTest, async (c) =>
    c.json(await c.var.runtime.services.webhooks.sendTest(tenantOf(c), c.req.valid('param').id), 202),
  )
  .openapi(listDeliveries, async (c) =>
    c.json(
      await c.var.runtime.services.webhooks.listDeliveries(
        tenantOf(c),
        c.req.valid('param').id,
        c.req.valid('query'),
      ),
      200,
    ),
  )
  .openapi(replayDelivery, async (c) =>
    c.json(await c.var.runtime.services.webhooks.replay(tenantOf(c), c.req.valid('param').id), 202),
  );
