import { describe, expect, it } from 'vitest';
import { toMoneyString } from '../../../shared/money/money.js';
import { BUILTIN_PRICES } from '../../../shared/pricing/catalog.js';
import { computeCost } from '../../../shared/pricing/cost.js';
import { PriceBook } from '../../../shared/pricing/price-book.js';
import { type ModelPrice, priceId } from '../../../shared/pricing/types.js';
import { emptyUsage } from '../../../shared/usage/canonical.js';

const builtins = new PriceBook([...BUILTIN_PRICES]);

function entry(
  model: string,
  effectiveFrom: string,
  input: string,
  output: string,
  prefix = 'test',
  provider = 'openai',
): ModelPrice {
  return {
    price_id: priceId(prefix, provider, model, effectiveFrom),
    provider,
    model,
    effective_from: effectiveFrom,
    source: prefix,
    rates: { input, output },
    tiers: {},
  };
}

describe('effective dating', () => {
  const oneThousandEach = { ...emptyUsage(), input_tokens: 1000, output_tokens: 1000 };

  it('prices an o3 call before and after the June 2025 price cut', () => {
    const before = builtins.priceAt('openai', 'o3', new Date('2025-06-09T23:59:59.999Z'));
    const after = builtins.priceAt('openai', 'o3', new Date('2025-06-10T00:00:00Z'));
    expect(before?.price_id).toBe('builtin:openai/o3@2025-04-16');
    expect(after?.price_id).toBe('builtin:openai/o3@2025-06-10');
    if (!before || !after) throw new Error('unpriced');
    // before: 1000 × 10 + 1000 × 40 = 50000 µ$; after: 1000 × 2 + 1000 × 8 = 10000 µ$
    expect(toMoneyString(computeCost(oneThousandEach, before, 'standard').cost)).toBe('0.05000000');
    expect(toMoneyString(computeCost(oneThousandEach, after, 'standard').cost)).toBe('0.01000000');
  });

  it('moves a dated snapshot with its alias', () => {
    expect(builtins.priceAt('openai', 'o3-2025-04-16', new Date('2025-05-01T00:00:00Z'))?.rates.input).toBe(
      '10',
    );
    expect(builtins.priceAt('openai', 'o3-2025-04-16', new Date('2025-07-01T00:00:00Z'))?.rates.input).toBe(
      '2',
    );
  });

  it('has no price before the first one', () => {
    expect(builtins.priceAt('openai', 'o3', new Date('2025-04-15T23:59:59Z'))).toBeUndefined();
  });

  it('keeps the gpt-4o alias history', () => {
    expect(builtins.history('openai', 'gpt-4o').map((p) => p.price_id)).toEqual([
      'builtin:openai/gpt-4o@2024-05-13',
      'builtin:openai/gpt-4o@2024-10-02',
    ]);
    expect(builtins.priceAt('openai', 'gpt-4o', new Date('2024-09-01T00:00:00Z'))?.rates.input).toBe('5');
    expect(builtins.priceAt('openai', 'gpt-4o', new Date('2024-10-02T00:00:00Z'))?.rates.input).toBe('2.5');
  });

  it('lets the entry added last win a tie on effective_from', () => {
    const builtin = entry('gpt-x', '2026-01-01T00:00:00Z', '1', '2', 'builtin');
    const operator = entry('gpt-x', '2026-01-01T00:00:00Z', '0.9', '1.8', 'litellm:ops');
    const at = new Date('2026-02-01T00:00:00Z');
    expect(new PriceBook([builtin, operator]).priceAt('openai', 'gpt-x', at)?.price_id).toBe(
      'litellm:ops:openai/gpt-x@2026-01-01',
    );
    expect(new PriceBook([operator, builtin]).priceAt('openai', 'gpt-x', at)?.price_id).toBe(
      'builtin:openai/gpt-x@2026-01-01',
    );
    expect(new PriceBook([builtin]).extend([operator]).priceAt('openai', 'gpt-x', at)?.rates.input).toBe(
      '0.9',
    );
  });

  it('does not let a later-added but older price win over a newer one', () => {
    const newer = entry('gpt-x', '2026-03-01T00:00:00Z', '1', '2');
    const older = entry('gpt-x', '2026-01-01T00:00:00Z', '5', '6');
    const book = new PriceBook([newer, older]);
    expect(book.priceAt('openai', 'gpt-x', new Date('2026-04-01T00:00:00Z'))?.rates.input).toBe('1');
    expect(book.priceAt('openai', 'gpt-x', new Date('2026-02-01T00:00:00Z'))?.rates.input).toBe('5');
    expect(book.history('openai', 'gpt-x').map((p) => p.rates.input)).toEqual(['5', '1']);
  });

  it('compares instants, not strings, across offsets', () => {
    const book = new PriceBook([entry('gpt-x', '2026-01-01T02:00:00+02:00', '1', '2')]);
    expect(book.priceAt('openai', 'gpt-x', new Date('2026-01-01T00:00:00Z'))?.rates.input).toBe('1');
    expect(book.priceAt('openai', 'gpt-x', new Date('2025-12-31T23:59:59Z'))).toBeUndefined();
  });
});

