import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loseFirstAnswer } from '../helpers/lost-answer.js';
import {
  createTestTollgate,
  OPERATOR_KEY,
  type TestResponse,
  type TestTollgate,
} from '../helpers/tollgate.js';

let tollgate: TestTollgate;
beforeAll(async () => {
  tollgate = await createTestTollgate();
});
afterAll(() => tollgate.cleanup());

const DAY = 24 * 60 * 60 * 1000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();

const usage = (id: string, timestamp: string, model = 'gpt-4o-mini', provider = 'openai') => ({
  id,
  timestamp,
  provider,
  model,
  usage: { input_tokens: 1000, output_tokens: 200 },
});

async function ingest(key: string, events: unknown[]) {
  const response = await tollgate.request('POST', '/v1/usage', { key, body: { events } });
  expect(response.status).toBe(202);
  return response.json();
}

describe('GET /v1/prices', () => {
  it('answers the price in force, resolving aliases and snapshots, at any time', async () => {
    const { key } = await tollgate.createTenant();
    const now = await (await tollgate.request('GET', '/v1/prices?model=gpt-4o-2024-08-06', { key })).json();
    expect(now).toMatchObject({
      price_id: 'builtin:openai/gpt-4o@2024-10-02',
      provider: 'openai',
      model: 'gpt-4o',
      effective_from: '2024-10-02T00:00:00Z',
      source: 'https://openai.com/api/pricing/',
      rates: { input: '2.5', cached_input: '1.25', output: '10' },
      tiers: { batch: { input: '1.25', output: '5' } },
    });
    const before = await (
      await tollgate.request('GET', '/v1/prices?model=gpt-4o&at=2024-06-01T00:00:00Z', { key })
    ).json();
    expect(before).toMatchObject({
      price_id: 'builtin:openai/gpt-4o@2024-05-13',
      rates: { input: '5', output: '15' },
    });

    const claude = await (
      await tollgate.request('GET', '/v1/prices?provider=anthropic&model=claude-sonnet-4-5-20250929', { key })
    ).json();
    expect(claude.long_context).toMatchObject({ threshold_tokens: 200000 });
    expect(claude.rates).toMatchObject({
      input: '3',
      output: '15',
      cached_input: '0.3',
      cache_write: '3.75',
      cache_write_1h: '6',
    });

    const unknown = await tollgate.request('GET', '/v1/prices?model=no-such-model', { key });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).code).toBe('PRICE_NOT_FOUND');
    expect((await tollgate.request('GET', '/v1/prices', { key })).status).toBe(400);
  });
});

