import { describe, expect, it } from 'vitest';
import { toMoneyString } from '../../../shared/money/money.js';
import { BUILTIN_PRICES } from '../../../shared/pricing/catalog.js';
import { computeCost } from '../../../shared/pricing/cost.js';
import { applyOverride, PriceOverrideSchema } from '../../../shared/pricing/override.js';
import { PriceBook } from '../../../shared/pricing/price-book.js';
import type { ModelPrice } from '../../../shared/pricing/types.js';
import { emptyUsage } from '../../../shared/usage/canonical.js';

const book = new PriceBook([...BUILTIN_PRICES]);
const AT = new Date('2026-11-28T00:00:00Z');

function listPrice(provider: string, model: string): ModelPrice {
  const price = book.priceAt(provider, model, AT);
  if (!price) throw new Error(`no price for ${provider}/${model}`);
  return price;
}

const usage = { ...emptyUsage(), input_tokens: 1000, cached_input_tokens: 1000, output_tokens: 1000 };

describe('applyOverride', () => {
  it('takes a discount off every rate, tiers included', () => {
    const gpt4o = listPrice('openai', 'gpt-4o');
    const discounted = applyOverride(
      gpt4o,
      { effective_from: '2026-06-01T00:00:00Z', discount_pct: '20' },
      'acme-2026',
    );
    expect(discounted.rates).toEqual({ input: '2', cached_input: '1', output: '8' });
    expect(discounted.tiers.batch).toEqual({ input: '1', cached_input: '0.5', output: '4' });
    expect(discounted.tiers.priority).toEqual({ input: '3.4', cached_input: '1.7', output: '13.6' });
    // input 1000 × 2 = 2000; cached 1000 × 1 = 1000; output 1000 × 8 = 8000 → 11000 µ$ (list: 13750 µ$)
    expect(toMoneyString(computeCost(usage, discounted, 'standard').cost)).toBe('0.01100000');
  });

  it('discounts the long-context rates too', () => {
    const sonnet = listPrice('anthropic', 'claude-sonnet-4-5');
    const half = applyOverride(
      sonnet,
      { effective_from: '2026-01-01T00:00:00Z', discount_pct: '50' },
      'acme',
    );
    expect(half.long_context?.threshold_tokens).toBe(200_000);
    expect(half.long_context?.rates).toEqual({
      input: '3',
      cached_input: '0.3',
      cache_write: '3.75',
      cache_write_1h: '6',
      output: '11.25',
    });
    expect(half.long_context?.tiers?.batch?.output).toBe('5.625');
    const long = { ...emptyUsage(), input_tokens: 250000, output_tokens: 1000 };
    // 250000 × 3 = 750000; 1000 × 11.25 = 11250 → 761250 µ$
    expect(toMoneyString(computeCost(long, half, 'standard').cost)).toBe('0.76125000');
  });

  it('keeps discounts exact, without rounding', () => {
    const mini = listPrice('openai', 'gpt-4o-mini');
    const odd = applyOverride(mini, { effective_from: '2026-01-01T00:00:00Z', discount_pct: '12.5' }, 'acme');
    // 0.15 × 0.875 = 0.13125; 0.075 × 0.875 = 0.065625; 0.6 × 0.875 = 0.525
    expect(odd.rates).toEqual({ input: '0.13125', cached_input: '0.065625', output: '0.525' });
  });

  it('replaces explicit rates of the standard tier', () => {
    const gpt4o = listPrice('openai', 'gpt-4o');
    const negotiated = applyOverride(
      gpt4o,
      { effective_from: '2026-01-01T00:00:00Z', rates: { input: '2' } },
      'acme',
    );
    expect(negotiated.rates).toEqual({ input: '2', cached_input: '1.25', output: '10' });
    expect(negotiated.tiers).toEqual(gpt4o.tiers);
    // input 1000 × 2 = 2000; cached 1000 × 1.25 = 1250; output 1000 × 10 = 10000 → 13250 µ$
    expect(toMoneyString(computeCost(usage, negotiated, 'standard').cost)).toBe('0.01325000');
  });

  it('applies explicit rates after the discount, undiscounted', () => {
    const gpt4o = listPrice('openai', 'gpt-4o');
    const both = applyOverride(
      gpt4o,
      { effective_from: '2026-01-01T00:00:00Z', discount_pct: '10', rates: { output: '7' } },
      'acme',
    );
    // 2.5 × 0.9 = 2.25; 1.25 × 0.9 = 1.125; output replaced by 7
    expect(both.rates).toEqual({ input: '2.25', cached_input: '1.125', output: '7' });
  });

  it('marks the result as an override of the list price, in force from the later date', () => {
    const gpt4o = listPrice('openai', 'gpt-4o');
    const later = applyOverride(
      gpt4o,
      { effective_from: '2026-06-01T00:00:00Z', discount_pct: '5' },
      'ten_1/gpt-4o',
    );
    expect(later).toMatchObject({
      price_id: 'override:ten_1/gpt-4o',
      source: 'override:ten_1/gpt-4o',
      base_price_id: 'builtin:openai/gpt-4o@2024-10-02',
      provider: 'openai',
      model: 'gpt-4o',
      effective_from: '2026-06-01T00:00:00Z',
    });
    const earlier = applyOverride(gpt4o, { effective_from: '2020-01-01T00:00:00Z', discount_pct: '5' }, 'x');
    expect(earlier.effective_from).toBe(gpt4o.effective_from);
  });

  it('leaves the list price untouched', () => {
    const gpt4o = listPrice('openai', 'gpt-4o');
    const snapshot = JSON.stringify(gpt4o);
    applyOverride(
      gpt4o,
      { effective_from: '2026-01-01T00:00:00Z', discount_pct: '50', rates: { input: '1' } },
      'x',
    );
    expect(JSON.stringify(gpt4o)).toBe(snapshot);
  });
});

describe('PriceOverrideSchema', () => {
  it('accepts a discount, explicit rates, or both', () => {
    expect(
      PriceOverrideSchema.safeParse({ effective_from: '2026-01-01T00:00:00Z', discount_pct: '20' }).success,
    ).toBe(true);
    expect(
      PriceOverrideSchema.safeParse({
        effective_from: '2026-01-01T00:00:00Z',
        rates: { input: '1', output: '4' },
      }).success,
    ).toBe(true);
  });

  it.each([
    [{ effective_from: '2026-01-01T00:00:00Z' }, 'discount_pct'],
    [{ effective_from: '2026-01-01T00:00:00Z', rates: {} }, 'discount_pct'],
    [{ effective_from: '2026-01-01T00:00:00Z', discount_pct: '101' }, 'discount_pct'],
    [{ effective_from: '2026-01-01T00:00:00Z', discount_pct: '-5' }, 'discount_pct'],
    [{ effective_from: '2026-01-01T00:00:00Z', rates: { input: '-1' } }, 'rates.input'],
    [{ effective_from: '2026-01-01T00:00:00Z', rates: { inputs: '1' } }, 'rates'],
    [{ effective_from: 'tomorrow', discount_pct: '5' }, 'effective_from'],
  ])('rejects %j at %s', (input, path) => {
    const result = PriceOverrideSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toContain(path);
  });

  it.each(['abc', '', 'NaN', 'Infinity', '1.2.3', '--5', '1e3', ' 20'])(
    'rejects discount_pct %j as one issue, without throwing',
    (pct) => {
      const result = PriceOverrideSchema.safeParse({
        effective_from: '2026-01-01T00:00:00Z',
        discount_pct: pct,
      });
      expect(result.success).toBe(false);
      expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['discount_pct']);
    },
  );
});
