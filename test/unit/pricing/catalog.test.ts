import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../../shared/money/money.js';
import { BUILTIN_PRICES } from '../../../shared/pricing/catalog.js';
import { resolveRates } from '../../../shared/pricing/cost.js';
import { ModelPriceSchema, PRICED_TIERS, priceId, type TierRates } from '../../../shared/pricing/types.js';

const lte = (a: string, b: string) => parseDecimal(a).lte(parseDecimal(b));

describe('built-in catalog', () => {
  it('holds valid prices with unique, deterministic ids', () => {
    for (const price of BUILTIN_PRICES) {
      const result = ModelPriceSchema.safeParse(price);
      expect(result.success, `${price.price_id}: ${JSON.stringify(result.error?.issues)}`).toBe(true);
      expect(price.price_id).toBe(priceId('builtin', price.provider, price.model, price.effective_from));
      expect(price.source).toMatch(/^https:\/\//);
    }
    const ids = BUILTIN_PRICES.map((p) => p.price_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(BUILTIN_PRICES.length).toBeGreaterThanOrEqual(40);
    expect(BUILTIN_PRICES.length).toBeLessThanOrEqual(80);
  });

  it('covers the six providers', () => {
    const providers = new Set(BUILTIN_PRICES.map((p) => p.provider));
    expect([...providers].sort()).toEqual(['anthropic', 'azure', 'bedrock', 'google', 'mistral', 'openai']);
  });

  it('prices batch and flex at or below the standard rates and priority at or above them', () => {
    const check = (label: string, standard: TierRates, tier: TierRates, cheaper: boolean) => {
      const s = resolveRates(standard);
      const t = resolveRates(tier);
      for (const field of ['input', 'cached_input', 'output'] as const) {
        const ok = cheaper ? lte(t[field], s[field]) : lte(s[field], t[field]);
        expect(ok, `${label} ${field}: ${t[field]} vs standard ${s[field]}`).toBe(true);
      }
    };
    for (const price of BUILTIN_PRICES) {
      for (const tier of PRICED_TIERS) {
        const rates = price.tiers[tier];
        if (rates) check(`${price.price_id} ${tier}`, price.rates, rates, tier !== 'priority');
      }
    }
  });

  it('prices long context at or above the standard rates, and cache reads below input', () => {
    for (const price of BUILTIN_PRICES) {
      const standard = resolveRates(price.rates);
      expect(lte(standard.cached_input, standard.input), price.price_id).toBe(true);
      if (!price.long_context) continue;
      const long = resolveRates(price.long_context.rates);
      for (const field of ['input', 'cached_input', 'cache_write', 'output'] as const) {
        expect(lte(standard[field], long[field]), `${price.price_id} ${field}`).toBe(true);
      }
    }
  });

  it('carries the long-context tiers of Sonnet 4.5 and Gemini 2.5 Pro at 200k', () => {
    const sonnet = BUILTIN_PRICES.find((p) => p.provider === 'anthropic' && p.model === 'claude-sonnet-4-5');
    const gemini = BUILTIN_PRICES.find((p) => p.provider === 'google' && p.model === 'gemini-2.5-pro');
    expect(sonnet?.long_context?.threshold_tokens).toBe(200_000);
    expect(sonnet?.rates.cache_write_1h).toBe('6');
    expect(gemini?.long_context?.rates).toEqual({ input: '2.5', cached_input: '0.25', output: '15' });
  });

  it('has at least one model with a price history', () => {
    const counts = new Map<string, number>();
    for (const p of BUILTIN_PRICES)
      counts.set(`${p.provider}/${p.model}`, (counts.get(`${p.provider}/${p.model}`) ?? 0) + 1);
    expect(counts.get('openai/gpt-4o')).toBe(2);
    expect(counts.get('openai/o3')).toBe(2);
  });
});
