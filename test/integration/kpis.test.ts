import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cellKeys } from '../../shared/kpis/cells.js';
import { getCursor, putCursor } from '../../shared/kpis/repository.js';
import { rollupTenant } from '../../shared/kpis/rollup.js';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

let tollgate: TestTollgate;
let tenant: { id: string; key: string };

const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
const D1 = new Date(today - 3 * DAY).toISOString().slice(0, 10);
const D2 = new Date(today - 2 * DAY).toISOString().slice(0, 10);
const FROM = `${D1}T00:00:00Z`;
const TO = new Date(today - DAY).toISOString().replace('.000Z', 'Z');
const at = (day: string, hour: string) => `${day}T${hour}:00:00Z`;

async function post(path: string, events: unknown[]) {
  const response = await tollgate.request('POST', path, { key: tenant.key, body: { events } });
  expect(response.status).toBe(202);
  const body = await response.json();
  expect(body.rejected).toEqual([]);
}

async function rollup() {
  const response = await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${tenant.id}`, {
    key: OPERATOR_KEY,
  });
  expect(response.status).toBe(200);
  return response.json();
}

async function kpis(query: string, key = tenant.key) {
  const response = await tollgate.request('GET', `/v1/kpis?from=${FROM}&to=${TO}&${query}`, { key });
  return { status: response.status, body: await response.json() };
}

beforeAll(async () => {
  tollgate = await createTestTollgate({ env: { TOLLGATE_ROLLUP_LAG_SECONDS: '0' } });
  tenant = await tollgate.createTenant('KPI');
  // gpt-4o: $2.50 in, $1.25 cached, $10 out; gpt-4o-mini: $0.15, $0.075, $0.60 (per 1M).
  await post('/v1/usage', [
    // 1000×2.5 + 2000×1.25 + 500×10 = 10000 µ$ = $0.01; saved 2000×(2.5−1.25) = $0.0025
    {
      id: 'e1',
      timestamp: at(D1, '10'),
      provider: 'openai',
      model: 'gpt-4o',
      usage: { input_tokens: 1000, cached_input_tokens: 2000, output_tokens: 500 },
      dimensions: { feature: 'support', customer: 'acme' },
    },
    // 10000×0.15 + 1000×0.6 = 2100 µ$ = $0.0021
    {
      id: 'e2',
      timestamp: at(D1, '11'),
      provider: 'openai',
      model: 'gpt-4o-mini',
      usage: { input_tokens: 10000, output_tokens: 1000 },
      dimensions: { feature: 'support', customer: 'globex' },
    },
    // 20000×0.15 + 10000×0.075 + 2000×0.6 = 4950 µ$; saved 10000×0.075 = $0.00075
    {
      id: 'e3',
      timestamp: at(D2, '09'),
      provider: 'openai',
      model: 'gpt-4o-mini',
      usage: { input_tokens: 20000, cached_input_tokens: 10000, output_tokens: 2000 },
      dimensions: { feature: 'search' },
    },
    // unpriced: 110 tokens
    {
      id: 'e4',
      timestamp: at(D2, '12'),
      provider: 'custom',
      model: 'house-model',
      usage: { input_tokens: 100, output_tokens: 10 },
      dimensions: { feature: 'support', customer: 'acme' },
    },
  ]);
  await post('/v1/outcomes', [
    {
      id: 'o1',
      timestamp: at(D1, '10'),
      name: 'ticket_resolved',
      value: 1,
      dimensions: { feature: 'support' },
    },
    {
      id: 'o2',
      timestamp: at(D1, '12'),
      name: 'ticket_resolved',
      value: 1,
      dimensions: { feature: 'support' },
    },
    {
      id: 'o3',
      timestamp: at(D2, '10'),
      name: 'ticket_resolved',
      value: 1,
      dimensions: { feature: 'support' },
    },
    {
      id: 'o4',
      timestamp: at(D2, '13'),
      name: 'ticket_resolved',
      value: 1,
      dimensions: { feature: 'search' },
    },
  ]);
  expect((await rollup()).result).toMatchObject({ events: 8 });
});
afterAll(() => tollgate.cleanup());

describe('GET /v1/kpis on a seeded tenant', () => {
  it('answers totals that equal the hand-computed values exactly', async () => {
    const { status, body } = await kpis(
      'metrics=cost,tokens,cache_savings,outcomes:ticket_resolved,cost_per_outcome:ticket_resolved,attribution_coverage_pct:customer,unpriced_tokens,cache_hit_ratio,cost_per_1k_tokens',
    );
    expect(status).toBe(200);
    expect(body.totals).toEqual({
      cost: '0.01705000',
      tokens: 46610,
      cache_savings: '0.00325000',
      'outcomes:ticket_resolved': '4',
      // 0.01705 / 4
      'cost_per_outcome:ticket_resolved': '0.00426250',
      // (0.01 + 0.0021) / 0.01705 = 70.967741…%
      'attribution_coverage_pct:customer': 70.9677,
      unpriced_tokens: 110,
      // 12000 cached of 43100 prompt tokens
      cache_hit_ratio: 0.278422,
      // Per priced token: 0.01705 × 1000 / (46610 − 110 unpriced) = 0.000366666…
      cost_per_1k_tokens: '0.00036667',
    });
    expect(body.series).toHaveLength(1);
    expect(body.series[0].points.map((p: { start: string }) => p.start)).toEqual([
      `${D1}T00:00:00Z`,
      `${D2}T00:00:00Z`,
    ]);
    expect(body.as_of).toMatch(/^\d{4}-/);
    // Only an unpriced model: no priced token, no unit cost (not $0 per 1k).
    const unpriced = await kpis('metrics=cost,cost_per_1k_tokens&filter[model]=house-model');
    expect(unpriced.body.totals).toEqual({ cost: '0.00000000', cost_per_1k_tokens: null });
  });

  it('groups by a dimension per day, with null for a zero denominator', async () => {
    const { body } = await kpis(
      'metrics=cost,cost_per_outcome:ticket_resolved,cost_per_request&group_by=feature',
    );
    const byFeature = Object.fromEntries(
      body.series.map((s: { group: { feature: string } }) => [s.group.feature, s]),
    );
    expect(Object.keys(byFeature).sort()).toEqual(['search', 'support']);
    expect(byFeature.support.points.map((p: { values: unknown }) => p.values)).toEqual([
      {
        cost: '0.01210000',
        'cost_per_outcome:ticket_resolved': '0.00605000',
        cost_per_request: '0.00605000',
      },
      {
        cost: '0.00000000',
        'cost_per_outcome:ticket_resolved': '0.00000000',
        cost_per_request: '0.00000000',
      },
    ]);
    expect(byFeature.search.points[0].values).toEqual({
      cost: '0.00000000',
      'cost_per_outcome:ticket_resolved': null,
      cost_per_request: null,
    });
    expect(byFeature.search.totals).toMatchObject({
      cost: '0.00495000',
      'cost_per_outcome:ticket_resolved': '0.00495000',
    });
  });

  it('filters by one dimension while grouping by another, and groups by model and provider', async () => {
    const acme = await kpis('metrics=cost,unpriced_tokens&group_by=feature&filter[customer]=acme');
    expect(acme.body.series).toHaveLength(1);
    expect(acme.body.series[0]).toMatchObject({
      group: { feature: 'support' },
      totals: { cost: '0.01000000', unpriced_tokens: 110 },
    });

    const models = await kpis('metrics=cost,requests&group_by=model,provider');
    expect(models.body.series.map((s: { group: unknown; totals: unknown }) => [s.group, s.totals])).toEqual([
      [
        { model: 'gpt-4o', provider: 'openai' },
        { cost: '0.01000000', requests: 1 },
      ],
      [
        { model: 'gpt-4o-mini', provider: 'openai' },
        { cost: '0.00705000', requests: 2 },
      ],
      [
        { model: 'house-model', provider: 'custom' },
        { cost: '0.00000000', requests: 1 },
      ],
      // The outcomes name no model or provider: they are the unattributed series, last.
      [
        { model: null, provider: null },
        { cost: '0.00000000', requests: 0 },
      ],
    ]);
  });

  it('aligns buckets to a time zone and to months', async () => {
    const newYork = await kpis('metrics=cost&granularity=day&timezone=America/New_York');
    const starts = newYork.body.series[0].points.map((p: { start: string }) => p.start);
    expect(starts[0]).toMatch(/T00:00:00-0[45]:00$/);
    // e1 and e2 (10:00 and 11:00 UTC) fall on the same New York day.
    expect(newYork.body.totals.cost).toBe('0.01705000');

    const month = await kpis('metrics=cost&granularity=month');
    expect(
      month.body.series[0].points.reduce(
        (n: number, p: { values: { cost: string } }) => n + Number(p.values.cost),
        0,
      ),
    ).toBeCloseTo(0.01705, 10);

    const hourly = await kpis('metrics=tokens&granularity=hour&group_by=feature');
    const support = hourly.body.series.find(
      (s: { group: { feature: string } }) => s.group.feature === 'support',
    );
    expect(support.points.find((p: { start: string }) => p.start === `${D1}T10:00:00Z`).values.tokens).toBe(
      3500,
    );
  });

  it('starts each local day at its midnight after a day whose midnight does not exist', async () => {
    // America/Santiago springs forward at 00:00 on 2026-09-06: that day begins at 01:00 (-03).
    const response = await tollgate.request(
      'GET',
      '/v1/kpis?from=2026-09-05T04:00:00Z&to=2026-09-08T03:00:00Z&metrics=cost&granularity=day&timezone=America/Santiago',
      { key: tenant.key },
    );
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.series[0].points.map((p: { start: string }) => p.start)).toEqual([
      '2026-09-05T00:00:00-04:00',
      '2026-09-06T01:00:00-03:00',
      '2026-09-07T00:00:00-03:00',
    ]);
  });

  it('shows a restricted key only its slice', async () => {
    const view = await tollgate.mintKey(tenant.key, {
      name: 'acme view',
      scopes: ['read'],
      restrict: { customer: 'acme' },
    });
    const own = await kpis('metrics=cost&group_by=customer', view.key);
    expect(own.body.series.map((s: { group: unknown }) => s.group)).toEqual([{ customer: 'acme' }]);
    expect(own.body.totals.cost).toBe('0.01000000');
    const other = await kpis('metrics=cost&filter[customer]=globex', view.key);
    // Nothing of the other customer: one series, every bucket zero.
    expect(other.body.series).toHaveLength(1);
    expect(
      other.body.series[0].points.every((p: { values: { cost: string } }) => p.values.cost === '0.00000000'),
    ).toBe(true);
    expect(other.body.totals.cost).toBe('0.00000000');
  });

  it('answers CSV', async () => {
    const response = await tollgate.request(
      'GET',
      `/v1/kpis?from=${FROM}&to=${TO}&metrics=cost,tokens&group_by=feature&format=csv`,
      { key: tenant.key },
    );
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await response.text()).trim().split('\n');
    expect(lines[0]).toBe('feature,start,cost,tokens');
    expect(lines).toContain(`search,${D2}T00:00:00Z,0.00495000,32000`);
    expect(lines).toHaveLength(5);
  });

  it('answers the usage lacking a group_by attribute as a last series of nulls, so groups add up to the totals', async () => {
    const metrics = 'metrics=cost,requests,outcomes:ticket_resolved,attribution_coverage_pct:feature';
    const all = await kpis(metrics);
    // Hourly cells answer one attribute at a time: there, no coverage of another dimension.
    for (const granularity of ['day', 'hour']) {
      const asked = granularity === 'day' ? metrics : 'metrics=cost,requests,outcomes:ticket_resolved';
      const grouped = await kpis(`${asked}&group_by=customer&granularity=${granularity}`);
      expect(grouped.status).toBe(200);
      expect(grouped.body.series.map((s: { group: unknown }) => s.group)).toEqual([
        { customer: 'acme' },
        { customer: 'globex' },
        { customer: null },
      ]);
      // e3 has no customer, nor do the four outcomes; e3 has a feature, so its series is fully covered.
      expect(grouped.body.series[2].totals).toEqual({
        cost: '0.00495000',
        requests: 1,
        'outcomes:ticket_resolved': '4',
        ...(granularity === 'day' ? { 'attribution_coverage_pct:feature': 100 } : {}),
      });
      if (granularity === 'day') expect(grouped.body.totals).toEqual(all.body.totals);
      else expect(grouped.body.totals.cost).toBe(all.body.totals.cost);
    }
    // Within a filter's slice too.
    const search = await kpis(
      'metrics=cost,outcomes:ticket_resolved&group_by=customer&filter[feature]=search',
    );
    expect(search.body.series).toEqual([
      expect.objectContaining({
        group: { customer: null },
        totals: { cost: '0.00495000', 'outcomes:ticket_resolved': '1' },
      }),
    ]);
    // Every event carries a feature: no unattributed series.
    const features = await kpis('metrics=cost&group_by=feature');
    expect(features.body.series.map((s: { group: { feature: string } }) => s.group.feature)).toEqual([
      'search',
      'support',
    ]);
  });

  it('answers an ungrouped range without usage as one zero-filled series', async () => {
    const empty = await tollgate.request(
      'GET',
      '/v1/kpis?metrics=cost,cost_per_request&from=2020-01-01T00:00:00Z&to=2020-01-04T00:00:00Z',
      { key: tenant.key },
    );
    const body = await empty.json();
    expect(body.series).toHaveLength(1);
    expect(body.series[0].group).toEqual({});
    expect(body.series[0].points).toEqual(
      ['2020-01-01', '2020-01-02', '2020-01-03'].map((day) => ({
        start: `${day}T00:00:00Z`,
        values: { cost: '0.00000000', cost_per_request: null },
      })),
    );
  });

  it('takes UTC by any of its names, and refuses zones a fraction of an hour from UTC rather than answer wrong days', async () => {
    for (const zone of ['utc', 'Etc/UTC', 'GMT']) {
      const { status, body } = await kpis(`metrics=cost&group_by=feature,customer&timezone=${zone}`);
      expect(status, zone).toBe(200);
      expect(body.timezone).toBe('UTC');
      expect(body.totals.cost).toBe('0.01705000');
    }
    for (const [zone, offset] of [
      ['Asia/Kolkata', /^Asia\/Kolkata is \+05:30 from UTC/],
      ['Asia/Kathmandu', /^Asia\/Kathmandu is \+05:45 from UTC/],
      // -02:30 in summer, -03:30 in winter: the summary looks 8 weeks back.
      ['America/St_Johns', /^America\/St_Johns is -0[23]:30 from UTC/],
    ] as const) {
      for (const path of [`/v1/kpis?from=${FROM}&to=${TO}&metrics=cost&`, '/v1/kpis/summary?']) {
        const response = await tollgate.request('GET', `${path}timezone=${zone}`, { key: tenant.key });
        expect(response.status, `${path} ${zone}`).toBe(400);
        const problem = await response.json();
        expect(problem.detail).toMatch(offset);
        expect(problem.errors[0].path).toBe('query.timezone');
      }
    }
  });

  it('names the real problem of a two-attribute query and of a repeated filter', async () => {
    const unaligned = await kpis('metrics=cost&group_by=feature,customer').then(() =>
      tollgate.request(
        'GET',
        `/v1/kpis?from=${D1}T05:00:00Z&to=${TO}&metrics=cost&group_by=feature,customer`,
        { key: tenant.key },
      ),
    );
    expect(unaligned.status).toBe(400);
    expect(await unaligned.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      detail: expect.stringContaining('whole UTC days'),
    });
    const repeated = await kpis('metrics=cost&filter[customer]=acme&filter[customer]=globex');
    expect(repeated.status).toBe(400);
    expect(repeated.body.errors).toEqual([{ path: 'query.filter[customer]', message: 'repeated' }]);
  });

  it('refuses what it cannot answer with clear problems', async () => {
    for (const [query, code] of [
      ['metrics=costs', 'VALIDATION_FAILED'],
      ['metrics=billed_cost&group_by=feature', 'VALIDATION_FAILED'],
      ['metrics=billing_drift_pct&granularity=hour', 'VALIDATION_FAILED'],
      ['metrics=cost&group_by=feature,customer,model', 'QUERY_TOO_WIDE'],
      ['metrics=cost&granularity=hour&group_by=feature&filter[customer]=acme', 'QUERY_TOO_WIDE'],
      ['metrics=cost&timezone=Mars/Olympus', 'VALIDATION_FAILED'],
    ] as const) {
      const { status, body } = await kpis(query);
      expect(status, query).toBe(400);
      expect(body.code, query).toBe(code);
    }
  });
});

describe('a model named by any of its spellings', () => {
  let models: { id: string; key: string };
  const totals = async (query: string, key = models.key) => {
    const response = await tollgate.request('GET', `/v1/kpis?from=${FROM}&to=${TO}&${query}`, { key });
    const body = await response.json();
    expect(response.status, `${query}: ${JSON.stringify(body)}`).toBe(200);
    return body;
  };
  const seriesOf = (body: { series: { group: Record<string, string>; totals: { cost: string } }[] }) =>
    body.series.map((series) => ({ ...series.group, cost: series.totals.cost }));

  beforeAll(async () => {
    models = await tollgate.createTenant('Model spellings');
    // gpt-4o-2024-08-06 is priced as gpt-4o ($2.50 per 1M input); gpt-4o-2024-05-13 has its own price ($5).
    const event = (id: string, model: string, hour: string, input_tokens: number) => ({
      id,
      timestamp: at(D1, hour),
      provider: 'openai',
      model,
      usage: { input_tokens },
      dimensions: { feature: 'chat' },
    });
    const response = await tollgate.request('POST', '/v1/usage', {
      key: models.key,
      body: {
        events: [
          event('s1', 'gpt-4o', '10', 1_000_000),
          event('s2', 'gpt-4o-2024-08-06', '11', 1_000_000),
          event('s3', 'gpt-4o-2024-05-13', '12', 100_000),
        ],
      },
    });
    expect((await response.json()).rejected).toEqual([]);
    const run = await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${models.id}`, {
      key: OPERATOR_KEY,
    });
    expect(run.status).toBe(200);
  });

  it('filters and groups a model by its priced name, whatever the other metrics asked', async () => {
    for (const metrics of ['cost', 'cost,billed_cost', 'cost,billed_cost,billing_drift_pct']) {
      // Either spelling of gpt-4o is the one model, with or without the billed metrics.
      for (const model of ['gpt-4o', 'gpt-4o-2024-08-06']) {
        const body = await totals(`metrics=${metrics}&filter[model]=${model}`);
        expect(body.totals.cost, `${metrics} ${model}`).toBe('5.00000000');
      }
      // A snapshot with a price of its own stays its own model.
      expect((await totals(`metrics=${metrics}&filter[model]=gpt-4o-2024-05-13`)).totals.cost).toBe(
        '0.50000000',
      );
      expect(seriesOf(await totals(`metrics=${metrics}&group_by=model`)), metrics).toEqual([
        { model: 'gpt-4o', cost: '5.00000000' },
        { model: 'gpt-4o-2024-05-13', cost: '0.50000000' },
      ]);
      expect(seriesOf(await totals(`metrics=${metrics}&group_by=model&filter[provider]=openai`))).toEqual([
        { model: 'gpt-4o', cost: '5.00000000' },
        { model: 'gpt-4o-2024-05-13', cost: '0.50000000' },
      ]);
      expect(
        seriesOf(await totals(`metrics=${metrics}&group_by=provider&filter[model]=gpt-4o-2024-08-06`)),
      ).toEqual([{ provider: 'openai', cost: '5.00000000' }]);
    }
    // The same on the pair cells (model with a dimension) and on the hour cells.
    expect(seriesOf(await totals('metrics=cost&group_by=model,feature'))).toEqual([
      { model: 'gpt-4o', feature: 'chat', cost: '5.00000000' },
      { model: 'gpt-4o-2024-05-13', feature: 'chat', cost: '0.50000000' },
    ]);
    expect(seriesOf(await totals('metrics=cost&group_by=feature&filter[model]=gpt-4o-2024-08-06'))).toEqual([
      { feature: 'chat', cost: '5.00000000' },
    ]);
    const hourly = await totals('metrics=cost&group_by=model&granularity=hour');
    expect(seriesOf(hourly)).toEqual([
      { model: 'gpt-4o', cost: '5.00000000' },
      { model: 'gpt-4o-2024-05-13', cost: '0.50000000' },
    ]);
    expect(
      hourly.series[0].points
        .filter((point: { values: { cost: string } }) => point.values.cost !== '0.00000000')
        .map((point: { start: string; values: { cost: string } }) => [point.start, point.values.cost]),
    ).toEqual([
      [at(D1, '10'), '2.50000000'],
      [at(D1, '11'), '2.50000000'],
    ]);
  });

  it('restricts a key to a model by the same rule', async () => {
    const view = await tollgate.mintKey(models.key, {
      name: 'gpt-4o view',
      scopes: ['read'],
      restrict: { model: 'gpt-4o' },
    });
    expect((await totals('metrics=cost', view.key)).totals.cost).toBe('5.00000000');
    expect(seriesOf(await totals('metrics=cost&group_by=feature', view.key))).toEqual([
      { feature: 'chat', cost: '5.00000000' },
    ]);
    // Another spelling of its model is its own slice; another model is nothing.
    expect((await totals('metrics=cost&filter[model]=gpt-4o-2024-08-06', view.key)).totals.cost).toBe(
      '5.00000000',
    );
    expect((await totals('metrics=cost&filter[model]=gpt-4o-2024-05-13', view.key)).totals.cost).toBe(
      '0.00000000',
    );
  });
});