describe('tenant overrides', () => {
  it('price events from their effective date on, and show in GET /v1/prices', async () => {
    const { key } = await tollgate.createTenant();
    const effectiveFrom = new Date(Date.now() - 2 * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const put = await tollgate.request('PUT', '/v1/prices/overrides/openai/gpt-4o-mini', {
      key,
      body: { effective_from: effectiveFrom, discount_pct: '20' },
    });
    expect(put.status).toBe(200);

    const result = await ingest(key, [usage('before', daysAgo(3)), usage('after', daysAgo(1))]);
    // List: 1000 × 0.15 + 200 × 0.60 = 270 µ$; 20% off: 216 µ$.
    expect(result.results.map((r: { cost: string }) => r.cost)).toEqual(['0.00027000', '0.00021600']);
    expect(result.results[1].price_id).toMatch(/^override:openai\/gpt-4o-mini@/);

    const price = await (await tollgate.request('GET', '/v1/prices?model=gpt-4o-mini', { key })).json();
    expect(price).toMatchObject({
      rates: { input: '0.12', output: '0.48' },
      base_price_id: 'builtin:openai/gpt-4o-mini@2024-07-18',
    });
    const listed = await (await tollgate.request('GET', '/v1/prices/overrides', { key })).json();
    expect(listed.data).toEqual([
      expect.objectContaining({ provider: 'openai', model: 'gpt-4o-mini', discount_pct: '20' }),
    ]);
  });

  it('are validated', async () => {
    const { key } = await tollgate.createTenant();
    for (const body of [
      {},
      { effective_from: 'yesterday', discount_pct: '10' },
      { effective_from: '2026-01-01T00:00:00Z', discount_pct: '120' },
      { effective_from: '2026-01-01T00:00:00Z', rates: { input: 'cheap' } },
    ]) {
      const response = await tollgate.request('PUT', '/v1/prices/overrides/openai/gpt-4o', { key, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect((await response.json()).code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('POST /v1/prices/reprice', () => {
  it('prices formerly unpriced events once a price exists, dry run first, and changes nothing the second time', async () => {
    const { key } = await tollgate.createTenant();
    await ingest(key, [
      usage('u1', daysAgo(2), 'house-model', 'custom'),
      usage('u2', daysAgo(1), 'house-model', 'custom'),
      usage('m1', daysAgo(1)),
    ]);
    const range = { from: daysAgo(10), to: new Date(Date.now() + 60_000).toISOString() };

    await tollgate.request('PUT', '/v1/prices/overrides/custom/house-model', {
      key,
      body: { effective_from: '2026-01-01T00:00:00Z', rates: { input: '1', output: '2' } },
    });
    const dry = await tollgate.request('POST', '/v1/prices/reprice', {
      key,
      body: { ...range, dry_run: true },
    });
    expect(dry.status).toBe(200);
    // house-model: 1000 × $1 + 200 × $2 per 1M = $0.0014 each; gpt-4o-mini unchanged at $0.00027.
    expect(await dry.json()).toMatchObject({
      dry_run: true,
      events: 3,
      changed: 2,
      newly_priced: 2,
      unpriced: 0,
      old_cost: '0.00027000',
      new_cost: '0.00307000',
      by_model: [
        {
          provider: 'custom',
          model: 'house-model',
          events: 2,
          changed: 2,
          newly_priced: 2,
          old_cost: '0.00000000',
          new_cost: '0.00280000',
        },
        {
          provider: 'openai',
          model: 'gpt-4o-mini',
          events: 1,
          changed: 0,
          old_cost: '0.00027000',
          new_cost: '0.00027000',
        },
      ],
    });
    const stillDry = await (
      await tollgate.request('POST', '/v1/prices/reprice', { key, body: { ...range, dry_run: true } })
    ).json();
    expect(stillDry.changed).toBe(2);

    const real = await (await tollgate.request('POST', '/v1/prices/reprice', { key, body: range })).json();
    expect(real).toMatchObject({ dry_run: false, changed: 2, new_cost: '0.00307000' });
    const again = await (await tollgate.request('POST', '/v1/prices/reprice', { key, body: range })).json();
    expect(again).toMatchObject({ changed: 0, old_cost: '0.00307000', new_cost: '0.00307000' });

    // A narrower range touches only its own events.
    await tollgate.request('PUT', '/v1/prices/overrides/custom/house-model', {
      key,
      body: { effective_from: '2026-01-01T00:00:00Z', rates: { input: '2', output: '4' } },
    });
    const narrow = await (
      await tollgate.request('POST', '/v1/prices/reprice', {
        key,
        body: { from: daysAgo(1.5), to: range.to },
      })
    ).json();
    expect(narrow).toMatchObject({ events: 2, changed: 1, new_cost: '0.00307000' });
  });

  it('re-prices when its lock write lost its answer (the SDK retried it), and releases the lock after', async () => {
    const { id, key } = await tollgate.createTenant();
    await ingest(key, [
      usage('l1', daysAgo(2), 'house-model', 'custom'),
      usage('l2', daysAgo(1), 'house-model', 'custom'),
    ]);
    const range = { from: daysAgo(10), to: new Date(Date.now() + 60_000).toISOString() };
    const override = (input: string, output: string) =>
      tollgate.request('PUT', '/v1/prices/overrides/custom/house-model', {
        key,
        body: { effective_from: '2026-01-01T00:00:00Z', rates: { input, output } },
      });

    await override('1', '2');
    const losing = loseFirstAnswer(
      tollgate.runtime.db,
      (write) =>
        write.commandName === 'PutItemCommand' &&
        write.Item?.sk?.S === 'v1#lock#reprice' &&
        (write.Item?.pk?.S ?? '').includes(id),
    );
    let repriced: TestResponse;
    try {
      repriced = await tollgate.request('POST', '/v1/prices/reprice', { key, body: range });
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(repriced.status).toBe(200);
    expect(await repriced.json()).toMatchObject({ dry_run: false, changed: 2, new_cost: '0.00280000' });

    // A new price changes the events again, so the next re-price takes the lock: it is free.
    await override('2', '4');
    const next = await tollgate.request('POST', '/v1/prices/reprice', { key, body: range });
    expect(next.status).toBe(200);
    expect(await next.json()).toMatchObject({ changed: 2, new_cost: '0.00560000' });
  });

  it('refuses a backwards or oversized range', async () => {
    const { key } = await tollgate.createTenant();
    const backwards = await tollgate.request('POST', '/v1/prices/reprice', {
      key,
      body: { from: daysAgo(1), to: daysAgo(2) },
    });
    expect(backwards.status).toBe(400);
    const huge = await tollgate.request('POST', '/v1/prices/reprice', {
      key,
      body: { from: '2020-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' },
    });
    expect(huge.status).toBe(400);
  });
});

describe('operator price files (LiteLLM format)', () => {
  it('load new models and newer prices, effective from their date', async () => {
    const { key } = await tollgate.createTenant();
    const effectiveFrom = new Date(Date.now() - DAY).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const file = {
      sample_spec: {
        input_cost_per_token: 0,
        litellm_provider: 'one of https://docs.litellm.ai/docs/providers',
      },
      'acme-large': {
        litellm_provider: 'openai',
        mode: 'chat',
        input_cost_per_token: 1e-6,
        output_cost_per_token: 3e-6,
      },
      'gpt-4o-mini': {
        litellm_provider: 'openai',
        mode: 'chat',
        input_cost_per_token: 1e-7,
        output_cost_per_token: 4e-7,
        cache_read_input_token_cost: 5e-8,
      },
      'text-embedding-3-small': { litellm_provider: 'openai', mode: 'embedding', input_cost_per_token: 2e-8 },
    };
    const loaded = await tollgate.request('POST', '/v1/admin/prices', {
      key: OPERATOR_KEY,
      body: { format: 'litellm', source: 'test-file', effective_from: effectiveFrom, file },
    });
    expect(loaded.status).toBe(201);
    const summary = await loaded.json();
    expect(summary).toMatchObject({ loaded: 2, skipped_count: 2 });
    expect(summary.load_id).toMatch(/^prl_/);

    const acme = await (await tollgate.request('GET', '/v1/prices?model=acme-large', { key })).json();
    expect(acme).toMatchObject({ source: 'litellm:test-file', rates: { input: '1', output: '3' } });
    const miniNow = await (await tollgate.request('GET', '/v1/prices?model=gpt-4o-mini', { key })).json();
    expect(miniNow.rates).toMatchObject({ input: '0.1', output: '0.4', cached_input: '0.05' });
    const miniBefore = await (
      await tollgate.request('GET', `/v1/prices?model=gpt-4o-mini&at=${daysAgo(2)}`, { key })
    ).json();
    expect(miniBefore.price_id).toBe('builtin:openai/gpt-4o-mini@2024-07-18');

    // 1000 × $0.10 + 200 × $0.40 per 1M = $0.00018
    const result = await ingest(key, [usage('after-load', new Date().toISOString())]);
    expect(result.results[0].cost).toBe('0.00018000');

    expect(
      (await tollgate.request('POST', '/v1/admin/prices', { key, body: { format: 'litellm' } })).status,
    ).toBe(403);
    const empty = await tollgate.request('POST', '/v1/admin/prices', {
      key: OPERATOR_KEY,
      body: { format: 'litellm', source: 'empty', effective_from: effectiveFrom, file: { sample_spec: {} } },
    });
    expect(empty.status).toBe(400);
  });
});
