import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toMoneyString } from '../../../shared/money/money.js';
import { BUILTIN_PRICES } from '../../../shared/pricing/catalog.js';
import { computeCost } from '../../../shared/pricing/cost.js';
import { mapLiteLLMProvider, parseLiteLLMPriceFile } from '../../../shared/pricing/litellm.js';
import { PriceBook } from '../../../shared/pricing/price-book.js';
import { type ModelPrice, ModelPriceSchema } from '../../../shared/pricing/types.js';
import { emptyUsage } from '../../../shared/usage/canonical.js';

const file: unknown = JSON.parse(
  readFileSync(new URL('../../fixtures/prices/litellm-small.json', import.meta.url), 'utf8'),
);
const options = { effectiveFrom: '2026-07-24T00:00:00Z', source: 'litellm:small' };
const { prices, skipped } = parseLiteLLMPriceFile(file, options);

function parsed(provider: string, model: string): ModelPrice {
  const price = prices.find((p) => p.provider === provider && p.model === model);
  if (!price)
    throw new Error(`${provider}/${model} not parsed; got ${prices.map((p) => `${p.provider}/${p.model}`)}`);
  return price;
}

function reasonFor(key: string): string | undefined {
  return skipped.find((s) => s.key === key)?.reason;
}

describe('parseLiteLLMPriceFile on a small file', () => {
  it('accounts for every key: priced or skipped with a reason', () => {
    expect(prices.map((p) => `${p.provider}/${p.model}`)).toEqual([
      'openai/gpt-4o',
      'openai/o4-mini',
      'openai/gpt-5.4',
      'anthropic/claude-sonnet-4-5',
      'google/gemini-2.5-pro',
      'azure/gpt-4o',
      'bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      'google/claude-sonnet-4-5@20250929',
      'mistral/mistral-large-latest',
      'mistral/codestral-latest',
      'deepseek/deepseek-chat',
      'dashscope/qwen-plus-2025-04-28',
    ]);
    expect(prices.length + skipped.length).toBe(Object.keys(file as object).length);
    for (const price of prices) expect(ModelPriceSchema.safeParse(price).success, price.price_id).toBe(true);
  });

  it('converts per-token floats to exact per-1M decimals', () => {
    // 1.1e-6 × 1e6 is 1.0999999999999999 in floating point.
    expect(parsed('openai', 'o4-mini').rates).toEqual({ input: '1.1', cached_input: '0.275', output: '4.4' });
    expect(parsed('openai', 'gpt-5.4').tiers.flex?.cached_input).toBe('0.13');
  });

  it('gives the price a deterministic id, source and date', () => {
    expect(parsed('openai', 'gpt-4o')).toMatchObject({
      price_id: 'litellm:small:openai/gpt-4o@2026-07-24',
      source: 'litellm:small',
      effective_from: '2026-07-24T00:00:00.000Z',
    });
  });

  it('reads batch and priority tiers; the priority cache price falls back key by key', () => {
    const gpt4o = parsed('openai', 'gpt-4o');
    expect(gpt4o.rates).toEqual({ input: '2.5', cached_input: '1.25', output: '10' });
    // No cache_read_input_token_cost_batches: LiteLLM halves the base cache price.
    expect(gpt4o.tiers.batch).toEqual({ input: '1.25', cached_input: '0.625', output: '5' });
    expect(gpt4o.tiers.priority).toEqual({ input: '4.25', cached_input: '2.125', output: '17' });
    expect(gpt4o.tiers.flex).toBeUndefined();
    expect(gpt4o.long_context).toBeUndefined();
  });

  it('reads flex tiers and a 272k long-context threshold', () => {
    const gpt54 = parsed('openai', 'gpt-5.4');
    expect(gpt54.tiers.flex).toEqual({ input: '1.25', cached_input: '0.13', output: '7.5' });
    expect(gpt54.long_context).toEqual({
      threshold_tokens: 272_000,
      rates: { input: '5', cached_input: '0.5', output: '22.5' },
      tiers: { batch: { input: '2.5', cached_input: '0.25', output: '11.25' } },
    });
  });

  it('reads 1-hour cache writes and their long-context price (Sonnet 4.5)', () => {
    const sonnet = parsed('anthropic', 'claude-sonnet-4-5');
    expect(sonnet.rates).toEqual({
      input: '3',
      cached_input: '0.3',
      cache_write: '3.75',
      cache_write_1h: '6',
      output: '15',
    });
    expect(sonnet.long_context?.rates).toEqual({
      input: '6',
      cached_input: '0.6',
      cache_write: '7.5',
      cache_write_1h: '12',
      output: '22.5',
    });
    // Anthropic entries carry no _batches keys: half of everything.
    expect(sonnet.tiers.batch).toEqual({
      input: '1.5',
      cached_input: '0.15',
      cache_write: '1.875',
      cache_write_1h: '3',
      output: '7.5',
    });
  });

  it('uses explicit batch prices where given and halves the rest', () => {
    const vertexClaude = parsed('google', 'claude-sonnet-4-5@20250929');
    expect(vertexClaude.tiers.batch).toEqual({
      input: '1.5',
      cached_input: '0.15',
      cache_write: '1.875',
      cache_write_1h: '3',
      output: '7.5',
    });
    // No 1-hour write price above 200k: the key falls back to the base 1-hour price.
    expect(vertexClaude.long_context?.rates.cache_write_1h).toBe('6');
  });

  it('strips provider prefixes and prefers the first-party API when two entries price the same model', () => {
    const gemini = parsed('google', 'gemini-2.5-pro');
    expect(gemini.long_context?.tiers?.priority).toEqual({
      input: '2.5',
      cached_input: '0.25',
      output: '15',
    });
    expect(reasonFor('gemini-2.5-pro')).toBe(
      'duplicate: "gemini/gemini-2.5-pro" also prices google/gemini-2.5-pro and is preferred',
    );
    // The free Codestral endpoint loses to Mistral's own API price.
    expect(parsed('mistral', 'codestral-latest').rates).toEqual({ input: '1', output: '3' });
    expect(reasonFor('codestral/codestral-latest')).toMatch(/^duplicate: "mistral\/codestral-latest"/);
  });

  it('maps cache-hit prices, free cache writes and other providers by their LiteLLM name', () => {
    expect(parsed('deepseek', 'deepseek-chat').rates).toEqual({
      input: '0.28',
      cached_input: '0.028',
      cache_write: '0',
      output: '0.42',
    });
  });

  it('keeps a reasoning price only where it differs from the output price', () => {
    expect(parsed('dashscope', 'qwen-plus-2025-04-28').rates).toEqual({
      input: '0.4',
      output: '1.2',
      reasoning: '4',
    });
    expect(parsed('dashscope', 'qwen-plus-2025-04-28').tiers.batch?.reasoning).toBeUndefined();
  });

  it.each([
    ['sample_spec', /documentation entry/],
    ['last_updated', /not a model entry/],
    ['text-embedding-3-small', /mode "embedding" is not priced per chat token/],
    ['dall-e-3', /mode "image_generation"/],
    ['dashscope/qwen-flash', /tiered_pricing is not supported/],
    ['azure/eu/gpt-4o-2024-08-06', /deployment-type-specific Azure price \("eu"\)/],
    [
      'bedrock/us-gov-west-1/anthropic.claude-3-7-sonnet-20250219-v1:0',
      /region- or commitment-specific Bedrock price/,
    ],
    ['example/broken-price', /"input_cost_per_token" is not a number/],
    ['example/negative-price', /"input_cost_per_token" is negative/],
    ['example/two-thresholds', /several long-context thresholds \(128k, 256k\)/],
    ['example/no-mode', /no mode/],
  ])('skips %s', (key, reason) => {
    expect(reasonFor(key)).toMatch(reason);
  });

  it('prices through a PriceBook where the loaded file overrides the built-ins from its date', () => {
    const book = new PriceBook([...BUILTIN_PRICES]).extend(prices);
    const usage = { ...emptyUsage(), input_tokens: 1000, output_tokens: 1000 };
    const before = book.priceAt('mistral', 'codestral-latest', new Date('2026-07-23T00:00:00Z'));
    const after = book.priceAt('mistral', 'codestral-latest', new Date('2026-07-24T00:00:00Z'));
    expect(before?.price_id).toBe('builtin:mistral/codestral-latest@2025-07-30');
    expect(after?.price_id).toBe('litellm:small:mistral/codestral-latest@2026-07-24');
    if (!before || !after) throw new Error('unpriced');
    // before: 1000 × 0.3 + 1000 × 0.9 = 1200 µ$; after: 1000 × 1 + 1000 × 3 = 4000 µ$
    expect(toMoneyString(computeCost(usage, before, 'standard').cost)).toBe('0.00120000');
    expect(toMoneyString(computeCost(usage, after, 'standard').cost)).toBe('0.00400000');
  });
});

