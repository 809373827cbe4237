import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { emptyUsage } from '../../../shared/usage/canonical.js';
import { mapProviderUsage, type ProviderUsageResult } from '../../../shared/usage/provider-usage.js';

function fixture(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../fixtures/providers/${path}`, import.meta.url), 'utf8'));
}

function usageOf(result: ProviderUsageResult) {
  if (!result.ok) throw new Error(`expected a mapping, got ${JSON.stringify(result.errors)}`);
  return result;
}

function errorsOf(result: ProviderUsageResult) {
  if (result.ok) throw new Error(`expected errors, got ${JSON.stringify(result.usage)}`);
  return result.errors;
}

describe('OpenAI Chat Completions', () => {
  it('subtracts cached tokens from prompt_tokens, which includes them', () => {
    const raw = fixture('openai/chat_completion_usage_cached_reasoning.json');
    const result = usageOf(mapProviderUsage('openai', raw.usage));
    expect(result.format).toBe('openai.chat_completions');
    expect(result.usage).toEqual({
      input_tokens: 258, // 2306 prompt − 2048 cached
      cached_input_tokens: 2048,
      cache_write_tokens: 0,
      cache_write_1h_tokens: 0,
      output_tokens: 1210, // completion_tokens, reasoning included
      reasoning_tokens: 1152,
    });
  });

  it('takes the usage out of a whole response, with its service tier', () => {
    const result = usageOf(mapProviderUsage('openai', fixture('openai/chat_completion_priority.json')));
    expect(result.usage.input_tokens).toBe(10000 - 4096);
    expect(result.usage.cached_input_tokens).toBe(4096);
    expect(result.service_tier).toBe('priority');
  });

  it('reads "default" as the standard tier', () => {
    const result = usageOf(mapProviderUsage('openai', fixture('openai/chat_completion_response_spec.json')));
    expect(result.service_tier).toBe('standard');
    expect(result.usage).toEqual({ ...emptyUsage(), input_tokens: 19, output_tokens: 10 });
  });

  it('reads the final streaming chunk', () => {
    const result = usageOf(
      mapProviderUsage('openai', fixture('openai/chat_completion_stream_final_chunk.json')),
    );
    expect(result.usage).toEqual({ ...emptyUsage(), input_tokens: 19, output_tokens: 10 });
  });

  it('treats a prompt cache write as part of prompt_tokens too', () => {
    const result = usageOf(
      mapProviderUsage('openai', {
        prompt_tokens: 5000,
        completion_tokens: 10,
        prompt_tokens_details: { cached_tokens: 1000, cache_write_tokens: 3000 },
      }),
    );
    expect(result.usage).toMatchObject({
      input_tokens: 1000,
      cached_input_tokens: 1000,
      cache_write_tokens: 3000,
    });
  });

  it('accepts null and missing details as zero', () => {
    const result = usageOf(
      mapProviderUsage('openai', {
        prompt_tokens: 7,
        completion_tokens: 3,
        prompt_tokens_details: null,
        completion_tokens_details: { reasoning_tokens: null },
      }),
    );
    expect(result.usage).toEqual({ ...emptyUsage(), input_tokens: 7, output_tokens: 3 });
  });

  it('rejects cached tokens above prompt_tokens', () => {
    const errors = errorsOf(
      mapProviderUsage('openai', {
        prompt_tokens: 100,
        completion_tokens: 5,
        prompt_tokens_details: { cached_tokens: 101 },
      }),
    );
    expect(errors).toEqual([
      {
        path: 'prompt_tokens_details.cached_tokens',
        message:
          'cached_tokens (101) + cache_write_tokens (0) cannot exceed prompt_tokens (100), which includes them',
      },
    ]);
  });

  it('rejects reasoning tokens above completion_tokens', () => {
    const errors = errorsOf(
      mapProviderUsage('openai', {
        prompt_tokens: 100,
        completion_tokens: 5,
        completion_tokens_details: { reasoning_tokens: 6 },
      }),
    );
    expect(errors.map((e) => e.path)).toEqual(['completion_tokens_details.reasoning_tokens']);
  });

  it('rejects negative, fractional, textual and missing counts, each with its path', () => {
    const errors = errorsOf(
      mapProviderUsage('openai', {
        prompt_tokens: -1,
        completion_tokens: 2.5,
        prompt_tokens_details: { cached_tokens: '3' },
      }),
    );
    expect(errors).toEqual([
      { path: 'prompt_tokens', message: 'must be a non-negative integer' },
      { path: 'completion_tokens', message: 'must be a non-negative integer' },
      { path: 'prompt_tokens_details.cached_tokens', message: 'must be a non-negative integer' },
    ]);
    expect(errorsOf(mapProviderUsage('openai', { prompt_tokens: 3 }))).toEqual([
      { path: 'completion_tokens', message: 'is required' },
    ]);
  });

  it('rejects counts beyond a billion, and beyond the safe integer range', () => {
    expect(
      errorsOf(mapProviderUsage('openai', { prompt_tokens: 1_000_000_001, completion_tokens: 1 })),
    ).toEqual([{ path: 'prompt_tokens', message: 'must be at most 1,000,000,000' }]);
    expect(
      usageOf(mapProviderUsage('openai', { prompt_tokens: 1_000_000_000, completion_tokens: 1 })).usage,
    ).toMatchObject({ input_tokens: 1_000_000_000, output_tokens: 1 });
    const unsafe = errorsOf(mapProviderUsage('openai', { prompt_tokens: 2 ** 53, completion_tokens: 1 }));
    expect(unsafe.map((error) => error.path)).toContain('prompt_tokens');
  });

  it('ignores unknown fields', () => {
    const result = usageOf(
      mapProviderUsage('openai', {
        prompt_tokens: 10,
        completion_tokens: 2,
        total_tokens: 999, // totals are never trusted, so a wrong one is ignored too
        prompt_tokens_details: { audio_tokens: 4, image_tokens: 1 },
        future_field: { anything: true },
      }),
    );
    expect(result.usage).toEqual({ ...emptyUsage(), input_tokens: 10, output_tokens: 2 });
  });

  it('prefixes error paths when asked', () => {
    const errors = errorsOf(
      mapProviderUsage(
        'openai',
        { prompt_tokens: 1, completion_tokens: -2 },
        { path: 'events[3].raw_usage' },
      ),
    );
    expect(errors).toEqual([
      { path: 'events[3].raw_usage.completion_tokens', message: 'must be a non-negative integer' },
    ]);
  });

  it('refuses an Anthropic object sent as OpenAI rather than drop its cache tokens', () => {
    const errors = errorsOf(mapProviderUsage('openai', fixture('anthropic/message_response.json').usage));
    expect(errors[0]?.message).toMatch(/looks like an Anthropic usage object/);
  });

  it('refuses an object mixing Chat and Responses fields', () => {
    const errors = errorsOf(
      mapProviderUsage('openai', { prompt_tokens: 1, completion_tokens: 1, input_tokens: 1 }),
    );
    expect(errors[0]?.message).toMatch(/mixes the fields of two usage formats/);
  });
});

describe('OpenAI Responses API', () => {
  it('subtracts cached tokens from input_tokens and keeps reasoning inside output', () => {
    const raw = fixture('openai/responses_cached_reasoning.json');
    const result = usageOf(mapProviderUsage('openai', raw));
    expect(result.format).toBe('openai.responses');
    expect(result.service_tier).toBe('flex');
    expect(result.usage).toEqual({
      input_tokens: 4000, // 12000 − 8000 cached
      cached_input_tokens: 8000,
      cache_write_tokens: 0,
      cache_write_1h_tokens: 0,
      output_tokens: 3000,
      reasoning_tokens: 2000,
    });
  });

  it('maps the spec example', () => {
    const result = usageOf(mapProviderUsage('openai', fixture('openai/responses_usage_spec.json')));
    expect(result.usage).toEqual({ ...emptyUsage(), input_tokens: 36, output_tokens: 87 });
  });

  it('rejects cached plus cache writes above input_tokens', () => {
    const errors = errorsOf(
      mapProviderUsage('openai', {
        input_tokens: 10,
        output_tokens: 1,
        input_tokens_details: { cached_tokens: 6, cache_write_tokens: 5 },
      }),
    );
    expect(errors[0]).toEqual({
      path: 'input_tokens_details.cached_tokens',
      message:
        'cached_tokens (6) + cache_write_tokens (5) cannot exceed input_tokens (10), which includes them',
    });
  });
});

describe('Azure OpenAI', () => {
  it('reads the same Chat Completions object, ignoring content-filter fields', () => {
    const result = usageOf(mapProviderUsage('azure', fixture('azure/chat_completion_response.json')));
    expect(result.format).toBe('openai.chat_completions');
    expect(result.usage).toEqual({
      ...emptyUsage(),
      input_tokens: 1976,
      cached_input_tokens: 1024,
      output_tokens: 400,
    });
  });
});

describe('Anthropic Messages', () => {
  it('keeps input_tokens as the uncached input: cache reads and writes are beside it, not inside', () => {
    const result = usageOf(mapProviderUsage('anthropic', fixture('anthropic/message_response.json')));
    expect(result.format).toBe('anthropic.messages');
    expect(result.service_tier).toBe('standard');
    expect(result.usage).toEqual({
      input_tokens: 12, // not 12 − 9500: Anthropic's input_tokens excludes the cache
      cached_input_tokens: 8000,
      cache_write_tokens: 1500,
      cache_write_1h_tokens: 0,
      output_tokens: 350,
      reasoning_tokens: 0,
    });
  });

  it('splits cache writes by TTL', () => {
    const result = usageOf(mapProviderUsage('anthropic', fixture('anthropic/message_cache_1h.json').usage));
    expect(result.usage).toEqual({
      input_tokens: 1200,
      cached_input_tokens: 30000,
      cache_write_tokens: 2000,
      cache_write_1h_tokens: 3000,
      output_tokens: 800,
      reasoning_tokens: 0,
    });
  });

  it('puts all writes in the 5-minute bucket when the TTL split is absent', () => {
    const result = usageOf(
      mapProviderUsage('anthropic', { input_tokens: 5, output_tokens: 1, cache_creation_input_tokens: 700 }),
    );
    expect(result.usage).toMatchObject({ cache_write_tokens: 700, cache_write_1h_tokens: 0 });
  });

  it('reads the batch tier and null cache counts', () => {
    const batch = fixture('anthropic/batch_result.json') as { result: { message: unknown } };
    const result = usageOf(mapProviderUsage('anthropic', batch.result.message));
    expect(result.service_tier).toBe('batch');
    const nulls = usageOf(
      mapProviderUsage('anthropic', {
        input_tokens: 3,
        output_tokens: 4,
        cache_read_input_tokens: null,
        cache_creation_input_tokens: null,
      }),
    );
    expect(nulls.usage).toEqual({ ...emptyUsage(), input_tokens: 3, output_tokens: 4 });
  });

  it('reads thinking tokens as the reasoning subset of output', () => {
    const result = usageOf(
      mapProviderUsage('anthropic', {
        input_tokens: 5,
        output_tokens: 900,
        output_tokens_details: { thinking_tokens: 600 },
      }),
    );
    expect(result.usage).toMatchObject({ output_tokens: 900, reasoning_tokens: 600 });
  });

  it('rejects a TTL split that does not add up to cache_creation_input_tokens', () => {
    const errors = errorsOf(
      mapProviderUsage('anthropic', {
        input_tokens: 1,
        output_tokens: 1,
        cache_creation_input_tokens: 100,
        cache_creation: { ephemeral_5m_input_tokens: 60, ephemeral_1h_input_tokens: 30 },
      }),
    );
    expect(errors).toEqual([
      {
        path: 'cache_creation',
        message:
          'ephemeral_5m_input_tokens (60) + ephemeral_1h_input_tokens (30) must equal cache_creation_input_tokens (100)',
      },
    ]);
  });

  it('rejects thinking tokens above output_tokens', () => {
    const errors = errorsOf(
      mapProviderUsage('anthropic', {
        input_tokens: 1,
        output_tokens: 2,
        output_tokens_details: { thinking_tokens: 3 },
      }),
    );
    expect(errors.map((e) => e.path)).toEqual(['output_tokens_details.thinking_tokens']);
  });

  it('rejects a lone message_delta, which carries no input count', () => {
    expect(errorsOf(mapProviderUsage('anthropic', { output_tokens: 350 }))).toEqual([
      { path: 'input_tokens', message: 'is required' },
    ]);
  });

  it('refuses an OpenAI Responses object sent as Anthropic', () => {
    const errors = errorsOf(mapProviderUsage('anthropic', fixture('openai/responses_usage_spec.json').usage));
    expect(errors[0]?.message).toMatch(/looks like an OpenAI Responses usage object/);
  });

  it('reads the usage of a message_start event', () => {
    const start = fixture('anthropic/stream_message_start.json') as { message: unknown };
    const result = usageOf(mapProviderUsage('anthropic', start.message));
    expect(result.usage).toMatchObject({
      input_tokens: 12,
      cached_input_tokens: 8000,
      cache_write_tokens: 1500,
    });
  });
});

describe('Google Gemini usageMetadata', () => {
  it('subtracts cached content from the prompt and bills thoughts as output', () => {
    const result = usageOf(mapProviderUsage('google', fixture('google/generate_content_response.json')));
    expect(result.format).toBe('google.usage_metadata');
    expect(result.usage).toEqual({
      input_tokens: 210, // 1234 prompt − 1024 cached
      cached_input_tokens: 1024,
      cache_write_tokens: 0,
      cache_write_1h_tokens: 0,
      output_tokens: 710, // 210 candidates + 500 thoughts (candidates exclude thoughts)
      reasoning_tokens: 500,
    });
  });

  it('reads a Vertex AI response', () => {
    const result = usageOf(
      mapProviderUsage('google', fixture('google/vertex_generate_content_response.json')),
    );
    expect(result.usage).toEqual({
      ...emptyUsage(),
      input_tokens: 27,
      output_tokens: 200,
      reasoning_tokens: 194,
    });
  });

  it('adds tool-use prompt tokens to the input', () => {
    const raw = fixture('google/generate_content_tool_use.json');
    const result = usageOf(mapProviderUsage('google', raw.usageMetadata));
    expect(result.usage).toEqual({
      input_tokens: 3300, // 5000 − 2000 cached + 300 tool-use prompt
      cached_input_tokens: 2000,
      cache_write_tokens: 0,
      cache_write_1h_tokens: 0,
      output_tokens: 1000, // 400 + 600 thoughts
      reasoning_tokens: 600,
    });
  });

  it('accepts omitted zero counts', () => {
    const result = usageOf(mapProviderUsage('google', { promptTokenCount: 8 }));
    expect(result.usage).toEqual({ ...emptyUsage(), input_tokens: 8 });
  });

  it('rejects cached content above the prompt', () => {
    const errors = errorsOf(
      mapProviderUsage('google', { promptTokenCount: 10, cachedContentTokenCount: 11 }),
    );
    expect(errors).toEqual([
      {
        path: 'cachedContentTokenCount',
        message: 'cachedContentTokenCount (11) cannot exceed promptTokenCount (10), which includes it',
      },
    ]);
  });

  it('reads Claude on Vertex AI, which returns Anthropic usage', () => {
    const result = usageOf(mapProviderUsage('google', fixture('google/vertex_claude_message.json')));
    expect(result.format).toBe('anthropic.messages');
    expect(result.usage).toEqual({
      ...emptyUsage(),
      input_tokens: 500,
      cached_input_tokens: 4000,
      output_tokens: 120,
    });
  });
});

describe('Bedrock', () => {
  it('keeps Converse inputTokens as the uncached input', () => {
    const result = usageOf(mapProviderUsage('bedrock', fixture('bedrock/converse_response_cache.json')));
    expect(result.format).toBe('bedrock.converse');
    expect(result.usage).toEqual({
      input_tokens: 12,
      cached_input_tokens: 8000,
      cache_write_tokens: 1500,
      cache_write_1h_tokens: 0,
      output_tokens: 350,
      reasoning_tokens: 0,
    });
  });

  it('reads a Converse response without caching', () => {
    const result = usageOf(mapProviderUsage('bedrock', fixture('bedrock/converse_response.json')));
    expect(result.usage).toEqual({ ...emptyUsage(), input_tokens: 12, output_tokens: 350 });
  });

  it('splits cache writes by the TTLs in cacheDetails', () => {
    const result = usageOf(mapProviderUsage('bedrock', fixture('bedrock/converse_response_cache_1h.json')));
    expect(result.usage).toMatchObject({ cache_write_tokens: 1000, cache_write_1h_tokens: 3000 });
  });

  it('rejects cacheDetails that do not add up to cacheWriteInputTokens, and unknown TTLs', () => {
    const mismatch = errorsOf(
      mapProviderUsage('bedrock', {
        inputTokens: 1,
        outputTokens: 1,
        cacheWriteInputTokens: 10,
        cacheDetails: [{ ttl: '5m', inputTokens: 4 }],
      }),
    );
    expect(mismatch).toEqual([
      {
        path: 'cacheDetails',
        message: 'the cacheDetails inputTokens (4) must add up to cacheWriteInputTokens (10)',
      },
    ]);
    const ttl = errorsOf(
      mapProviderUsage('bedrock', {
        inputTokens: 1,
        outputTokens: 1,
        cacheDetails: [{ ttl: '2h', inputTokens: 4 }],
      }),
    );
    expect(ttl).toEqual([
      { path: 'cacheDetails[0].ttl', message: 'must be "5m" or "1h" (the cache TTLs Bedrock prices)' },
    ]);
  });

  it('reads InvokeModel stream invocation metrics', () => {
    const result = usageOf(
      mapProviderUsage('bedrock', fixture('bedrock/invoke_model_stream_invocation_metrics.json')),
    );
    expect(result.format).toBe('bedrock.invocation_metrics');
    expect(result.usage).toEqual({
      ...emptyUsage(),
      input_tokens: 3,
      output_tokens: 13,
      cache_write_tokens: 25037,
    });
  });

  it('reads the Anthropic usage in an InvokeModel body for Claude', () => {
    const result = usageOf(mapProviderUsage('bedrock', fixture('anthropic/message_cache_1h.json')));
    expect(result.format).toBe('anthropic.messages');
    expect(result.usage.cache_write_1h_tokens).toBe(3000);
  });
});

describe('Mistral', () => {
  it('reads prompt_tokens/completion_tokens', () => {
    const result = usageOf(mapProviderUsage('mistral', fixture('mistral/chat_completion_response.json')));
    expect(result.format).toBe('openai.chat_completions');
    expect(result.usage).toEqual({ ...emptyUsage(), input_tokens: 2000, output_tokens: 500 });
  });

  it('subtracts cached tokens from prompt_tokens', () => {
    const result = usageOf(mapProviderUsage('mistral', fixture('mistral/chat_completion_cached.json')));
    expect(result.usage).toEqual({
      ...emptyUsage(),
      input_tokens: 8000,
      cached_input_tokens: 32000,
      output_tokens: 1500,
    });
  });

  it('does not accept a Responses-style object', () => {
    expect(errorsOf(mapProviderUsage('mistral', { input_tokens: 1, output_tokens: 1 }))[0]?.message).toMatch(
      /not a recognised mistral usage object/,
    );
  });
});

describe('what cannot be mapped', () => {
  it('refuses providers without a known usage format', () => {
    const errors = errorsOf(mapProviderUsage('custom', { prompt_tokens: 1, completion_tokens: 1 }));
    expect(errors[0]?.message).toMatch(/not supported for provider "custom"/);
  });

  it.each([null, 42, 'usage', [1, 2]])('refuses %j, which is not an object', (raw) => {
    expect(errorsOf(mapProviderUsage('openai', raw))).toEqual([
      { path: '', message: 'must be a JSON object' },
    ]);
  });

  it('refuses an object of another provider', () => {
    const errors = errorsOf(mapProviderUsage('google', fixture('bedrock/converse_response.json')));
    expect(errors[0]?.message).toMatch(/not a recognised google usage object/);
  });

  it('reports errors inside an envelope under its key', () => {
    const errors = errorsOf(mapProviderUsage('bedrock', { usage: { inputTokens: 1, outputTokens: -1 } }));
    expect(errors).toEqual([{ path: 'usage.outputTokens', message: 'must be a non-negative integer' }]);
  });
});