describe('the kpi-rollup job', () => {
  it('takes late events into their own day, and a second run changes nothing', async () => {
    const before = await kpis('metrics=cost,tokens&group_by=feature');
    // An event of D1 that arrives now.
    await post('/v1/usage', [
      {
        id: 'late',
        timestamp: at(D1, '15'),
        provider: 'openai',
        model: 'gpt-4o-mini',
        usage: { input_tokens: 1000 },
        dimensions: { feature: 'search' },
      },
    ]);
    const notYet = await kpis('metrics=cost,tokens&group_by=feature');
    expect(notYet.body.series).toEqual(before.body.series);

    const summary = await rollup();
    expect(summary.result).toMatchObject({ events: 1 });
    const after = await kpis('metrics=cost,tokens&group_by=feature');
    const search = after.body.series.find(
      (s: { group: { feature: string } }) => s.group.feature === 'search',
    );
    // 1000 × 0.15 = 150 µ$ lands on D1.
    expect(search.points[0].values).toEqual({ cost: '0.00015000', tokens: 1000 });
    expect(after.body.totals.cost).toBe('0.01720000');

    const again = await rollup();
    expect(again.result).toMatchObject({ events: 0 });
    expect((await kpis('metrics=cost,tokens&group_by=feature')).body.series).toEqual(after.body.series);
  });

  it('resumes a window a crashed run left half-applied without counting it twice', async () => {
    await post('/v1/usage', [
      {
        id: 'crash',
        timestamp: at(D2, '16'),
        provider: 'openai',
        model: 'gpt-4o-mini',
        usage: { output_tokens: 1000 },
        dimensions: { feature: 'search' },
      },
    ]);
    const cursorBefore = await getCursor(tollgate.store.db, tenant.id);
    await rollup();
    const applied = await kpis('metrics=cost');
    const cursor = await getCursor(tollgate.store.db, tenant.id);
    expect(cursor?.state).toBe('done');
    // Pretend the run died after its cells were written but before the cursor moved on.
    const rewound = await putCursor(
      tollgate.store.db,
      tenant.id,
      {
        seq: cursor?.seq as number,
        until: cursorBefore?.until as string,
        planned_until: cursor?.until as string,
        state: 'applying',
      },
      { seq: cursor?.seq, state: 'done' },
    );
    expect(rewound).toBe(true);
    const resumed = await rollup();
    expect(resumed.result).toMatchObject({ events: 1 });
    expect((await kpis('metrics=cost')).body.totals).toEqual(applied.body.totals);
    expect(applied.body.totals.cost).toBe('0.01780000'); // + 1000 × 0.60 µ$
    expect((await getCursor(tollgate.store.db, tenant.id))?.state).toBe('done');
    expect(cellKeys.cursor(tenant.id).pk).toContain(tenant.id);
  });

  it('carries a re-price into the KPIs through a correction', async () => {
    await tollgate.request('PUT', '/v1/prices/overrides/custom/house-model', {
      key: tenant.key,
      body: { effective_from: '2026-01-01T00:00:00Z', rates: { input: '10', output: '100' } },
    });
    const repriced = await tollgate.request('POST', '/v1/prices/reprice', {
      key: tenant.key,
      body: { from: FROM, to: TO },
    });
    expect((await repriced.json()).changed).toBe(1);
    await rollup();
    // house-model: 100 × $10 + 10 × $100 per 1M = $0.002
    const { body } = await kpis('metrics=cost,unpriced_tokens');
    expect(body.totals).toEqual({ cost: '0.01980000', unpriced_tokens: 0 });
    const again = await tollgate.request('POST', '/v1/prices/reprice', {
      key: tenant.key,
      body: { from: FROM, to: TO },
    });
    expect((await again.json()).changed).toBe(0);
    await rollup();
    expect((await kpis('metrics=cost,unpriced_tokens')).body.totals).toEqual(body.totals);
  });
});

