import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDb, createDb, type Db } from '../../shared/db/client.js';
import { putOperatorPrices, putPriceOverride } from '../../shared/pricing/repository.js';
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
    // Kept in UTC, this instant would be in the year 10000, which RFC 3339 cannot spell.
    const past9999 = await tollgate.request('PUT', '/v1/prices/overrides/openai/gpt-4o', {
      key,
      body: { effective_from: '9999-12-31T23:30:00-01:00', discount_pct: '10' },
    });
    expect(past9999.status).toBe(400);
    expect((await past9999.json()).errors).toEqual([
      { path: 'effective_from', message: 'must fall within the years 0000 to 9999 in UTC' },
    ]);
  });
});

describe('override terms', () => {
  const put = (key: string, path: string, body: unknown) =>
    tollgate.request('PUT', `/v1/prices/overrides/${path}`, { key, body });
  const priceOf = async (key: string, query: string) => {
    const response = await tollgate.request('GET', `/v1/prices?${query}`, { key });
    expect(response.status, query).toBe(200);
    return response.json();
  };

  it('refuse a malformed decimal with a 400 naming the field, never a 500', async () => {
    const { key } = await tollgate.createTenant();
    for (const bad of ['abc', '', 'NaN', 'Infinity', '1.2.3', '--5', '-10', '1e3', ' 5', '150']) {
      const response = await put(key, 'openai/gpt-4o-mini', {
        effective_from: '2026-12-06T00:00:00Z',
        discount_pct: bad,
      });
      expect(response.status, bad).toBe(400);
      const problem = await response.json();
      expect(problem.code).toBe('VALIDATION_FAILED');
      expect(problem.errors.map((e: { path: string }) => e.path)).toEqual(['discount_pct']);
    }
    for (const field of ['input', 'cached_input', 'cache_write', 'cache_write_1h', 'output', 'reasoning']) {
      for (const bad of ['abc', '', 'NaN', 'Infinity', '1.2.3', '--5']) {
        const response = await put(key, 'openai/gpt-4o-mini', {
          effective_from: '2026-12-06T00:00:00Z',
          rates: { input: '1', output: '2', [field]: bad },
        });
        expect(response.status, `${field} ${bad}`).toBe(400);
        const problem = await response.json();
        expect(problem.errors.map((e: { path: string }) => e.path)).toEqual([`rates.${field}`]);
      }
    }
  });

  it('keep one term per instant, in UTC, whatever the spelling: the latest PUT wins', async () => {
    const { key } = await tollgate.createTenant();
    const answers = [];
    for (const [effectiveFrom, pct] of [
      ['2026-12-01T00:00:00Z', '10'],
      ['2026-12-01T02:00:00+02:00', '30'],
      ['2026-12-01T00:00:00.000Z', '50'],
    ]) {
      const response = await put(key, 'openai/o4-mini', { effective_from: effectiveFrom, discount_pct: pct });
      expect(response.status).toBe(200);
      answers.push((await response.json()).effective_from);
    }
    expect(answers).toEqual(Array(3).fill('2026-12-01T00:00:00.000Z'));

    const listed = await (await tollgate.request('GET', '/v1/prices/overrides', { key })).json();
    expect(listed.data).toEqual([
      expect.objectContaining({
        model: 'o4-mini',
        effective_from: '2026-12-01T00:00:00.000Z',
        discount_pct: '50',
      }),
    ]);
    // List 1.1 / 4.4; 50% off.
    const price = await priceOf(key, 'model=o4-mini&at=2026-12-02T00:00:00Z');
    expect(price).toMatchObject({
      price_id: 'override:openai/o4-mini@2026-12-01',
      effective_from: '2026-12-01T00:00:00.000Z',
      rates: { input: '0.55', output: '2.2' },
    });
  });

  it('read terms stored before instants were canonical, and replace them at the same instant', async () => {
    const { id, key } = await tollgate.createTenant();
    const legacy = (effectiveFrom: string, pct: string, createdAt: string) =>
      putPriceOverride(tollgate.runtime.db, id, {
        effective_from: effectiveFrom,
        discount_pct: pct,
        provider: 'openai',
        model: 'o4-mini',
        created_at: createdAt,
      });
    await legacy('2026-12-01T00:00:00Z', '10', '2026-12-01T10:00:00.000Z');
    await legacy('2026-12-01T02:00:00+02:00', '20', '2026-12-01T11:00:00.000Z');
    const listed = await (await tollgate.request('GET', '/v1/prices/overrides', { key })).json();
    expect(listed.data).toEqual([
      expect.objectContaining({ effective_from: '2026-12-01T00:00:00.000Z', discount_pct: '20' }),
    ]);
    expect((await priceOf(key, 'model=o4-mini&at=2026-12-02T00:00:00Z')).rates.input).toBe('0.88');

    expect(
      (await put(key, 'openai/o4-mini', { effective_from: '2026-12-01T00:00:00Z', discount_pct: '50' }))
        .status,
    ).toBe(200);
    const replaced = await (await tollgate.request('GET', '/v1/prices/overrides', { key })).json();
    expect(replaced.data).toEqual([
      expect.objectContaining({ effective_from: '2026-12-01T00:00:00.000Z', discount_pct: '50' }),
    ]);
    expect((await priceOf(key, 'model=o4-mini&at=2026-12-02T00:00:00Z')).rates.input).toBe('0.55');
    // The other spellings are gone from the store, not only hidden.
    const scan = await tollgate.runtime.db.client.send(
      new QueryCommand({
        TableName: tollgate.runtime.db.tableName,
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :s)',
        ExpressionAttributeValues: { ':p': `v1#tenant#${id}`, ':s': 'v1#price-override#' },
        ConsistentRead: true,
      }),
    );
    expect(scan.Items?.map((item) => item.sk)).toEqual([
      'v1#price-override#openai/o4-mini#2026-12-01T00:00:00.000Z',
    ]);
  });

  it('on a snapshot or alias apply to every spelling priced alike; custom models keep their name', async () => {
    const { id, key } = await tollgate.createTenant();
    const claude = await put(key, 'anthropic/claude-sonnet-4-5-20250929', {
      effective_from: '2026-01-01T00:00:00Z',
      discount_pct: '50',
    });
    expect(claude.status).toBe(200);
    expect(await claude.json()).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4-5' });
    expect(
      (
        await put(key, 'openai/gpt-4o-2024-08-06', {
          effective_from: '2026-01-01T00:00:00Z',
          discount_pct: '50',
        })
      ).status,
    ).toBe(200);

    for (const model of ['claude-sonnet-4-5', 'claude-sonnet-4-5-20250929']) {
      const price = await priceOf(key, `provider=anthropic&model=${model}`);
      expect(price, model).toMatchObject({
        price_id: 'override:anthropic/claude-sonnet-4-5@2026-01-01',
        rates: { input: '1.5', output: '7.5' },
      });
    }
    for (const model of ['gpt-4o', 'gpt-4o-2024-08-06']) {
      expect((await priceOf(key, `model=${model}`)).rates, model).toMatchObject({
        input: '1.25',
        output: '5',
      });
    }
    const now = new Date().toISOString();
    const result = await ingest(key, [
      {
        id: 'snap',
        timestamp: now,
        provider: 'openai',
        model: 'gpt-4o-2024-08-06',
        usage: { input_tokens: 1_000_000 },
      },
      {
        id: 'alias',
        timestamp: now,
        provider: 'openai',
        model: 'gpt-4o',
        usage: { input_tokens: 1_000_000 },
      },
      {
        id: 'claude',
        timestamp: now,
        provider: 'anthropic',
        model: 'claude-sonnet-4-5',
        usage: { input_tokens: 100_000 },
      },
    ]);
    expect(result.results.map((r: { cost: string }) => r.cost)).toEqual([
      '1.25000000',
      '1.25000000',
      '0.15000000',
    ]);

    // A term kept under a snapshot's spelling before names were canonical applies to its alias too.
    await putPriceOverride(tollgate.runtime.db, id, {
      effective_from: '2026-01-01T00:00:00Z',
      discount_pct: '20',
      provider: 'openai',
      model: 'gpt-4o-mini-2024-07-18',
      created_at: '2026-01-01T00:00:00.000Z',
    });
    expect((await priceOf(key, 'model=gpt-4o-mini')).rates.input).toBe('0.12');

    // A model with no list price keeps the name it was given, and matches it in any case.
    const custom = await put(key, 'custom/House-Model-2024-01-01', {
      effective_from: '2026-01-01T00:00:00Z',
      rates: { input: '1', output: '2' },
    });
    expect(await custom.json()).toMatchObject({ model: 'House-Model-2024-01-01' });
    expect((await priceOf(key, 'provider=custom&model=house-model-2024-01-01')).rates).toMatchObject({
      input: '1',
      output: '2',
    });
    expect(
      (await tollgate.request('GET', '/v1/prices?provider=custom&model=house-model', { key })).status,
    ).toBe(404);
  });

  it('that can never make a price are refused, naming what is missing', async () => {
    const { key } = await tollgate.createTenant();
    const refused = async (path: string, body: unknown, errorPath: string, message: RegExp) => {
      const response = await put(key, path, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = await response.json();
      expect(problem.code).toBe('VALIDATION_FAILED');
      expect(problem.errors).toEqual([{ path: errorPath, message: expect.stringMatching(message) }]);
    };
    await refused(
      'custom/inonly',
      { effective_from: '2026-12-01T00:00:00Z', rates: { input: '1' } },
      'rates.output',
      /^rates\.output is required: custom\/inonly has no list price/,
    );
    await refused(
      'custom/my-llm',
      { effective_from: '2026-12-01T00:00:00Z', discount_pct: '10' },
      'discount_pct',
      /^discount_pct needs a list price to discount: give rates.* for custom\/my-llm$/,
    );
    const both = await put(key, 'openai/my-deployment', {
      effective_from: '2026-12-01T00:00:00Z',
      discount_pct: '10',
      rates: { output: '3' },
    });
    expect(both.status).toBe(400);
    expect((await both.json()).errors).toEqual([
      { path: 'discount_pct', message: expect.stringMatching(/^discount_pct cannot be combined with rates/) },
      { path: 'rates.input', message: expect.stringMatching(/^rates\.input is required/) },
    ]);
    expect((await tollgate.request('GET', '/v1/prices/overrides', { key })).ok).toBe(true);
    expect((await (await tollgate.request('GET', '/v1/prices/overrides', { key })).json()).data).toEqual([]);

    // What can make a price is kept: explicit input and output rates, or terms over a list price
    // (missing rates come from it), even one that starts after the override.
    for (const [path, body] of [
      ['custom/my-llm', { effective_from: '2026-12-01T00:00:00Z', rates: { input: '1', output: '2' } }],
      ['openai/gpt-4o', { effective_from: '2026-12-01T00:00:00Z', rates: { input: '2' } }],
      ['openai/o4-mini', { effective_from: '2020-01-01T00:00:00Z', discount_pct: '10' }],
    ] as const) {
      expect((await put(key, path, body)).status, path).toBe(200);
    }
    expect((await priceOf(key, 'model=gpt-4o')).rates).toMatchObject({ input: '2', output: '10' });
    // Replacing working rates with a discount alone would un-price the model: refused, rates kept.
    await refused(
      'custom/my-llm',
      { effective_from: '2026-12-01T00:00:00Z', discount_pct: '10' },
      'discount_pct',
      /needs a list price/,
    );
    expect((await priceOf(key, 'provider=custom&model=my-llm')).rates).toMatchObject({
      input: '1',
      output: '2',
    });
  });
  it('take a discount over a list price only: with rates on a model with no list price it is refused', async () => {
    const { key } = await tollgate.createTenant();
    // Over a list price the discount scales what the explicit rates leave: the other rates and
    // the tiers. The explicit rates are the price paid, not discounted again.
    const over = await put(key, 'openai/gpt-4o', {
      effective_from: '2026-01-01T00:00:00Z',
      discount_pct: '20',
      rates: { input: '2', output: '8' },
    });
    expect(over.status).toBe(200);
    const gpt4o = await priceOf(key, 'model=gpt-4o&at=2026-12-02T00:00:00Z');
    expect(gpt4o.rates).toEqual({ input: '2', cached_input: '1', output: '8' });
    expect(gpt4o.tiers.batch).toEqual({ input: '1', cached_input: '0.5', output: '4' });

    // With no list price the same terms leave the discount nothing to scale: refused, naming
    // both fields, rather than kept with the discount silently dropped.
    const custom = await put(key, 'custom/house-llm', {
      effective_from: '2026-01-01T00:00:00Z',
      discount_pct: '20',
      rates: { input: '1', output: '2' },
    });
    expect(custom.status).toBe(400);
    expect(custom.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = await custom.json();
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors).toEqual([
      {
        path: 'discount_pct',
        message:
          'discount_pct cannot be combined with rates for custom/house-llm: it has no list price to discount, and explicit rates are not discounted (send the rates paid, without discount_pct)',
      },
    ]);
    expect(
      (await tollgate.request('GET', '/v1/prices?provider=custom&model=house-llm', { key })).status,
    ).toBe(404);
    // The rates alone are the price.
    expect(
      (
        await put(key, 'custom/house-llm', {
          effective_from: '2026-01-01T00:00:00Z',
          rates: { input: '0.8', output: '1.6' },
        })
      ).status,
    ).toBe(200);
    expect((await priceOf(key, 'provider=custom&model=house-llm')).rates).toEqual({
      input: '0.8',
      output: '1.6',
    });
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

  const loadFile = (
    via: TestTollgate,
    source: string,
    effectiveFrom: string,
    models: Record<string, [number, number]>,
  ) =>
    via.request('POST', '/v1/admin/prices', {
      key: OPERATOR_KEY,
      body: {
        format: 'litellm',
        source,
        effective_from: effectiveFrom,
        file: Object.fromEntries(
          Object.entries(models).map(([model, [input, output]]) => [
            model,
            {
              litellm_provider: 'openai',
              mode: 'chat',
              input_cost_per_token: input,
              output_cost_per_token: output,
            },
          ]),
        ),
      },
    });

  it('keep effective_from in UTC: one instant is one version, whatever its spelling, and the later load wins', async () => {
    const { key } = await tollgate.createTenant();
    const priceAt = async (model: string, at: string) => {
      const response = await tollgate.request(
        'GET',
        `/v1/prices?model=${model}&at=${encodeURIComponent(at)}`,
        { key },
      );
      return { status: response.status, body: await response.json() };
    };
    // Offset first, then UTC; and the other way round.
    for (const [source, effectiveFrom, input, output] of [
      ['utc-1', '2026-12-01T01:00:00+01:00', 1e-6, 3e-6],
      ['utc-2', '2026-12-01T00:00:00Z', 2e-6, 4e-6],
    ] as const) {
      expect(
        (await loadFile(tollgate, source, effectiveFrom, { 'acme-utc-a': [input, output] })).status,
      ).toBe(201);
    }
    for (const [source, effectiveFrom, input, output] of [
      ['utc-3', '2026-12-01T00:00:00Z', 1e-6, 3e-6],
      ['utc-4', '2026-12-01T01:00:00.000+01:00', 5e-6, 6e-6],
    ] as const) {
      expect(
        (await loadFile(tollgate, source, effectiveFrom, { 'acme-utc-b': [input, output] })).status,
      ).toBe(201);
    }
    expect((await priceAt('acme-utc-a', '2026-12-02T00:00:00Z')).body).toMatchObject({
      price_id: 'litellm:utc-2:openai/acme-utc-a@2026-12-01',
      effective_from: '2026-12-01T00:00:00.000Z',
      rates: { input: '2', output: '4' },
    });
    expect((await priceAt('acme-utc-b', '2026-12-02T00:00:00Z')).body).toMatchObject({
      price_id: 'litellm:utc-4:openai/acme-utc-b@2026-12-01',
      effective_from: '2026-12-01T00:00:00.000Z',
      rates: { input: '5', output: '6' },
    });
    // An instant with no UTC spelling in four-digit years is refused, naming the field.
    const past9999 = await loadFile(tollgate, 'utc-5', '9999-12-31T23:30:00-01:00', {
      'acme-utc-c': [1e-6, 2e-6],
    });
    expect(past9999.status).toBe(400);
    expect((await past9999.json()).errors).toEqual([
      { path: 'effective_from', message: 'must fall within the years 0000 to 9999 in UTC' },
    ]);
    // The instant is the one meant: an hour before midnight UTC is 00:30 at +01:00.
    expect((await priceAt('acme-utc-b', '2026-12-01T00:30:00+01:00')).status).toBe(404);
    expect((await priceAt('acme-utc-b', '2026-12-01T01:00:00+01:00')).status).toBe(200);

    // Terms over such a price start at the later of the two instants, in UTC too.
    expect(
      (
        await tollgate.request('PUT', '/v1/prices/overrides/openai/acme-utc-b', {
          key,
          body: { effective_from: '2026-01-01T00:00:00Z', discount_pct: '20' },
        })
      ).status,
    ).toBe(200);
    expect((await priceAt('acme-utc-b', '2026-12-02T00:00:00Z')).body).toMatchObject({
      effective_from: '2026-12-01T00:00:00.000Z',
      rates: { input: '4', output: '4.8' },
    });
  });

  it('answer a price stored with its offset, before UTC was kept, in UTC under the id it was priced with', async () => {
    const { key } = await tollgate.createTenant();
    await putOperatorPrices(tollgate.runtime.db, 'prl_00000000000000000000000000', [
      {
        price_id: 'litellm:old:openai/acme-utc-old@2026-12-01',
        provider: 'openai',
        model: 'acme-utc-old',
        effective_from: '2026-12-01T01:00:00+01:00',
        source: 'litellm:old',
        rates: { input: '1', output: '2' },
        tiers: {},
      },
    ]);
    // Another process over the same table: its book is read after the write.
    const other = await createTestTollgate({ store: tollgate.store });
    try {
      const price = await (
        await other.request('GET', '/v1/prices?model=acme-utc-old&at=2026-12-02T00:00:00Z', { key })
      ).json();
      expect(price).toMatchObject({
        price_id: 'litellm:old:openai/acme-utc-old@2026-12-01',
        effective_from: '2026-12-01T00:00:00.000Z',
        rates: { input: '1', output: '2' },
      });
      // A file loaded since at the same instant, spelled in UTC, replaces it.
      expect(
        (await loadFile(other, 'utc-new', '2026-12-01T00:00:00Z', { 'acme-utc-old': [3e-6, 4e-6] })).status,
      ).toBe(201);
      expect(
        (
          await (
            await other.request('GET', '/v1/prices?model=acme-utc-old&at=2026-12-02T00:00:00Z', { key })
          ).json()
        ).rates,
      ).toEqual({ input: '3', output: '4' });
    } finally {
      await other.cleanup();
    }
  });

  /**
   * Another process over the same table: a client, a runtime and a price book of its own, on a
   * clock the test moves (`advance`).
   */
  async function anotherProcess(): Promise<TestTollgate & { db: Db; advance(ms: number): void }> {
    const db = createDb({
      tableName: tollgate.store.db.tableName,
      region: 'local',
      endpoint: tollgate.store.endpoint,
    });
    let clock = Date.now();
    const other = await createTestTollgate({ store: { ...tollgate.store, db }, now: () => new Date(clock) });
    return {
      ...other,
      db,
      advance: (ms) => {
        clock += ms;
      },
      cleanup: async () => {
        await other.cleanup();
        closeDb(db);
      },
    };
  }

  /**
   * Counts the reads of the operator's loaded prices a process makes, and its reads of their
   * stored revision.
   */
  function countPriceFileReads(db: Db) {
    let reads = 0;
    let revisionReads = 0;
    const name = `count-price-file-reads-${Math.random()}`;
    for (const client of [db.client, db.exactClient]) {
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { ExpressionAttributeValues?: unknown; Key?: unknown };
          if (
            context.commandName === 'QueryCommand' &&
            JSON.stringify(input.ExpressionAttributeValues).includes('"v1#operator#prices"')
          ) {
            reads++;
          }
          if (
            context.commandName === 'GetItemCommand' &&
            JSON.stringify(input.Key).includes('v1#operator#prices-revision')
          ) {
            revisionReads++;
          }
          return next(args);
        },
        { step: 'initialize', name },
      );
    }
    return {
      reads: () => reads,
      revisionReads: () => revisionReads,
      restore: () => {
        for (const client of [db.client, db.exactClient]) client.middlewareStack.remove(name);
      },
    };
  }

  it('are answered by a process whose book predates the load within a second of it, not 30 s', async () => {
    const { key } = await tollgate.createTenant();
    const reader = await anotherProcess();
    try {
      // The reader has read the loaded prices (its book is kept 30 s).
      expect((await reader.request('GET', '/v1/prices?model=acme-elsewhere', { key })).status).toBe(404);
      expect(
        (await loadFile(tollgate, 'elsewhere', '2026-01-01T00:00:00Z', { 'acme-elsewhere': [1e-6, 2e-6] }))
          .status,
      ).toBe(201);
      reader.advance(1_100);
      const price = await reader.request('GET', '/v1/prices?model=acme-elsewhere', { key });
      expect(price.status).toBe(200);
      expect(await price.json()).toMatchObject({
        price_id: 'litellm:elsewhere:openai/acme-elsewhere@2026-01-01',
        rates: { input: '1', output: '2' },
      });
    } finally {
      await reader.cleanup();
    }
  });

  it("price a tenant's terms for a model a file just added, in a process whose book predates the load", async () => {
    const { key } = await tollgate.createTenant();
    const reader = await anotherProcess();
    const counter = countPriceFileReads(reader.db);
    try {
      // The reader has read the loaded prices (its book is kept 30 s).
      expect((await reader.request('GET', '/v1/prices?model=gpt-4o', { key })).status).toBe(200);
      const readsBefore = counter.reads();
      expect(
        (await loadFile(tollgate, 'fresh', '2026-01-01T00:00:00Z', { 'acme-fresh': [1e-6, 2e-6] })).status,
      ).toBe(201);

      // A term over a known model, and usage of one, read no price file.
      expect(
        (
          await reader.request('PUT', '/v1/prices/overrides/openai/gpt-4o-mini', {
            key,
            body: { effective_from: '2026-01-01T00:00:00Z', discount_pct: '10' },
          })
        ).status,
      ).toBe(200);
      const answer = await reader.request('POST', '/v1/usage', {
        key,
        body: { events: [usage('known', new Date().toISOString())] },
      });
      expect(answer.status).toBe(202);
      expect(counter.reads()).toBe(readsBefore);

      // A discount needs the list price the file just added: once its copy is over a second old,
      // the reader finds the revision moved and reads the files again, once, rather than refusing.
      reader.advance(1_100);
      const put = await reader.request('PUT', '/v1/prices/overrides/openai/acme-fresh', {
        key,
        body: { effective_from: '2026-01-01T00:00:00Z', discount_pct: '50' },
      });
      expect(put.status).toBe(200);
      expect(counter.reads()).toBe(readsBefore + 1);
      expect(
        await (await reader.request('GET', '/v1/prices?model=acme-fresh', { key })).json(),
      ).toMatchObject({
        rates: { input: '0.5', output: '1' },
        base_price_id: 'litellm:fresh:openai/acme-fresh@2026-01-01',
      });

      // A model no file prices is still refused, on the revision alone: no file was loaded since.
      reader.advance(1_100);
      const revisionReads = counter.revisionReads();
      const refused = await reader.request('PUT', '/v1/prices/overrides/openai/acme-never', {
        key,
        body: { effective_from: '2026-01-01T00:00:00Z', discount_pct: '50' },
      });
      expect(refused.status).toBe(400);
      expect(counter.reads()).toBe(readsBefore + 1);
      expect(counter.revisionReads()).toBe(revisionReads + 1);
    } finally {
      counter.restore();
      await reader.cleanup();
    }
  });

  it('are not read again when none was loaded: a copy past 30 s, and 404s, cost one revision read a second', async () => {
    const { key } = await tollgate.createTenant();
    const reader = await anotherProcess();
    const counter = countPriceFileReads(reader.db);
    const missing = () => reader.request('GET', '/v1/prices?model=acme-nowhere', { key });
    try {
      expect((await missing()).status).toBe(404);
      expect(counter.reads()).toBe(1);
      reader.advance(30_001);
      const revisionReads = counter.revisionReads();

      // Requests at once share one confirmation; those that follow within the second make none.
      const together = await Promise.all(Array.from({ length: 5 }, missing));
      expect(together.map((response) => response.status)).toEqual(Array(5).fill(404));
      for (let i = 0; i < 5; i++) expect((await missing()).status).toBe(404);
      const refused = await reader.request('PUT', '/v1/prices/overrides/openai/acme-nowhere', {
        key,
        body: { effective_from: '2026-01-01T00:00:00Z', discount_pct: '50' },
      });
      expect(refused.status).toBe(400);
      expect(counter.reads()).toBe(1);
      expect(counter.revisionReads()).toBe(revisionReads + 1);

      reader.advance(1_100);
      expect((await missing()).status).toBe(404);
      expect(counter.reads()).toBe(1);
      expect(counter.revisionReads()).toBe(revisionReads + 2);
    } finally {
      counter.restore();
      await reader.cleanup();
    }
  });

  it('show in exports at once in the process that loaded them', async () => {
    const { key } = await tollgate.createTenant();
    expect(
      (
        await tollgate.request('PUT', '/v1/prices/overrides/openai/acme-exported', {
          key,
          body: { effective_from: '2026-01-01T00:00:00Z', rates: { input: '1', output: '2' } },
        })
      ).status,
    ).toBe(200);
    const at = new Date(Date.now() - 60 * 60 * 1000);
    await ingest(key, [usage('exported', at.toISOString(), 'acme-exported')]);
    const range = `from=${new Date(at.getTime() - DAY).toISOString()}&to=${new Date(Date.now() + DAY).toISOString()}`;
    const inputRow = async () => {
      const response = await tollgate.request('GET', `/v1/exports/focus?${range}&format=jsonl`, { key });
      expect(response.status).toBe(200);
      const rows = (await response.text())
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line));
      return rows.find((row) => row.x_EventId === 'exported' && row.SkuId === 'openai/acme-exported/input');
    };
    // No list price yet: the list is what the tenant pays.
    expect(await inputRow()).toMatchObject({ ListUnitPrice: '1', x_ListPriceId: null });
    expect(
      (await loadFile(tollgate, 'exported', '2026-01-01T00:00:00Z', { 'acme-exported': [3e-6, 6e-6] }))
        .status,
    ).toBe(201);
    expect(await inputRow()).toMatchObject({
      ContractedUnitPrice: '1',
      ListUnitPrice: '3',
      x_ListPriceId: 'litellm:exported:openai/acme-exported@2026-01-01',
    });
  });
});
