import { z } from '@hono/zod-openapi';
import { SETTLEMENTS } from '../budgets/schema.js';
import { dimensionsSchema, NameSchema, ProviderNameSchema } from '../dimensions/schema.js';
import { isDecimalString, parseDecimal } from '../money/money.js';
import { SERVICE_TIERS } from './canonical.js';

/**
 * A billion tokens in one bucket of one event is past any model's context by far; bounded so that
 * the KPI sums of millions of events stay exact integers.
 */
const count = z.int().min(0).max(1_000_000_000);

/**
 * An event's `model` and `provider` are its own fields, and the KPIs group and filter by those: a
 * dimension of that name could never be read back.
 */
const EVENT_FIELD_KEYS = ['model', 'provider'];

export const DimensionsSchema = dimensionsSchema(0)
  .refine((dimensions) => !EVENT_FIELD_KEYS.some((key) => Object.hasOwn(dimensions, key)), {
    message: `"model" and "provider" are the event's own fields, not dimensions (KPIs group and filter by them as such)`,
  })
  .openapi('Dimensions', {
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

/**
 * Amounts the KPI cells add up exactly: up to 15 digits before the point and 20 after. Far past any
 * real figure, and well inside the exact arithmetic (50 significant digits) and the store's numbers.
 */
const MAX_AMOUNT = 1e15;
const decimalAmount = z
  .string()
  .refine(
    (value) => isDecimalString(value) && !value.startsWith('-'),
    'a non-negative decimal string such as "0.0123"',
  )
  .refine((value) => {
    if (!isDecimalString(value)) return true; // said above
    const amount = parseDecimal(value);
    return amount.lessThan(MAX_AMOUNT) && amount.decimalPlaces() <= 20;
  }, 'at most 15 digits before the decimal point and 20 after');

/**
 * RFC 3339 (§5.6) allows "t" and "z" in lower case and a leap second (`:60`); zod's check and
 * JavaScript's Date know neither. The letters are read as upper case, and a leap second as the
 * last millisecond of its minute: the latest instant a Date can hold before the next minute.
 */
function asDateReadable(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return value
    .replace(/^(\d{4}-\d{2}-\d{2})t/, '$1T')
    .replace(/z$/, 'Z')
    .replace(/^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}):60(?:\.\d+)?(?=Z$|[+-]\d{2}:\d{2}$)/, '$1:59.999');
}

export const EventTimestampSchema = z
  .preprocess(
    asDateReadable,
    z.iso.datetime({ offset: true, error: 'an RFC 3339 timestamp such as 2026-11-28T12:00:00Z' }),
  )
  .openapi({ type: 'string', format: 'date-time', example: '2026-11-28T12:00:00Z' });

/**
 * A provider's usage object is a few hundred bytes, two or three levels deep; `raw_usage` is kept
 * verbatim in the event's item, so it is bounded well below what the store can hold (400 KB an item,
 * 32 levels of nesting): an event that could never be stored is refused by itself, not retried for
 * ever with its whole batch.
 */
export const RAW_USAGE_MAX_BYTES = 16 * 1024;
export const RAW_USAGE_MAX_DEPTH = 16;

/** Why a `raw_usage` object cannot be kept, or undefined. Walks it without recursion (any depth). */
function rawUsageProblem(raw: Record<string, unknown>): string | undefined {
  const pending: [unknown, number][] = [[raw, 1]];
  while (pending.length > 0) {
    const [value, depth] = pending.pop() as [unknown, number];
    if (typeof value !== 'object' || value === null) continue;
    if (depth > RAW_USAGE_MAX_DEPTH) return `nested more than ${RAW_USAGE_MAX_DEPTH} levels deep`;
    for (const child of Object.values(value)) pending.push([child, depth + 1]);
  }
  if (Buffer.byteLength(JSON.stringify(raw)) > RAW_USAGE_MAX_BYTES)
    return `larger than ${RAW_USAGE_MAX_BYTES / 1024} KB as JSON; send the provider's usage object only`;
  return undefined;
}

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
      .superRefine((raw, context) => {
        const problem = rawUsageProblem(raw);
        if (problem) context.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .openapi({
        description: `The provider's own usage object, exactly as its API returned it (kept verbatim: at most ${RAW_USAGE_MAX_DEPTH} levels deep and ${RAW_USAGE_MAX_BYTES / 1024} KB as JSON).`,
      }),
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
      .union([z.number().finite().gt(-MAX_AMOUNT).lt(MAX_AMOUNT), decimalAmount])
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
