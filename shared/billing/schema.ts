import { z } from '@hono/zod-openapi';
import { displayName } from '../display-text.js';
import { PROVIDERS } from './lines.js';

export const CreateProviderConnectionSchema = z
  .object({
    provider: z.enum(PROVIDERS).openapi({ example: 'openai' }),
    api_key: z
      .string()
      .min(8)
      .max(512)
      .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
      .openapi({
        description:
          "The provider's organization admin key (OpenAI `sk-admin-…`, Anthropic `sk-ant-admin01-…`). Stored encrypted, never returned.",
        example: 'sk-admin-…',
      }),
    name: displayName(128).optional().openapi({ example: 'Production org' }),
  })
  .strict()
  .openapi('CreateProviderConnection');
export type CreateProviderConnection = z.infer<typeof CreateProviderConnectionSchema>;

export const SyncSummarySchema = z
  .object({
    started_at: z.string(),
    finished_at: z.string(),
    outcome: z.enum(['ok', 'error']),
    /** The days pulled, [from, to) UTC. */
    from: z.string(),
    to: z.string(),
    days: z.int().openapi({ description: 'Day buckets received (cost and usage sources together).' }),
    lines: z.int().openapi({ description: 'Billed lines in those buckets.' }),
    added: z.int(),
    updated: z.int().openapi({ description: 'Lines the provider corrected since the previous pull.' }),
    removed: z.int().openapi({ description: 'Lines the provider no longer reports.' }),
    error: z.string().nullable(),
  })
  .openapi('SyncSummary');
export type SyncSummary = z.infer<typeof SyncSummarySchema>;

export const ProviderConnectionSchema = z
  .object({
    id: z.string().openapi({ example: 'pcn_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
    provider: z.enum(PROVIDERS),
    name: z.string().nullable(),
    key_hint: z.string().openapi({ description: 'The last characters of the key, to tell keys apart.' }),
    created_at: z.string(),
    status: z.enum(['pending', 'ok', 'error']).openapi({
      description: '`pending` before the first sync; then the outcome of the latest one.',
    }),
    synced_through: z
      .string()
      .nullable()
      .openapi({ description: 'The last UTC day the latest successful sync covered (YYYY-MM-DD).' }),
    last_success_at: z.string().nullable(),
    last_error: z.object({ at: z.string(), message: z.string() }).nullable(),
    last_sync: SyncSummarySchema.nullable(),
  })
  .openapi('ProviderConnection');
export type ProviderConnection = z.infer<typeof ProviderConnectionSchema>;

export const DEFAULT_DRIFT_THRESHOLD_PCT = '5';

const ThresholdSchema = z
  .union([z.number(), z.string().regex(/^\d{1,3}(\.\d{1,4})?$/, 'a percentage such as "5" or "2.5"')])
  .transform((value) => String(value))
  .refine((value) => /^\d{1,3}(\.\d{1,4})?$/.test(value), 'at most 4 decimal places')
  .refine((value) => Number(value) > 0 && Number(value) <= 100, 'between 0 (exclusive) and 100');

export const BillingSettingsInputSchema = z
  .object({
    drift_threshold_pct: ThresholdSchema.openapi({
      description: `Publish billing.drift_detected.v1 when |drift_pct| reaches this. Default ${DEFAULT_DRIFT_THRESHOLD_PCT}.`,
      example: '5',
    }),
  })
  .strict()
  .openapi('BillingSettingsInput');

export const BillingSettingsSchema = z
  .object({ drift_threshold_pct: z.string().openapi({ example: '5' }), updated_at: z.string().nullable() })
  .openapi('BillingSettings');
export type BillingSettings = z.infer<typeof BillingSettingsSchema>;
