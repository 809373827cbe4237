import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullAnthropicCosts, pullAnthropicUsage } from '../../shared/billing/anthropic.js';
import type { BilledCostLine, BilledUsageLine } from '../../shared/billing/lines.js';
import { pullOpenAICosts, pullOpenAIUsage } from '../../shared/billing/openai.js';
import { type FakeProviders, startFakeProviders } from '../helpers/fake-providers.js';

/** The provider clients on their own, against the fake servers: what they make of odd but valid answers. */
const DAY = 86_400;
const start = Date.parse('2026-11-01T00:00:00Z') / 1000;
const window = { startTime: start, endTime: start + 3 * DAY };
const http = { timeoutMs: 1000, maxRetries: 1, retryBaseMs: 5, maxRetryAfterSeconds: 5 };

let fake: FakeProviders;
beforeAll(async () => {
  fake = await startFakeProviders();
});
afterAll(() => fake.close());

const costRow = (value: unknown, lineItem: string | null, extra: Record<string, unknown> = {}) => ({
  object: 'organization.costs.result',
  amount: { value, currency: 'usd' },
  line_item: lineItem,
  project_id: 'proj_abc',
  quantity: null,
  quantity_unit: null,
  ...extra,
});

describe('tolerant parsing of OpenAI costs', () => {
  it('reads amounts given as numbers or decimal strings exactly, and ignores unknown fields', async () => {
    fake.setDay('openai', 'costs', '2026-11-01', [
      costRow(0.0558, 'gpt-4o-mini-2024-07-18, input', { organization_id: 'org-1', project_name: 'A' }),
      costRow('0.123456789012345678901234567890123456789', 'gpt-4o-2024-08-06, output'),
      costRow('0E-6176', 'gpt-4o-2024-08-06, cached input'),
      costRow(0.1, 'web search tool calls'),
      costRow(0.2, 'web search tool calls', { project_id: 'proj_xyz' }),
    ]);
    const days = await pullOpenAICosts(fake.openaiUrl, fake.openaiKey, window, http);
    expect(days.map((day) => [day.day, day.lines.length])).toEqual([
      ['2026-11-01', 5],
      ['2026-11-02', 0],
      ['2026-11-03', 0],
    ]);
    const lines = days[0]?.lines as BilledCostLine[];
    expect(lines.map((line) => [line.model, line.token_type, line.amount.toFixed()])).toEqual([
      ['gpt-4o-mini-2024-07-18', 'input', '0.0558'],
      ['gpt-4o-2024-08-06', 'output', '0.123456789012345678901234567890123456789'],
      ['gpt-4o-2024-08-06', 'cached_input', '0'],
      [null, null, '0.1'],
      [null, null, '0.2'],
    ]);
    expect(lines[0]).toMatchObject({
      currency: 'USD',
      project: 'proj_abc',
      line_item: 'gpt-4o-mini-2024-07-18, input',
    });
  });

  it('refuses an unreadable amount rather than store a partial bill', async () => {
    fake.setDay('openai', 'costs', '2026-11-02', [costRow('twelve dollars', 'gpt-4o-2024-08-06, input')]);
    await expect(pullOpenAICosts(fake.openaiUrl, fake.openaiKey, window, http)).rejects.toThrow(
      /openai\.costs: 2026-11-02 row 0: amount\.value: not an amount/,
    );
    fake.setDay('openai', 'costs', '2026-11-02', []);
  });
});

describe('the currency of a bill', () => {
  it('takes usd in any case, or none, as USD, and refuses another currency rather than sum it as dollars', async () => {
    fake.setDay('openai', 'costs', '2026-11-01', [
      costRow('1.5', 'gpt-4o-2024-08-06, input'),
      { ...costRow('2', 'gpt-4o-2024-08-06, output'), amount: { value: '2' } },
    ]);
    const [day] = await pullOpenAICosts(fake.openaiUrl, fake.openaiKey, window, http);
    expect(((day?.lines ?? []) as BilledCostLine[]).map((line) => line.currency)).toEqual(['USD', 'USD']);

    fake.setDay('openai', 'costs', '2026-11-02', [
      { ...costRow('3', 'gpt-4o-2024-08-06, input'), amount: { value: '3', currency: 'eur' } },
    ]);
    await expect(pullOpenAICosts(fake.openaiUrl, fake.openaiKey, window, http)).rejects.toThrow(
      /openai\.costs: 2026-11-02 row 0: amount\.currency: billed in EUR: Tollgate reconciles bills in USD only/,
    );
    fake.setDay('openai', 'costs', '2026-11-01', []);
    fake.setDay('openai', 'costs', '2026-11-02', []);

    fake.setDay('anthropic', 'cost_report', '2026-11-03', [
      {
        amount: '100',
        currency: 'GBP',
        description: 'Claude Usage',
        cost_type: 'tokens',
        model: 'claude-opus-5',
      },
    ]);
    await expect(pullAnthropicCosts(fake.anthropicUrl, fake.anthropicKey, window, http)).rejects.toThrow(
      /2026-11-03 row 0: currency: billed in GBP: Tollgate reconciles bills in USD only/,
    );
    fake.setDay('anthropic', 'cost_report', '2026-11-03', []);
  });
});

