import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toDayLines } from '../../../shared/billing/buckets.js';
import { anthropicTokenType, parseOpenAILineItem } from '../../../shared/billing/lines.js';
import { readAllPages } from '../../../shared/billing/paging.js';
import { pullWindow } from '../../../shared/billing/pull.js';
import { Decimal } from '../../../shared/money/money.js';

describe("OpenAI's free-text line items", () => {
  it.each([
    ['gpt-4o-2024-08-06, input', 'gpt-4o-2024-08-06', 'input'],
    ['gpt-4o-mini-2024-07-18, cached input', 'gpt-4o-mini-2024-07-18', 'cached_input'],
    ['ft-gpt-4o-2024-08-06, output', 'ft-gpt-4o-2024-08-06', 'output'],
    ['evals | gpt-4o-mini-2024-07-18, input', 'gpt-4o-mini-2024-07-18', 'input'],
    ['gpt-4.1-2025-04-14, cache writes', 'gpt-4.1-2025-04-14', 'cache_write'],
    ['gpt-audio-mini-2025-12-15 audio, input', 'gpt-audio-mini-2025-12-15', 'input'],
    ['gpt-image-2-2026-04-21 image, output', 'gpt-image-2-2026-04-21', 'output'],
    ['text-embedding-3-small, input', 'text-embedding-3-small', 'input'],
  ])('reads %s as a model and a token bucket', (lineItem, model, tokenType) => {
    expect(parseOpenAILineItem(lineItem)).toEqual({ model, token_type: tokenType });
  });

  it.each([
    'web search tool calls',
    'assistants api | file search',
    'gpt-4o-2024-08-06, fine-tuning training',
    'code interpreter sessions, per session',
    null,
    '',
  ])('keeps %s as a charge of no model', (lineItem) => {
    expect(parseOpenAILineItem(lineItem)).toEqual({ model: null, token_type: null });
  });
});

describe("Anthropic's cost rows", () => {
  it('maps token types, and treats other cost types as charges of no model bucket', () => {
    expect(anthropicTokenType('tokens', 'uncached_input_tokens')).toBe('input');
    expect(anthropicTokenType('tokens', 'cache_read_input_tokens')).toBe('cached_input');
    expect(anthropicTokenType('tokens', 'cache_creation.ephemeral_5m_input_tokens')).toBe('cache_write');
    expect(anthropicTokenType('tokens', 'cache_creation.ephemeral_1h_input_tokens')).toBe('cache_write_1h');
    expect(anthropicTokenType('tokens', 'output_tokens')).toBe('output');
    expect(anthropicTokenType(null, 'output_tokens')).toBe('output');
    expect(anthropicTokenType('web_search', null)).toBeNull();
    expect(anthropicTokenType('code_execution', null)).toBeNull();
    expect(anthropicTokenType('tokens', 'some_future_tokens')).toBeNull();
  });
});

describe('the days a pull reads', () => {
  const now = new Date('2026-11-29T19:00:00Z');
  it('starts a new connection backfillDays back and ends after today', () => {
    expect(pullWindow(null, now, { backfillDays: 30, trailingDays: 3 })).toEqual({
      from: '2026-10-31',
      to: '2026-11-30',
      window: {
        startTime: Date.parse('2026-10-31T00:00:00Z') / 1000,
        endTime: Date.parse('2026-11-30T00:00:00Z') / 1000,
      },
    });
  });
  it('re-reads the trailing days before the cursor, and the whole gap after a failing stretch', () => {
    expect(pullWindow('2026-11-29', now, { backfillDays: 30, trailingDays: 3 }).from).toBe('2026-11-27');
    expect(pullWindow('2026-11-20', now, { backfillDays: 30, trailingDays: 3 }).from).toBe('2026-11-18');
  });
});

