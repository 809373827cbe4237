// From @hono/zod-openapi: zod 4 gives each schema its methods when it is made, so a schema the
// API documents (`.openapi()`) must be made after the OpenAPI extension is loaded.
import { z } from '@hono/zod-openapi';

/** A non-negative decimal in plain notation ("2.5", "0.075"): USD per 1M tokens. */
export const RateSchema = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a non-negative decimal string such as "2.5" (USD per 1M tokens)');

/**
 * USD per 1M tokens for each bucket of one tier. A missing `cached_input` or `cache_write` is
 * billed at `input`; a missing `cache_write_1h` at `cache_write` (then `input`); a missing
 * `reasoning` at `output`.
 */
export const TierRatesSchema = z.object({
  input: RateSchema,
  cached_input: RateSchema.optional(),
  cache_write: RateSchema.optional(),
  cache_write_1h: RateSchema.optional(),
  output: RateSchema,
  reasoning: RateSchema.optional(),
});
export type TierRates = z.infer<typeof TierRatesSchema>;

/** Every rate of a tier with the fallbacks applied: what a cost was actually computed with. */
export type ResolvedRates = Required<TierRates>;

export const PRICED_TIERS = ['batch', 'flex', 'priority'] as const;
export type PricedTier = (typeof PRICED_TIERS)[number];

export const TierTableSchema = z.object({
  batch: TierRatesSchema.optional(),
  flex: TierRatesSchema.optional(),
  priority: TierRatesSchema.optional(),
});
export type TierTable = z.infer<typeof TierTableSchema>;

/**
 * Above `threshold_tokens` prompt tokens the long-context rates apply to the whole request.
 * `tiers` holds long-context rates of the other service tiers where the provider publishes them.
 */
export const LongContextSchema = z.object({
  threshold_tokens: z.int().positive(),
  rates: TierRatesSchema,
  tiers: TierTableSchema.optional(),
});
export type LongContext = z.infer<typeof LongContextSchema>;

/** One effective-dated list price (or tenant override) of one model. */
export const ModelPriceSchema = z.object({
  /** Deterministic: `builtin:openai/gpt-4o@2024-05-13`, `override:<label>`, `<source>:<provider>/<model>@<date>`. */
  price_id: z.string().min(1),
  provider: z.string().min(1),
  model: z.string().min(1),
  effective_from: z.iso.datetime({ offset: true }),
  /** The provider's pricing page URL, or `litellm:<file label>` for a loaded price file. */
  source: z.string().min(1),
  rates: TierRatesSchema,
  tiers: TierTableSchema,
  long_context: LongContextSchema.optional(),
  /** For an override: the list price it was derived from. */
  base_price_id: z.string().optional(),
});
export type ModelPrice = z.infer<typeof ModelPriceSchema>;

/**
 * The one spelling an effective instant is kept and answered in: UTC, as every stored instant
 * (`2026-12-07T02:00:00+02:00` → `2026-12-07T00:00:00.000Z`), so one instant is one term of an
 * override and one version of a loaded price file.
 */
export function canonicalInstant(timestamp: string): string {
  return new Date(timestamp).toISOString();
}

const FIRST_INSTANT = Date.parse('0000-01-01T00:00:00.000Z');
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Whether the timestamp's instant is spelled in UTC with a four-digit year, as RFC 3339 needs:
 * an offset can push `9999-12-31T23:30:00-01:00` into the year 10000.
 */
export function hasCanonicalInstant(timestamp: string): boolean {
  const at = Date.parse(timestamp);
  return at >= FIRST_INSTANT && at <= LAST_INSTANT;
}

/**
 * When terms or prices take effect, as a request gives it: RFC 3339 with a zone, whose instant
 * has a four-digit year in UTC (the spelling it is kept in).
 */
export const EffectiveFromSchema = z.iso
  .datetime({ offset: true })
  // zod runs a refinement even when the format failed: the format's error is enough then.
  .refine(
    (at) => Number.isNaN(Date.parse(at)) || hasCanonicalInstant(at),
    'must fall within the years 0000 to 9999 in UTC',
  );

/** The deterministic id of a price: `<prefix>:<provider>/<model>@<date, or timestamp when not midnight UTC>`. */
export function priceId(prefix: string, provider: string, model: string, effectiveFrom: string): string {
  return `${prefix}:${provider}/${model}@${effectiveStamp(effectiveFrom)}`;
}

function effectiveStamp(effectiveFrom: string): string {
  const at = new Date(effectiveFrom);
  if (Number.isNaN(at.getTime())) return effectiveFrom;
  const iso = at.toISOString();
  if (iso.endsWith('T00:00:00.000Z')) return iso.slice(0, 10);
  return iso.endsWith('.000Z') ? `${iso.slice(0, 19)}Z` : iso;
}