describe('name resolution', () => {
  const at = new Date('2026-11-28T00:00:00Z');

  it('resolves snapshots, aliases and decorated names to their priced entry', () => {
    const cases: [string, string, string][] = [
      ['openai', 'gpt-4o-2024-08-06', 'gpt-4o'],
      ['openai', 'GPT-4o', 'gpt-4o'],
      ['anthropic', 'claude-3-5-sonnet-20241022', 'claude-3-5-sonnet'],
      ['anthropic', 'claude-3-5-sonnet-latest', 'claude-3-5-sonnet'],
      ['anthropic', 'claude-sonnet-4-5@20250929', 'claude-sonnet-4-5'],
      ['google', 'claude-sonnet-4-5@20250929', 'claude-sonnet-4-5'],
      ['google', 'models/gemini-2.5-pro', 'gemini-2.5-pro'],
      ['bedrock', 'anthropic.claude-3-5-sonnet-20241022-v2:0', 'anthropic.claude-3-5-sonnet'],
      ['bedrock', 'us.anthropic.claude-3-5-sonnet-20241022-v2:0', 'anthropic.claude-3-5-sonnet'],
      ['bedrock', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'us.anthropic.claude-sonnet-4-5'],
      ['bedrock', 'amazon.nova-pro-v1:0', 'amazon.nova-pro'],
    ];
    for (const [provider, model, priced] of cases) {
      expect(builtins.priceAt(provider, model, at)?.model, `${provider}/${model}`).toBe(priced);
      expect(builtins.resolve(provider, model), `${provider}/${model}`).toEqual({ provider, model: priced });
    }
  });

  it('keeps a snapshot that has its own price', () => {
    expect(builtins.priceAt('openai', 'gpt-4o-2024-05-13', at)?.rates).toEqual({ input: '5', output: '15' });
    expect(builtins.priceAt('openai', 'gpt-4o-2024-11-20', at)?.rates.input).toBe('2.5');
  });

  it('lets a snapshot priced only from some date fall back to its alias before that date', () => {
    const alias = entry('gpt-x', '2026-01-01T00:00:00Z', '1', '2');
    const snapshot = entry('gpt-x-2026-06-01', '2026-06-01T00:00:00Z', '3', '4');
    const book = new PriceBook([alias, snapshot]);
    expect(book.priceAt('openai', 'gpt-x-2026-06-01', new Date('2026-03-01T00:00:00Z'))?.model).toBe('gpt-x');
    expect(book.priceAt('openai', 'gpt-x-2026-06-01', new Date('2026-07-01T00:00:00Z'))?.model).toBe(
      'gpt-x-2026-06-01',
    );
  });

  it('does not price unknown models or other providers', () => {
    expect(builtins.priceAt('openai', 'gpt-99', at)).toBeUndefined();
    expect(builtins.priceAt('anthropic', 'gpt-4o', at)).toBeUndefined();
    expect(builtins.history('openai', 'gpt-99')).toEqual([]);
    expect(builtins.resolve('openai', 'gpt-99')).toBeUndefined();
  });
});

describe('Azure OpenAI', () => {
  const at = new Date('2026-11-28T00:00:00Z');

  it('uses the Azure price where there is one', () => {
    expect(builtins.priceAt('azure', 'gpt-4o-mini', at)?.price_id).toBe(
      'builtin:azure/gpt-4o-mini@2024-07-18',
    );
  });

  it("falls back to OpenAI's price for a model without an Azure entry, and says so in the price id", () => {
    expect(builtins.priceAt('azure', 'gpt-5.1-2025-11-13', at)?.price_id).toBe(
      'builtin:openai/gpt-5.1@2025-11-13',
    );
  });

  it('can be told not to fall back', () => {
    const strict = new PriceBook([...BUILTIN_PRICES], { azureFallsBackToOpenAI: false });
    expect(strict.priceAt('azure', 'gpt-5.1', at)).toBeUndefined();
    expect(strict.extend([]).priceAt('azure', 'gpt-5.1', at)).toBeUndefined();
  });
});

describe('construction', () => {
  it('refuses an entry with an invalid rate or date', () => {
    const bad = { ...entry('gpt-x', '2026-01-01T00:00:00Z', '1', '2'), rates: { input: '-1', output: '2' } };
    expect(() => new PriceBook([bad])).toThrow(/invalid price test:openai\/gpt-x@2026-01-01: rates.input/);
    const badDate = { ...entry('gpt-x', '2026-01-01T00:00:00Z', '1', '2'), effective_from: 'yesterday' };
    expect(() => new PriceBook([badDate])).toThrow(/effective_from/);
  });

  it('lists its entries in the order added', () => {
    const a = entry('a', '2026-01-01T00:00:00Z', '1', '2');
    const b = entry('b', '2025-01-01T00:00:00Z', '1', '2');
    expect(new PriceBook([a]).extend([b]).entries()).toEqual([a, b]);
  });
});