describe('tolerant parsing of OpenAI usage', () => {
  it('maps completions into disjoint buckets, with or without input_uncached_tokens, and embeddings', async () => {
    fake.setDay('openai', 'usage/completions', '2026-11-01', [
      {
        object: 'organization.usage.completions.result',
        input_tokens: 1000,
        input_cached_tokens: 400,
        input_cache_write_tokens: 100,
        input_uncached_tokens: 500,
        output_tokens: 500,
        num_model_requests: 5,
        model: 'gpt-4o-2024-08-06',
        project_id: null,
        some_new_field: { nested: true },
      },
      // An older row: no cache-write or uncached fields.
      {
        object: 'organization.usage.completions.result',
        input_tokens: 300,
        input_cached_tokens: 100,
        output_tokens: '20',
        num_model_requests: 2,
        model: 'gpt-4o-mini',
      },
    ]);
    fake.setDay('openai', 'usage/embeddings', '2026-11-02', [
      {
        object: 'organization.usage.embeddings.result',
        input_tokens: 20,
        num_model_requests: 2,
        model: 'text-embedding-3-small',
      },
    ]);
    const days = await pullOpenAIUsage(fake.openaiUrl, fake.openaiKey, window, http);
    const completions = days.find(
      (day) => day.source === 'openai.usage.completions' && day.day === '2026-11-01',
    );
    expect(
      ((completions?.lines ?? []) as BilledUsageLine[]).map((line) => [
        line.model,
        line.tokens,
        line.requests,
      ]),
    ).toEqual([
      [
        'gpt-4o-2024-08-06',
        { input: 500, cached_input: 400, cache_write: 100, cache_write_1h: 0, output: 500 },
        5,
      ],
      ['gpt-4o-mini', { input: 200, cached_input: 100, cache_write: 0, cache_write_1h: 0, output: 20 }, 2],
    ]);
    const embeddings = days.find(
      (day) => day.source === 'openai.usage.embeddings' && day.day === '2026-11-02',
    );
    expect((embeddings?.lines[0] as BilledUsageLine | undefined)?.tokens.input).toBe(20);
  });
});

describe('tolerant parsing of Anthropic reports', () => {
  it('reads cost amounts as strings in cents, exactly', async () => {
    fake.setDay('anthropic', 'cost_report', '2026-11-01', [
      {
        amount: '123.78912',
        currency: 'USD',
        description: 'Claude Opus 5 Usage - Input Tokens',
        cost_type: 'tokens',
        model: 'claude-opus-5',
        service_tier: 'standard',
        token_type: 'uncached_input_tokens',
        context_window: '0-200k',
        inference_geo: 'global',
        workspace_id: 'wrkspc_1',
        brand_new_dimension: 'x',
      },
      {
        amount: '7',
        currency: 'USD',
        description: 'Code Execution Usage',
        cost_type: 'code_execution',
        model: 'claude-opus-5',
      },
    ]);
    const [first] = await pullAnthropicCosts(fake.anthropicUrl, fake.anthropicKey, window, http);
    const lines = first?.lines as BilledCostLine[];
    expect(lines.map((line) => [line.model, line.token_type, line.amount.toFixed(), line.line_item])).toEqual(
      [
        ['claude-opus-5', 'input', '1.2378912', 'Claude Opus 5 Usage - Input Tokens'],
        [null, null, '0.07', 'Code Execution Usage'],
      ],
    );
  });

  it('maps message usage, 5-minute and 1-hour cache writes apart', async () => {
    fake.setDay('anthropic', 'usage_report/messages', '2026-11-03', [
      {
        uncached_input_tokens: 1500,
        cache_creation: { ephemeral_1h_input_tokens: 1000, ephemeral_5m_input_tokens: 500 },
        cache_read_input_tokens: 200,
        output_tokens: 500,
        server_tool_use: { web_search_requests: 10 },
        model: 'claude-opus-4-6',
        workspace_id: null,
      },
    ]);
    const days = await pullAnthropicUsage(fake.anthropicUrl, fake.anthropicKey, window, http);
    expect(days.map((day) => day.day)).toEqual(['2026-11-01', '2026-11-02', '2026-11-03']);
    expect((days[2]?.lines[0] as BilledUsageLine | undefined)?.tokens).toEqual({
      input: 1500,
      cached_input: 200,
      cache_write: 500,
      cache_write_1h: 1000,
      output: 500,
    });
  });

  it('follows pages of one bucket each to the end', async () => {
    const server = await startFakeProviders();
    server.pageSize = 1;
    const days = await pullAnthropicUsage(server.anthropicUrl, server.anthropicKey, window, http);
    expect(days).toHaveLength(3);
    expect(server.requests.map((request) => request.query.get('page'))).toEqual([
      null,
      expect.stringMatching(/^page_/),
      expect.stringMatching(/^page_/),
    ]);
    await server.close();
  });
});
