import { z } from '@hono/zod-openapi';
import { SETTLEMENTS } from '../budgets/schema.js';
import { dimensionsSchema, NameSchema, ProviderNameSchema } from '../dimensions/schema.js';
import { isDecimalString } from '../money/money.js';
import { SERVICE_TIERS } from './canonical.js';

const count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const DimensionsSchema = dimensionsSchema(0).openapi('Dimensions', {
  example: { feature: 'support-bot', customer: 'acme', team: 'cx' },
});

/** Canonical token counts; the buckets are disjoint. */
export const UsageCountsSchema = z
  .object({
    input_tokens: count.default(0).openapi({ description: 'Uncached input.' }),
    cached_input_tokens: count.default(0).openapi({ description: 'Cache reads.' }),
    cache_write_tokens: count.default(0).openapi({ description: 'Cache writes, 5-minute TTL.' }),
    cache_write_1h_tokens: count.default(0).openapi({ description: 'Cache writes, 1-hour TTL.' }),
    output_tokens: count.default(0).openapi({ description: 'Billed output, reasoning included.' }),
    reasoning_tokens: count.default(0).openapi({ description: 'Informational subset of output_tokens.' }),
  })
  .strict()
  .refine((usage) => usage.reasoning_tokens <= usage.output_tokens, {
    message: 'reasoning_tokens is part of output_tokens and cannot exceed it',
    path: ['reasoning_tokens'],
  })
  .openapi('UsageCounts');

const decimalAmount = z
  .string()
  .refine(
    (value) => isDecimalString(value) && !value.startsWith('-'),
    'a non-negative decimal string such as "0.0123"',
  );

export const EventTimestampSchema = z.iso
  .datetime({ offset: true, error: 'an RFC 3339 timestamp such as 2026-11-28T12:00:00Z' })
  .openapi({ example: '2026-11-28T12:00:00Z' });

export const EventIdSchema = z.string().min(1).max(128).openapi({ example: 'req_8f2c' });

export const UsageEventSchema = z
  .object({
    id: EventIdSchema.openapi({
      description: 'The idempotency key: the same id is counted once per tenant.',
    }),
    timestamp: EventTimestampSchema.optional().openapi({
      description: 'Default now; ≤ 5 min ahead, ≤ 35 days old.',
    }),
    provider: ProviderNameSchema.openapi({ example: 'openai' }),
    model: z.string().min(1).max(256).openapi({ example: 'gpt-4o-2024-08-06' }),
    usage: UsageCountsSchema.optional(),
    raw_usage: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: "The provider's own usage object, exactly as its API returned it." }),
    service_tier: z.enum(SERVICE_TIERS).optional().openapi({ description: 'Default standard.' }),
    request_count: z.int().min(1).max(1_000_000).default(1),
    dimensions: DimensionsSchema.default({}),
    cost: z
      .object({ amount: decimalAmount, currency: z.literal('USD') })
      .optional()
      .openapi({ description: "The caller's own figure, kept beside Tollgate's." }),
    reservation_id: z.string().min(1).max(128).optional(),
  })
  .refine((event) => (event.usage === undefined) !== (event.raw_usage === undefined), {
    message: 'give exactly one of "usage" (canonical counts) or "raw_usage" (the provider\'s own object)',
    path: ['usage'],
  })
  .openapi('UsageEvent');
export type UsageEvent = z.infer<typeof UsageEventSchema>;

export const OutcomeEventSchema = z
  .object({
    id: EventIdSchema,
    timestamp: EventTimestampSchema.optional(),
    name: NameSchema.openapi({ example: 'ticket_resolved' }),
    value: z
      .union([z.number().finite(), decimalAmount])
      .default(1)
      .openapi({ description: 'A count or an amount; a decimal string keeps it exact.', example: '129.00' }),
    dimensions: DimensionsSchema.default({}),
  })
  .openapi('OutcomeEvent');
export type OutcomeEvent = z.infer<typeof OutcomeEventSchema>;

export const ItemErrorSchema = z.object({ path: z.string(), message: z.string() });

export const IngestResultSchema = z
  .object({
    accepted: z.int(),
    duplicates: z.int(),
    rejected: z.array(
      z.object({ index: z.int(), id: z.string().nullable(), errors: z.array(ItemErrorSchema) }),
    ),
    results: z.array(
      z.object({
        index: z.int(),
        id: z.string().nullable(),
        status: z.enum(['accepted', 'duplicate', 'rejected']),
        cost: z.string().optional().openapi({ description: "Tollgate's cost, a decimal string in USD." }),
        priced: z.boolean().optional(),
        price_id: z.string().optional().openapi({ description: 'The price and version the cost used.' }),
        reservation: z
          .object({
            id: z.string(),
            status: z.enum(SETTLEMENTS),
          })
          .optional()
          .openapi({
            description:
              "For an event that names a `reservation_id`: `settled` (this request settled it: its hold is gone), `already_settled` (an earlier event did), `released`, `blocked` (that authorization reserved nothing), `not_found` (no such reservation for this tenant: check the id; a hold it meant stays until it expires) or `pending` (the rollup settles it). The event's usage is counted in every case.",
          }),
      }),
    ),
  })
  .openapi('IngestResult');
export type IngestResult = z.infer<typeof IngestResultSchema>;