describe('a re-price that reaches events before the rollup does', () => {
  it('counts each event once, at its current price, however many re-prices come first', async () => {
    const early = await tollgate.createTenant('Early re-price');
    const day = `${D1}T00:00:00Z`;
    const request = (method: string, path: string, body?: unknown) =>
      tollgate.request(method, path, { key: early.key, ...(body === undefined ? {} : { body }) });
    const totals = async () =>
      (
        await (
          await request('GET', `/v1/kpis?from=${FROM}&to=${TO}&metrics=cost,unpriced_tokens,cache_savings`)
        ).json()
      ).totals;
    const reprice = async () => {
      const response = await request('POST', '/v1/prices/reprice', { from: FROM, to: TO });
      expect(response.status).toBe(200);
      return response.json();
    };
    const rollupEarly = () =>
      tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${early.id}`, { key: OPERATOR_KEY });
    await request('POST', '/v1/usage', {
      events: [
        // $2.50 at list price; 1M cached tokens save $1.25 of $2.50.
        {
          id: 'listed',
          timestamp: at(D1, '10'),
          provider: 'openai',
          model: 'gpt-4o',
          usage: { input_tokens: 1_000_000, cached_input_tokens: 1_000_000 },
        },
        // Unpriced until an override prices it.
        {
          id: 'house',
          timestamp: at(D1, '11'),
          provider: 'custom',
          model: 'early-house-model',
          usage: { input_tokens: 2_000_000 },
        },
      ],
    });
    // Two re-prices before the rollup takes the events: 20 % off, then 50 % off, and the house
    // model priced at $1.50 per 1M input tokens.
    await request('PUT', '/v1/prices/overrides/openai/gpt-4o', { effective_from: day, discount_pct: '20' });
    await request('PUT', '/v1/prices/overrides/custom/early-house-model', {
      effective_from: day,
      rates: { input: '1.5', output: '1.5' },
    });
    expect(await reprice()).toMatchObject({ changed: 2, new_cost: '6.00000000' });
    await request('PUT', '/v1/prices/overrides/openai/gpt-4o', {
      effective_from: `${D1}T00:00:01Z`,
      discount_pct: '50',
    });
    expect(await reprice()).toMatchObject({ changed: 1, new_cost: '4.87500000' });
    await rollupEarly();
    // gpt-4o: (2.50 + 1.25) × 0.5 = 1.875, saving 0.625; house: 3.00.
    expect(await totals()).toEqual({ cost: '4.87500000', unpriced_tokens: 0, cache_savings: '0.62500000' });
    // A re-price after the rollup is carried by its correction as before.
    await request('PUT', '/v1/prices/overrides/openai/gpt-4o', {
      effective_from: `${D1}T00:00:02Z`,
      discount_pct: '0',
    });
    expect(await reprice()).toMatchObject({ changed: 1 });
    await rollupEarly();
    expect(await totals()).toEqual({ cost: '6.75000000', unpriced_tokens: 0, cache_savings: '1.25000000' });
  });
});

describe('a rollup catching up a backlog larger than its cap', () => {
  it('takes it in capped windows, losing and repeating nothing', async () => {
    const backlog = await tollgate.createTenant('Backlog');
    // 8 requests of 3 events; each request's events share one ingestion instant.
    for (let request = 0; request < 8; request++) {
      const events = [0, 1, 2].map((n) => ({
        id: `b${request}-${n}`,
        timestamp: at(D1, '12'),
        provider: 'openai',
        model: 'gpt-4o-mini',
        usage: { input_tokens: 1000 },
      }));
      const response = await tollgate.request('POST', '/v1/usage', { key: backlog.key, body: { events } });
      expect((await response.json()).accepted).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    let rolled = 0;
    let windows = 0;
    for (;;) {
      const result = await rollupTenant(tollgate.store.db, backlog.id, {
        now: new Date(),
        lagMs: 0,
        maxEvents: 4,
      });
      rolled += result.events;
      if (result.events > 0) windows++;
      expect(result.events).toBeLessThanOrEqual(4);
      if (result.caughtUp) break;
      expect(windows).toBeLessThan(30);
    }
    expect(rolled).toBe(24);
    expect(windows).toBeGreaterThan(1);
    const response = await tollgate.request('GET', `/v1/kpis?from=${FROM}&to=${TO}&metrics=cost,events`, {
      key: backlog.key,
    });
    // 24 × 1000 × $0.15 per 1M = $0.0036
    expect((await response.json()).totals).toEqual({ cost: '0.00360000', events: 24 });
  });
});
