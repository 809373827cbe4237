// From @hono/zod-openapi: zod 4 gives each schema its methods when it is made, so a schema the
// API documents (`.openapi()`) must be made after the OpenAPI extension is loaded.
import { z } from '@hono/zod-openapi';
import { Decimal, parseDecimal, toDecimalString } from '../money/money.js';
import {
  EffectiveFromSchema,
  type LongContext,
  type ModelPrice,
  RateSchema,
  type TierRates,
  type TierTable,
} from './types.js';

const PERCENT = /^\d+(\.\d+)?$/;

/** A tenant's negotiated price for one model: a percentage off the list price, explicit rates, or both. */
export const PriceOverrideSchema = z
  .object({
    effective_from: EffectiveFromSchema,
    discount_pct: z
      .string()
      .regex(PERCENT, 'must be a decimal string such as "20"')
      // zod runs a refinement even when the regex failed: compare only what is a decimal.
      .refine((pct) => !PERCENT.test(pct) || parseDecimal(pct).lte(100), 'must be at most 100')
      .optional(),
    rates: z
      .object({
        input: RateSchema.optional(),
        cached_input: RateSchema.optional(),
        cache_write: RateSchema.optional(),
        cache_write_1h: RateSchema.optional(),
        output: RateSchema.optional(),
        reasoning: RateSchema.optional(),
      })
      .strict()
      .optional(),
  })
  .refine((o) => o.discount_pct !== undefined || (o.rates !== undefined && Object.keys(o.rates).length > 0), {
    error: 'give discount_pct, rates, or both',
    path: ['discount_pct'],
  });
export type PriceOverride = z.infer<typeof PriceOverrideSchema>;

/**
 * The list price with the tenant's terms applied. The discount scales every rate (all tiers and
 * the long-context rates too) by (1 − pct/100), exactly; explicit rates then replace those fields
 * of the standard rates only and are not discounted again. The result is in force from the later
 * of the two dates, carries `override:<overrideId>` as its id and source, and remembers the list
 * price it came from.
 */
export function applyOverride(price: ModelPrice, override: PriceOverride, overrideId: string): ModelPrice {
  const factor =
    override.discount_pct === undefined
      ? undefined
      : new Decimal(1).minus(parseDecimal(override.discount_pct).dividedBy(100));
  const scale = (rates: TierRates): TierRates => (factor ? scaleRates(rates, factor) : { ...rates });

  const tiers: TierTable = {};
  for (const [tier, rates] of Object.entries(price.tiers) as [keyof TierTable, TierRates | undefined][]) {
    if (rates) tiers[tier] = scale(rates);
  }
  let longContext: LongContext | undefined;
  if (price.long_context) {
    longContext = {
      threshold_tokens: price.long_context.threshold_tokens,
      rates: scale(price.long_context.rates),
    };
    if (price.long_context.tiers) {
      const longTiers: TierTable = {};
      for (const [tier, rates] of Object.entries(price.long_context.tiers) as [
        keyof TierTable,
        TierRates | undefined,
      ][]) {
        if (rates) longTiers[tier] = scale(rates);
      }
      longContext.tiers = longTiers;
    }
  }

  const explicit = Object.fromEntries(
    Object.entries(override.rates ?? {}).filter(([, value]) => value !== undefined),
  ) as Partial<TierRates>;
  const id = `override:${overrideId}`;
  return {
    price_id: id,
    provider: price.provider,
    model: price.model,
    effective_from: laterOf(price.effective_from, override.effective_from),
    source: id,
    rates: { ...scale(price.rates), ...explicit },
    tiers,
    ...(longContext ? { long_context: longContext } : {}),
    base_price_id: price.price_id,
  };
}

function scaleRates(rates: TierRates, factor: Decimal): TierRates {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(rates)) {
    if (value !== undefined) out[field] = toDecimalString(parseDecimal(value).times(factor));
  }
  return out as TierRates;
}

function laterOf(a: string, b: string): string {
  return Date.parse(a) >= Date.parse(b) ? a : b;
}
