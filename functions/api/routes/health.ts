import { z } from '@hono/zod-openapi';
import { createRouter, defineOperation } from '../openapi.js';

const HealthSchema = z.object({ status: z.literal('ok') }).openapi('Health');

const health = defineOperation({
  method: 'get',
  path: '/healthz',
  tags: ['Operations'],
  summary: 'Liveness check',
  access: { public: true },
  responses: {
    200: { description: 'The API is serving', content: { 'application/json': { schema: HealthSchema } } },
  },
});

export const healthRoutes = createRouter().openapi(health, (c) => c.json({ status: 'ok' as const }, 200));