describe('day buckets', () => {
  it('merges a day split over two buckets and adds up rows of one identity', () => {
    const days = toDayLines(
      'openai.usage.embeddings',
      [
        // The first bucket starts at the requested instant, the second at the next midnight's eve.
        { start: Date.parse('2026-11-01T06:00:00Z'), day: '2026-11-01', results: [{ n: 1 }] },
        { start: Date.parse('2026-11-01T12:00:00Z'), day: '2026-11-01', results: [{ n: 2 }] },
        { start: Date.parse('2026-11-02T00:00:00Z'), day: '2026-11-02', results: [] },
      ],
      z.object({ n: z.int() }),
      (row, day) => ({
        kind: 'usage',
        source: 'openai.usage.embeddings',
        day,
        identity: 'same',
        model: 'm',
        project: null,
        tokens: { input: row.n, cached_input: 0, cache_write: 0, cache_write_1h: 0, output: 0 },
        requests: row.n,
      }),
    );
    expect(days).toHaveLength(2);
    expect(days[0]?.lines).toHaveLength(1);
    expect(days[0]?.lines[0]).toMatchObject({ tokens: { input: 3 }, requests: 3 });
    expect(days[1]).toEqual({ source: 'openai.usage.embeddings', day: '2026-11-02', lines: [] });
  });

  it('keeps one copy of a bucket served twice (the same start on two pages), the later one', () => {
    const midnight = Date.parse('2026-11-02T00:00:00Z');
    const days = toDayLines(
      'openai.costs',
      [
        { start: midnight - 86_400_000, day: '2026-11-01', results: [{ n: 1 }] },
        { start: midnight, day: '2026-11-02', results: [{ n: 4 }] },
        // The next page starts one bucket early: the provider's list shifted between the reads.
        { start: midnight, day: '2026-11-02', results: [{ n: 5 }] },
        { start: midnight + 86_400_000, day: '2026-11-03', results: [{ n: 7 }] },
      ],
      z.object({ n: z.int() }),
      (row, day) => ({
        kind: 'cost',
        source: 'openai.costs',
        day,
        identity: 'same',
        model: 'm',
        token_type: null,
        line_item: null,
        project: null,
        amount: new Decimal(row.n),
        currency: 'usd',
        quantity: null,
        quantity_unit: null,
      }),
    );
    expect(
      days.map((day) => [day.day, day.lines.map((line) => line.kind === 'cost' && line.amount.toNumber())]),
    ).toEqual([
      ['2026-11-01', [1]],
      ['2026-11-02', [5]],
      ['2026-11-03', [7]],
    ]);
  });
});

describe('paging', () => {
  const pages = (...bodies: unknown[]) => {
    const asked: (string | undefined)[] = [];
    const fetchPage = async (page: string | undefined) => {
      asked.push(page);
      return bodies[asked.length - 1];
    };
    return { asked, fetchPage };
  };

  it('follows next_page while has_more, and stops when a page claims more without a token', async () => {
    const { asked, fetchPage } = pages(
      { data: [1], has_more: true, next_page: 'a' },
      { data: [2], has_more: true, next_page: null },
      { data: [3], has_more: false, next_page: null },
    );
    expect(await readAllPages(fetchPage, 'test')).toEqual([1, 2]);
    expect(asked).toEqual([undefined, 'a']);
  });

  it('stops when a page repeats the token it was asked with', async () => {
    const { asked, fetchPage } = pages(
      { data: [1], has_more: true, next_page: 'a' },
      { data: [2], has_more: true, next_page: 'a' },
    );
    expect(await readAllPages(fetchPage, 'test')).toEqual([1, 2]);
    expect(asked).toEqual([undefined, 'a']);
  });

  it('refuses an answer that is not a page', async () => {
    const { fetchPage } = pages({ error: { message: 'nope' } });
    await expect(readAllPages(fetchPage, 'OpenAI costs')).rejects.toThrow(
      /OpenAI costs: the response is not a page/,
    );
  });
});
