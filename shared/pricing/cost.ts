import { Decimal, parseDecimal, ZERO } from '../money/money.js';
import { type CanonicalUsage, promptTokens, type ServiceTier, usageErrors } from '../usage/canonical.js';
import type { ModelPrice, ResolvedRates, TierRates } from './types.js';

/** The priced buckets; disjoint, so the breakdown adds up to the cost. */
export const COST_BUCKETS = [
  'input',
  'cached_input',
  'cache_write',
  'cache_write_1h',
  'output',
  'reasoning',
] as const;
export type CostBucket = (typeof COST_BUCKETS)[number];

export interface CostResult {
  /** Exact USD, unrounded: round only when formatting (money.ts). */
  cost: Decimal;
  /** The per-1M rates actually applied, fallbacks filled in. */
  rates_used: ResolvedRates;
  /** Whether the prompt was above the long-context threshold, so those rates priced the whole request. */
  long_context: boolean;
  /**
   * Cost per bucket. `output` covers the non-reasoning output tokens and `reasoning` the reasoning
   * ones, so the buckets are disjoint and sum to `cost` even when both share one rate.
   */
  breakdown: Record<CostBucket, Decimal>;
}

const MILLION = new Decimal(1_000_000);

/**
 * The exact cost of one request. The tier's rates apply when the price has them, else the
 * standard rates (a tier the model does not offer cannot be billed differently). Above the
 * long-context threshold the long-context rates of that tier, or failing those its standard
 * long-context rates, apply to every bucket of the request, as Anthropic, Google and OpenAI bill it.
 */
export function computeCost(usage: CanonicalUsage, price: ModelPrice, tier: ServiceTier): CostResult {
  const problems = usageErrors(usage);
  if (problems.length > 0) {
    throw new RangeError(`invalid usage: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`);
  }
  const longContext =
    price.long_context !== undefined && promptTokens(usage) > price.long_context.threshold_tokens;
  const rates = resolveRates(selectRates(price, tier, longContext));
  const charge = (tokens: number, rate: string) =>
    new Decimal(tokens).times(parseDecimal(rate)).dividedBy(MILLION);

  const breakdown: Record<CostBucket, Decimal> = {
    input: charge(usage.input_tokens, rates.input),
    cached_input: charge(usage.cached_input_tokens, rates.cached_input),
    cache_write: charge(usage.cache_write_tokens, rates.cache_write),
    cache_write_1h: charge(usage.cache_write_1h_tokens, rates.cache_write_1h),
    output: charge(usage.output_tokens - usage.reasoning_tokens, rates.output),
    reasoning: charge(usage.reasoning_tokens, rates.reasoning),
  };
  const cost = COST_BUCKETS.reduce((sum, bucket) => sum.plus(breakdown[bucket]), ZERO);
  return { cost, rates_used: rates, long_context: longContext, breakdown };
}

/** The rates a request on `tier` is billed at, before per-bucket fallbacks. */
export function selectRates(price: ModelPrice, tier: ServiceTier, longContext: boolean): TierRates {
  if (longContext && price.long_context) {
    if (tier === 'standard') return price.long_context.rates;
    return price.long_context.tiers?.[tier] ?? price.long_context.rates;
  }
  if (tier === 'standard') return price.rates;
  return price.tiers[tier] ?? price.rates;
}

/** Fills the documented fallbacks: cached and cache writes at input, 1h writes at 5m writes, reasoning at output. */
export function resolveRates(rates: TierRates): ResolvedRates {
  const cacheWrite = rates.cache_write ?? rates.input;
  return {
    input: rates.input,
    cached_input: rates.cached_input ?? rates.input,
    cache_write: cacheWrite,
    cache_write_1h: rates.cache_write_1h ?? cacheWrite,
    output: rates.output,
    reasoning: rates.reasoning ?? rates.output,
  };
}

/**
 * What the cache reads saved: the cached tokens at the uncached input rate, minus what they cost.
 * Cache writes are not netted here: they are spend, counted in the cost.
 */
export function cacheSavings(usage: CanonicalUsage, result: CostResult): Decimal {
  return new Decimal(usage.cached_input_tokens)
    .times(parseDecimal(result.rates_used.input).minus(parseDecimal(result.rates_used.cached_input)))
    .dividedBy(MILLION);
}

/** The non-zero buckets of a cost, as exact decimal strings: what an event stores for exports. */
export function compactBreakdown(result: CostResult): Record<string, string> {
  return Object.fromEntries(
    COST_BUCKETS.filter((bucket) => !result.breakdown[bucket].isZero()).map((bucket) => [
      bucket,
      result.breakdown[bucket].toFixed(),
    ]),
  );
}