describe('parseLiteLLMPriceFile input checks', () => {
  it('refuses a file that is not an object of entries', () => {
    expect(() => parseLiteLLMPriceFile([], options)).toThrow(RangeError);
    expect(() => parseLiteLLMPriceFile('{}', options)).toThrow(RangeError);
  });

  it('refuses an effectiveFrom that is not RFC 3339 with a zone, and an empty source', () => {
    expect(() => parseLiteLLMPriceFile({}, { ...options, effectiveFrom: 'July 24' })).toThrow(/RFC 3339/);
    expect(() => parseLiteLLMPriceFile({}, { ...options, effectiveFrom: '2026-07-24T00:00:00' })).toThrow(
      /RFC 3339/,
    );
    expect(() => parseLiteLLMPriceFile({}, { ...options, source: ' ' })).toThrow(/source/);
    // An offset that would push the instant past the four-digit years RFC 3339 has.
    expect(() =>
      parseLiteLLMPriceFile({}, { ...options, effectiveFrom: '9999-12-31T23:30:00-01:00' }),
    ).toThrow(/RFC 3339/);
  });

  it('keeps effective_from in UTC, so one instant is one version whatever its spelling', () => {
    const entry = {
      'gpt-x': {
        litellm_provider: 'openai',
        mode: 'chat',
        input_cost_per_token: 1e-6,
        output_cost_per_token: 2e-6,
      },
    };
    const spellings = ['2026-12-01T01:00:00+01:00', '2026-12-01T00:00:00Z', '2026-11-30T19:00:00.000-05:00'];
    for (const effectiveFrom of spellings) {
      const [price] = parseLiteLLMPriceFile(entry, { effectiveFrom, source: 'litellm:utc' }).prices;
      expect(price, effectiveFrom).toMatchObject({
        price_id: 'litellm:utc:openai/gpt-x@2026-12-01',
        effective_from: '2026-12-01T00:00:00.000Z',
      });
    }
  });

  it('dates ids by the full timestamp when the file is not effective at midnight UTC', () => {
    const result = parseLiteLLMPriceFile(
      {
        'gpt-x': {
          litellm_provider: 'openai',
          mode: 'responses',
          input_cost_per_token: 1e-6,
          output_cost_per_token: 2e-6,
        },
      },
      { effectiveFrom: '2026-07-24T12:30:00Z', source: 'litellm:noon' },
    );
    expect(result.prices[0]?.price_id).toBe('litellm:noon:openai/gpt-x@2026-07-24T12:30:00Z');
  });

  it('reads the tier variants of long-context prices', () => {
    const result = parseLiteLLMPriceFile(
      {
        'gemini/gemini-x': {
          litellm_provider: 'gemini',
          mode: 'chat',
          input_cost_per_token: 2e-6,
          output_cost_per_token: 1.2e-5,
          input_cost_per_token_priority: 3.6e-6,
          output_cost_per_token_priority: 2.16e-5,
          input_cost_per_token_above_200k_tokens: 4e-6,
          output_cost_per_token_above_200k_tokens: 1.8e-5,
          input_cost_per_token_above_200k_tokens_priority: 7.2e-6,
          output_cost_per_token_above_200k_tokens_priority: 3.24e-5,
        },
      },
      options,
    );
    expect(result.prices[0]?.long_context?.tiers?.priority).toEqual({ input: '7.2', output: '32.4' });
    expect(result.prices[0]?.tiers.priority).toEqual({ input: '3.6', output: '21.6' });
  });
});

describe('mapLiteLLMProvider', () => {
  it.each([
    ['openai', 'openai'],
    ['text-completion-openai', 'openai'],
    ['azure', 'azure'],
    ['azure_ai', 'azure'],
    ['anthropic', 'anthropic'],
    ['gemini', 'google'],
    ['vertex_ai-language-models', 'google'],
    ['vertex_ai-anthropic_models', 'google'],
    ['bedrock', 'bedrock'],
    ['bedrock_converse', 'bedrock'],
    ['mistral', 'mistral'],
    ['codestral', 'mistral'],
    ['xai', 'xai'],
  ])('%s → %s', (litellm, provider) => {
    expect(mapLiteLLMProvider(litellm)).toBe(provider);
  });
});
