import { z } from '@hono/zod-openapi';
import { PROVIDERS } from '../../../shared/billing/lines.js';
import { BillingSettingsInputSchema, BillingSettingsSchema } from '../../../shared/billing/schema.js';
import { tenantOf } from '../middleware/authorize.js';
import { createRouter, defineOperation } from '../openapi.js';

const money = z.string().openapi({ example: '5.15000000' });
const driftPct = z.number().nullable().openapi({
  description:
    '(metered − billed) / billed × 100, to 4 places: positive when Tollgate meters more than the provider billed, negative when the bill is higher (missing events, unpriced usage). Null when nothing was billed, and on rows of non-model charges.',
  example: 0,
});

const ReconciliationRowSchema = z.object({
  provider: z.string(),
  date: z.string().openapi({ description: 'The UTC day, YYYY-MM-DD.' }),
  model: z.string().nullable().openapi({
    description:
      "The catalog name of the model; null for the provider's charges of no model (tool calls, storage…).",
  }),
  reported_cost: money.openapi({ description: "The apps' own figures (usage events' `cost`)." }),
  metered_cost: money.openapi({ description: "Tollgate's pricing of the usage events' tokens." }),
  billed_cost: money.openapi({ description: "The provider's bill." }),
  drift_pct: driftPct,
  unattributed_cost: money.openapi({
    description:
      'Billed spend no usage event explains: a model billed on a day no event used it, or a non-model charge.',
  }),
});

const ReconciliationSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    provider: z.string().nullable(),
    drift_threshold_pct: z.string(),
    data: z.array(ReconciliationRowSchema),
    totals: ReconciliationRowSchema.omit({ provider: true, date: true, model: true }),
    metered_as_of: z.string().nullable().openapi({
      description: 'Usage ingested before this instant is counted in metered and reported costs.',
    }),
    connections: z.array(
      z.object({
        id: z.string(),
        provider: z.string(),
        synced_through: z.string().nullable(),
        last_success_at: z.string().nullable(),
      }),
    ),
  })
  .openapi('Reconciliation');

const getReconciliation = defineOperation({
  method: 'get',
  path: '/v1/billing/reconciliation',
  tags: ['Provider billing'],
  summary: 'Reported vs metered vs billed cost, per provider, UTC day and model',
  access: { scopes: ['admin'] },
  request: {
    query: z.object({
      from: z.iso.date().openapi({ description: 'First day (UTC), YYYY-MM-DD.' }),
      to: z.iso.date().openapi({ description: 'Day after the last (UTC), YYYY-MM-DD; at most 366 days.' }),
      provider: z.enum(PROVIDERS).optional(),
    }),
  },
  responses: {
    200: {
      description: 'The reconciliation',
      content: { 'application/json': { schema: ReconciliationSchema } },
    },
  },
});

const getSettings = defineOperation({
  method: 'get',
  path: '/v1/billing/settings',
  tags: ['Provider billing'],
  summary: "The tenant's billing settings (drift threshold)",
  access: { scopes: ['admin'] },
  responses: {
    200: { description: 'The settings', content: { 'application/json': { schema: BillingSettingsSchema } } },
  },
});

const putSettings = defineOperation({
  method: 'put',
  path: '/v1/billing/settings',
  tags: ['Provider billing'],
  summary: 'Set the drift threshold that publishes billing.drift_detected.v1',
  access: { scopes: ['admin'] },
  request: {
    body: { required: true, content: { 'application/json': { schema: BillingSettingsInputSchema } } },
  },
  responses: {
    200: { description: 'Stored', content: { 'application/json': { schema: BillingSettingsSchema } } },
  },
});

export const billingRoutes = createRouter()
  .openapi(getReconciliation, async (c) => {
    const { from, to, provider } = c.req.valid('query');
    return c.json(
      await c.var.runtime.services.billing.reconciliation(tenantOf(c), {
        from,
        to,
        ...(provider ? { provider } : {}),
      }),
      200,
    );
  })
  .openapi(getSettings, async (c) =>
    c.json(await c.var.runtime.services.billing.getSettings(tenantOf(c)), 200),
  )
  .openapi(putSettings, async (c) =>
    c.json(await c.var.runtime.services.billing.putSettings(tenantOf(c), c.req.valid('json')), 200),
  );
