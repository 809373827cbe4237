import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toMoneyString, ZERO } from '../../../shared/money/money.js';
import { BUILTIN_PRICES } from '../../../shared/pricing/catalog.js';
import { COST_BUCKETS, computeCost } from '../../../shared/pricing/cost.js';
import { PriceBook } from '../../../shared/pricing/price-book.js';
import type { ModelPrice } from '../../../shared/pricing/types.js';
import { type CanonicalUsage, emptyUsage, type ServiceTier } from '../../../shared/usage/canonical.js';
import { mapProviderUsage } from '../../../shared/usage/provider-usage.js';

// Amounts in the comments are micro-dollars (µ$): tokens × USD-per-1M rate.

const book = new PriceBook([...BUILTIN_PRICES]);
const AT = new Date('2026-11-28T12:00:00Z');

function fixture(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../fixtures/providers/${path}`, import.meta.url), 'utf8'));
}

function priceOf(provider: string, model: string, at: Date = AT): ModelPrice {
  const price = book.priceAt(provider, model, at);
  if (!price) throw new Error(`no price for ${provider}/${model}`);
  return price;
}

/** Maps a provider payload and prices it: the whole path an ingested raw_usage event takes. */
function priceRaw(provider: string, model: string, raw: unknown, tier?: ServiceTier) {
  const mapped = mapProviderUsage(provider, raw);
  if (!mapped.ok) throw new Error(JSON.stringify(mapped.errors));
  const result = computeCost(
    mapped.usage,
    priceOf(provider, model),
    tier ?? mapped.service_tier ?? 'standard',
  );
  return { ...result, usage: mapped.usage, money: toMoneyString(result.cost) };
}

function usage(counts: Partial<CanonicalUsage>): CanonicalUsage {
  return { ...emptyUsage(), ...counts };
}

describe('every provider shape, priced to the micro-dollar', () => {
  it('OpenAI chat with cached and reasoning tokens (o4-mini)', () => {
    const priced = priceRaw(
      'openai',
      'o4-mini-2025-04-16',
      fixture('openai/chat_completion_usage_cached_reasoning.json'),
    );
    // input 258 × 1.1 = 283.8; cached 2048 × 0.275 = 563.2; output 58 × 4.4 = 255.2;
    // reasoning 1152 × 4.4 = 5068.8 → 6171 µ$
    expect(priced.money).toBe('0.00617100');
    expect(priced.breakdown.reasoning.toFixed()).toBe('0.0050688');
  });

  it('OpenAI Responses API (gpt-5, standard)', () => {
    const priced = priceRaw(
      'openai',
      'gpt-5-2025-08-07',
      fixture('openai/responses_cached_reasoning.json'),
      'standard',
    );
    // input 4000 × 1.25 = 5000; cached 8000 × 0.125 = 1000; output 3000 × 10 = 30000 → 36000 µ$
    expect(priced.money).toBe('0.03600000');
  });

  it('Anthropic with a cache read, a 5-minute write and a 1-hour write (Sonnet 4.5)', () => {
    const priced = priceRaw(
      'anthropic',
      'claude-sonnet-4-5-20250929',
      fixture('anthropic/message_cache_1h.json'),
    );
    // input 1200 × 3 = 3600; read 30000 × 0.3 = 9000; 5m write 2000 × 3.75 = 7500;
    // 1h write 3000 × 6 = 18000; output 800 × 15 = 12000 → 50100 µ$
    expect(priced.money).toBe('0.05010000');
    expect(priced.breakdown.cache_write_1h.toFixed()).toBe('0.018');
  });

  it('Gemini with thoughts and cached content (2.5 Flash)', () => {
    const priced = priceRaw('google', 'gemini-2.5-flash', fixture('google/generate_content_response.json'));
    // input 210 × 0.3 = 63; cached 1024 × 0.03 = 30.72; candidates 210 × 2.5 = 525;
    // thoughts 500 × 2.5 = 1250 → 1868.72 µ$
    expect(priced.money).toBe('0.00186872');
  });

  it('Gemini on Vertex AI, thinking billed as output', () => {
    const priced = priceRaw(
      'google',
      'gemini-2.5-flash',
      fixture('google/vertex_generate_content_response.json'),
    );
    // input 27 × 0.3 = 8.1; candidates 6 × 2.5 = 15; thoughts 194 × 2.5 = 485 → 508.1 µ$
    expect(priced.money).toBe('0.00050810');
  });

  it('Gemini with tool-use prompt tokens (2.5 Pro)', () => {
    const priced = priceRaw(
      'google',
      'models/gemini-2.5-pro',
      fixture('google/generate_content_tool_use.json'),
    );
    // input (5000 − 2000 + 300) × 1.25 = 4125; cached 2000 × 0.125 = 250; output 1000 × 10 = 10000 → 14375 µ$
    expect(priced.money).toBe('0.01437500');
  });

  it('Claude on Vertex AI, billed by Google', () => {
    const priced = priceRaw(
      'google',
      'claude-sonnet-4-5@20250929',
      fixture('google/vertex_claude_message.json'),
    );
    // input 500 × 3 = 1500; cached 4000 × 0.3 = 1200; output 120 × 15 = 1800 → 4500 µ$
    expect(priced.money).toBe('0.00450000');
  });

  it('Bedrock Converse with a cache read and write, through the US inference profile (+10%)', () => {
    const raw = fixture('bedrock/converse_response_cache.json');
    const priced = priceRaw('bedrock', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', raw);
    // input 12 × 3.3 = 39.6; read 8000 × 0.33 = 2640; write 1500 × 4.125 = 6187.5;
    // output 350 × 16.5 = 5775 → 14642.1 µ$
    expect(priced.money).toBe('0.01464210');
    // The in-region model id has no premium: 36 + 2400 + 5625 + 5250 = 13311 µ$
    expect(priceRaw('bedrock', 'anthropic.claude-sonnet-4-5-20250929-v1:0', raw).money).toBe('0.01331100');
  });

  it('Bedrock Converse with 5-minute and 1-hour cache writes (Haiku 4.5)', () => {
    const raw = fixture('bedrock/converse_response_cache_1h.json');
    const priced = priceRaw('bedrock', 'global.anthropic.claude-haiku-4-5-20251001-v1:0', raw);
    // input 100 × 1 = 100; read 20000 × 0.1 = 2000; 5m 1000 × 1.25 = 1250; 1h 3000 × 2 = 6000;
    // output 500 × 5 = 2500 → 11850 µ$
    expect(priced.money).toBe('0.01185000');
  });

  it('Mistral (Large, -latest)', () => {
    const priced = priceRaw(
      'mistral',
      'mistral-large-latest',
      fixture('mistral/chat_completion_response.json'),
    );
    // input 2000 × 0.5 = 1000; output 500 × 1.5 = 750 → 1750 µ$
    expect(priced.money).toBe('0.00175000');
  });

  it('Mistral cached tokens without a cache price are billed at the input rate', () => {
    const priced = priceRaw(
      'mistral',
      'mistral-small-latest',
      fixture('mistral/chat_completion_cached.json'),
    );
    // input 8000 × 0.06 = 480; cached 32000 × 0.06 = 1920; output 1500 × 0.18 = 270 → 2670 µ$
    expect(priced.money).toBe('0.00267000');
    expect(priced.rates_used.cached_input).toBe('0.06');
  });

  it('Azure OpenAI at its own price', () => {
    const priced = priceRaw(
      'azure',
      'gpt-4o-mini-2024-07-18',
      fixture('azure/chat_completion_response.json'),
    );
    // input 1976 × 0.165 = 326.04; cached 1024 × 0.075 = 76.8; output 400 × 0.66 = 264 → 666.84 µ$
    expect(priced.money).toBe('0.00066684');
  });
});

describe('service tiers', () => {
  it('batch: Anthropic batch results carry their tier and cost half', () => {
    const batch = fixture('anthropic/batch_result.json') as { result: { message: unknown } };
    const priced = priceRaw('anthropic', 'claude-sonnet-4-5-20250929', batch.result.message);
    // input 10000 × 1.5 = 15000; output 2000 × 7.5 = 15000 → 30000 µ$
    expect(priced.money).toBe('0.03000000');
  });

  it('batch: an OpenAI Batch API line at batch rates', () => {
    const line = fixture('openai/batch_output_line.json') as { response: { body: unknown } };
    const priced = priceRaw('openai', 'gpt-4o-mini-2024-07-18', line.response.body, 'batch');
    // input 22 × 0.075 = 1.65; output 2 × 0.3 = 0.6 → 2.25 µ$
    expect(priced.money).toBe('0.00000225');
  });

  it('flex: the Responses object reports it and gets gpt-5 flex rates', () => {
    const priced = priceRaw('openai', 'gpt-5-2025-08-07', fixture('openai/responses_cached_reasoning.json'));
    // input 4000 × 0.625 = 2500; cached 8000 × 0.0625 = 500; output 3000 × 5 = 15000 → 18000 µ$
    expect(priced.money).toBe('0.01800000');
    expect(priced.rates_used.input).toBe('0.625');
  });

  it('priority: gpt-4o priority rates', () => {
    const priced = priceRaw('openai', 'gpt-4o-2024-08-06', fixture('openai/chat_completion_priority.json'));
    // input 5904 × 4.25 = 25092; cached 4096 × 2.125 = 8704; output 1000 × 17 = 17000 → 50796 µ$
    expect(priced.money).toBe('0.05079600');
  });

  it('a tier the model does not offer is billed at standard rates', () => {
    const raw = fixture('openai/chat_completion_priority.json');
    const priced = priceRaw('openai', 'gpt-4o-2024-08-06', raw, 'flex');
    // input 5904 × 2.5 = 14760; cached 4096 × 1.25 = 5120; output 1000 × 10 = 10000 → 29880 µ$
    expect(priced.money).toBe('0.02988000');
  });
});

describe('long context', () => {
  const sonnet = priceOf('anthropic', 'claude-sonnet-4-5');

  it('above 200k prompt tokens the higher Sonnet 4.5 rates apply to the whole request', () => {
    const result = computeCost(
      usage({
        input_tokens: 150000,
        cached_input_tokens: 40000,
        cache_write_tokens: 10001,
        output_tokens: 2000,
      }),
      sonnet,
      'standard',
    );
    // prompt = 200001. input 150000 × 6 = 900000; read 40000 × 0.6 = 24000;
    // write 10001 × 7.5 = 75007.5; output 2000 × 22.5 = 45000 → 1044007.5 µ$
    expect(result.long_context).toBe(true);
    expect(toMoneyString(result.cost)).toBe('1.04400750');
  });

  it('exactly at the threshold the standard rates still apply', () => {
    const result = computeCost(
      usage({
        input_tokens: 150000,
        cached_input_tokens: 40000,
        cache_write_tokens: 10000,
        output_tokens: 2000,
      }),
      sonnet,
      'standard',
    );
    // prompt = 200000. 150000 × 3 = 450000; 40000 × 0.3 = 12000; 10000 × 3.75 = 37500;
    // 2000 × 15 = 30000 → 529500 µ$
    expect(result.long_context).toBe(false);
    expect(toMoneyString(result.cost)).toBe('0.52950000');
  });

  it('batch discounts stack on the long-context rates', () => {
    const result = computeCost(
      usage({
        input_tokens: 150000,
        cached_input_tokens: 40000,
        cache_write_tokens: 10001,
        output_tokens: 2000,
      }),
      sonnet,
      'batch',
    );
    // 150000 × 3 = 450000; 40000 × 0.3 = 12000; 10001 × 3.75 = 37503.75; 2000 × 11.25 = 22500 → 522003.75 µ$
    expect(toMoneyString(result.cost)).toBe('0.52200375');
  });

  it('Gemini 2.5 Pro counts cached content towards the threshold', () => {
    const priced = priceRaw('google', 'gemini-2.5-pro', {
      promptTokenCount: 210000,
      cachedContentTokenCount: 10000,
      candidatesTokenCount: 1000,
    });
    // uncached 200000 alone is not above 200k, the prompt of 210000 is:
    // 200000 × 2.5 = 500000; cached 10000 × 0.25 = 2500; output 1000 × 15 = 15000 → 517500 µ$
    expect(priced.long_context).toBe(true);
    expect(priced.money).toBe('0.51750000');
  });

  it('Gemini 2.5 Pro at 200k exactly stays on the standard rates', () => {
    const result = computeCost(
      usage({ input_tokens: 200000, output_tokens: 1000 }),
      priceOf('google', 'gemini-2.5-pro'),
      'standard',
    );
    // 200000 × 1.25 = 250000; 1000 × 10 = 10000 → 260000 µ$
    expect(toMoneyString(result.cost)).toBe('0.26000000');
  });

  it('a tier with its own long-context rates uses them (Gemini 3 Pro priority)', () => {
    const result = computeCost(
      usage({ input_tokens: 210000, output_tokens: 1000 }),
      priceOf('google', 'gemini-3-pro-preview'),
      'priority',
    );
    // 210000 × 7.2 = 1512000; 1000 × 32.4 = 32400 → 1544400 µ$
    expect(toMoneyString(result.cost)).toBe('1.54440000');
  });

  it('a tier without long-context rates falls back to the standard long-context rates (gpt-5.4 priority)', () => {
    const result = computeCost(
      usage({ input_tokens: 300000, output_tokens: 1000 }),
      priceOf('openai', 'gpt-5.4'),
      'priority',
    );
    // threshold 272k: 300000 × 5 = 1500000; 1000 × 22.5 = 22500 → 1522500 µ$
    expect(result.rates_used.input).toBe('5');
    expect(toMoneyString(result.cost)).toBe('1.52250000');
  });
});

describe('double-counting traps', () => {
  it("OpenAI's prompt_tokens already includes the cached tokens", () => {
    const raw = fixture('openai/chat_completion_usage_cached_reasoning.json');
    const priced = priceRaw('openai', 'o4-mini', raw);
    expect(priced.usage.input_tokens + priced.usage.cached_input_tokens).toBe(2306);
    // Correct: 258 × 1.1 + 2048 × 0.275 + 1210 × 4.4 = 283.8 + 563.2 + 5324 = 6171 µ$.
    // Billing all 2306 prompt tokens at 1.1 and the 2048 cached again would give 8423.8 µ$.
    expect(priced.money).toBe('0.00617100');
  });

  it("Anthropic's input_tokens excludes cache reads and writes, which are added, not subtracted", () => {
    const priced = priceRaw(
      'anthropic',
      'claude-sonnet-4-5-20250929',
      fixture('anthropic/message_response.json'),
    );
    expect(priced.usage.input_tokens).toBe(12);
    // input 12 × 3 = 36; read 8000 × 0.3 = 2400; write 1500 × 3.75 = 5625; output 350 × 15 = 5250 → 13311 µ$.
    // Ignoring the cache fields (as if input_tokens were the whole prompt) would give 5286 µ$.
    expect(priced.money).toBe('0.01331100');
  });

  it("Gemini's thoughts are not inside candidatesTokenCount and are still billed", () => {
    const priced = priceRaw(
      'google',
      'gemini-2.5-flash',
      fixture('google/vertex_generate_content_response.json'),
    );
    expect(priced.usage.output_tokens).toBe(200);
    // Billing candidates only would give 8.1 + 15 = 23.1 µ$; with the thoughts 508.1 µ$.
    expect(priced.money).toBe('0.00050810');
  });

  it("Bedrock's inputTokens excludes the cache, like Anthropic's", () => {
    const priced = priceRaw(
      'bedrock',
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
      fixture('bedrock/converse_response_cache.json'),
    );
    expect(priced.usage.input_tokens).toBe(12);
    expect(priced.money).toBe('0.01331100');
  });
});

describe('computeCost', () => {
  const custom: ModelPrice = {
    price_id: 'test:custom/m@2026-01-01',
    provider: 'custom',
    model: 'm',
    effective_from: '2026-01-01T00:00:00Z',
    source: 'test',
    rates: { input: '2', output: '10', cache_write: '2.5' },
    tiers: {},
  };

  it('bills reasoning at its own rate when the price has one, the rest of the output at the output rate', () => {
    const price = { ...custom, rates: { ...custom.rates, reasoning: '20' } };
    const result = computeCost(usage({ output_tokens: 1000, reasoning_tokens: 300 }), price, 'standard');
    // 700 × 10 = 7000; 300 × 20 = 6000 → 13000 µ$
    expect(toMoneyString(result.cost)).toBe('0.01300000');
  });

  it('bills cache reads and writes at the input rate, and 1-hour writes at the 5-minute rate, when missing', () => {
    const result = computeCost(
      usage({ cached_input_tokens: 1000, cache_write_tokens: 1000, cache_write_1h_tokens: 1000 }),
      custom,
      'standard',
    );
    // cached 1000 × 2 = 2000; 5m 1000 × 2.5 = 2500; 1h 1000 × 2.5 = 2500 → 7000 µ$
    expect(toMoneyString(result.cost)).toBe('0.00700000');
    expect(result.rates_used).toEqual({
      input: '2',
      cached_input: '2',
      cache_write: '2.5',
      cache_write_1h: '2.5',
      output: '10',
      reasoning: '10',
    });
  });

  it('does not round: the breakdown adds up to the exact cost', () => {
    const result = computeCost(
      usage({ cached_input_tokens: 1, output_tokens: 3 }),
      priceOf('openai', 'gpt-4o-mini'),
      'standard',
    );
    // cached 1 × 0.075 = 0.075; output 3 × 0.6 = 1.8 → 1.875 µ$
    expect(result.cost.toFixed()).toBe('0.000001875');
    const sum = COST_BUCKETS.reduce((total, bucket) => total.plus(result.breakdown[bucket]), ZERO);
    expect(sum.equals(result.cost)).toBe(true);
    // Rounded half-even only when formatted.
    expect(toMoneyString(result.cost)).toBe('0.00000188');
  });

  it('refuses invalid usage instead of producing a negative cost', () => {
    expect(() => computeCost(usage({ output_tokens: 1, reasoning_tokens: 2 }), custom, 'standard')).toThrow(
      RangeError,
    );
    expect(() => computeCost(usage({ input_tokens: -5 }), custom, 'standard')).toThrow(RangeError);
  });
});
