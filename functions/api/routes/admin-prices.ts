import { z } from '@hono/zod-openapi';
import { EffectiveFromSchema } from '../../../shared/pricing/types.js';
import { createRouter, defineOperation } from '../openapi.js';

export const PRICE_FILE_PATH = '/v1/admin/prices';

const LoadPriceFileSchema = z
  .object({
    format: z
      .literal('litellm')
      .openapi({ description: "LiteLLM's model_prices_and_context_window.json format." }),
    source: z.string().min(1).max(200).openapi({ example: 'litellm-2026-11-01' }),
    effective_from: EffectiveFromSchema.openapi({
      description:
        'When the prices take effect. Kept and answered in UTC (`2026-12-01T01:00:00+01:00` → `2026-12-01T00:00:00.000Z`): a file loaded at an instant already loaded, however spelled, wins over the earlier one.',
    }),
    file: z.record(z.string(), z.unknown()).openapi({ description: 'The price file itself.' }),
  })
  .strict()
  .openapi('LoadPriceFile');

const loadPriceFile = defineOperation({
  method: 'post',
  path: PRICE_FILE_PATH,
  tags: ['Prices'],
  summary: 'Load a price file (operator); its prices apply from effective_from for every tenant',
  access: { operator: true },
  request: { body: { required: true, content: { 'application/json': { schema: LoadPriceFileSchema } } } },
  responses: {
    201: {
      description: 'Loaded',
      content: {
        'application/json': {
          schema: z.object({
            load_id: z.string(),
            loaded: z.int(),
            skipped_count: z.int(),
            skipped: z
              .array(z.object({ key: z.string(), reason: z.string() }))
              .openapi({ description: 'The first 200.' }),
          }),
        },
      },
    },
  },
});

export const adminPriceRoutes = createRouter().openapi(loadPriceFile, async (c) => {
  const body = c.req.valid('json');
  const result = await c.var.runtime.services.pricing.importLiteLLM(body.file, {
    source: `litellm:${body.source}`,
    effectiveFrom: body.effective_from,
  });
  c.var.logger.info(
    { load_id: result.load_id, loaded: result.loaded, skipped: result.skipped.length },
    'price file loaded',
  );
  return c.json(
    {
      load_id: result.load_id,
      loaded: result.loaded,
      skipped_count: result.skipped.length,
      skipped: result.skipped.slice(0, 200),
    },
    201,
  );
});
