import { z } from '@hono/zod-openapi';
import { PriceOverrideSchema } from '../../../shared/pricing/override.js';
import { repriceUsage } from '../../../shared/pricing/reprice.js';
import { ModelPriceSchema } from '../../../shared/pricing/types.js';
import { tenantOf } from '../middleware/authorize.js';
import { createRouter, defineOperation, notFoundProblem } from '../openapi.js';

const PriceSchema = ModelPriceSchema.openapi('Price', {
  description:
    'USD per 1M tokens for each bucket; batch/flex/priority tiers and the long-context tier where the model has them.',
});

const StoredOverrideSchema = PriceOverrideSchema.and(
  z.object({ provider: z.string(), model: z.string(), created_at: z.string() }),
).openapi('PriceOverride');

const getPrice = defineOperation({
  method: 'get',
  path: '/v1/prices',
  tags: ['Prices'],
  summary: "The price in force for a model at a time, with the tenant's override applied",
  access: { scopes: ['read', 'admin'] },
  request: {
    query: z.object({
      model: z.string().min(1).max(256).openapi({ example: 'gpt-4o-2024-08-06' }),
      provider: z
        .string()
        .min(1)
        .max(64)
        .optional()
        .openapi({ description: 'Default: the first provider that prices the model.' }),
      at: z.iso.datetime({ offset: true }).optional().openapi({ description: 'Default now.' }),
    }),
  },
  responses: {
    200: { description: 'The price', content: { 'application/json': { schema: PriceSchema } } },
    404: notFoundProblem,
  },
});

const putOverride = defineOperation({
  method: 'put',
  path: '/v1/prices/overrides/{provider}/{model}',
  tags: ['Prices'],
  summary: 'Set a negotiated price (explicit rates and/or a discount), effective-dated',
  description: [
    'Over a list price, `discount_pct` scales every rate and tier of it; `rates` replace those standard rates and are not discounted, and the rates not given come from the list price.',
    'A model with no list price at any date needs `rates.input` and `rates.output`, and takes no `discount_pct` (there is nothing it could scale): anything else is a 400 naming the fields.',
    '`effective_from` is kept in UTC, and a PUT at an instant already kept replaces those terms; terms are kept under the name the model is priced under.',
  ].join(' '),
  access: { scopes: ['admin'] },
  request: {
    params: z.object({
      provider: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[a-z0-9][a-z0-9_.-]*$/)
        .openapi({ param: { name: 'provider', in: 'path' } }),
      model: z
        .string()
        .min(1)
        .max(256)
        .openapi({ param: { name: 'model', in: 'path' } }),
    }),
    body: { required: true, content: { 'application/json': { schema: PriceOverrideSchema } } },
  },
  responses: {
    200: { description: 'Stored', content: { 'application/json': { schema: StoredOverrideSchema } } },
  },
});

const listOverrides = defineOperation({
  method: 'get',
  path: '/v1/prices/overrides',
  tags: ['Prices'],
  summary: "The tenant's negotiated prices, every effective date",
  access: { scopes: ['read', 'admin'] },
  responses: {
    200: {
      description: 'Overrides',
      content: {
        'application/json': {
          schema: z.object({ data: z.array(StoredOverrideSchema), next_cursor: z.null() }),
        },
      },
    },
  },
});

const RepriceRequestSchema = z
  .object({
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    dry_run: z.boolean().default(false),
  })
  .strict()
  .openapi('RepriceRequest');

const money = z.string().openapi({ example: '12.50000000' });
const RepriceSummarySchema = z
  .object({
    from: z.string(),
    to: z.string(),
    dry_run: z.boolean(),
    events: z.int(),
    changed: z.int(),
    newly_priced: z.int(),
    unpriced: z.int(),
    old_cost: money,
    new_cost: money,
    by_model: z.array(
      z.object({
        provider: z.string(),
        model: z.string(),
        events: z.int(),
        changed: z.int(),
        newly_priced: z.int(),
        old_cost: money,
        new_cost: money,
      }),
    ),
  })
  .openapi('RepriceSummary');

const reprice = defineOperation({
  method: 'post',
  path: '/v1/prices/reprice',
  tags: ['Prices'],
  summary: 'Re-price usage in a time range with the prices now in force (dry_run: only the diff)',
  access: { scopes: ['admin'] },
  request: { body: { required: true, content: { 'application/json': { schema: RepriceRequestSchema } } } },
  responses: {
    200: {
      description: 'What changed (or would)',
      content: { 'application/json': { schema: RepriceSummarySchema } },
    },
  },
});

export const priceRoutes = createRouter()
  .openapi(getPrice, async (c) => {
    const { model, provider, at } = c.req.valid('query');
    const price = await c.var.runtime.services.pricing.priceInForce(tenantOf(c), {
      model,
      provider,
      at: at ? new Date(at) : c.var.runtime.now(),
    });
    return c.json(price, 200);
  })
  .openapi(putOverride, async (c) => {
    const { provider, model } = c.req.valid('param');
    const stored = await c.var.runtime.services.pricing.putOverride(
      tenantOf(c),
      provider,
      model,
      c.req.valid('json'),
    );
    return c.json(stored, 200);
  })
  .openapi(listOverrides, async (c) =>
    c.json({ data: await c.var.runtime.services.pricing.listOverrides(tenantOf(c)), next_cursor: null }, 200),
  )
  .openapi(reprice, async (c) => {
    const body = c.req.valid('json');
    const { db, services } = c.var.runtime;
    const summary = await repriceUsage(
      db,
      services.pricing,
      tenantOf(c),
      { from: new Date(body.from), to: new Date(body.to), dryRun: body.dry_run },
      c.var.runtime.now(),
    );
    c.var.logger.info({ changed: summary.changed, dry_run: summary.dry_run }, 'usage re-priced');
    return c.json(summary, 200);
  });
