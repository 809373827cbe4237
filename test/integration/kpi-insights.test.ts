import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent, InProcessBus } from '../../shared/bus/bus.js';
import { loseFirstAnswer } from '../helpers/lost-answer.js';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
const dayAt = (daysAgo: number, hour = 12) =>
  new Date(today - daysAgo * DAY + hour * 3_600_000).toISOString();

let tollgate: TestTollgate;
let tenant: { id: string; key: string };
const published: BusEvent[] = [];

async function ingest(events: unknown[], into: { key: string } = tenant) {
  for (let start = 0; start < events.length; start += 500) {
    const response = await tollgate.request('POST', '/v1/usage', {
      key: into.key,
      body: { events: events.slice(start, start + 500) },
    });
    expect(response.status).toBe(202);
    expect((await response.json()).rejected).toEqual([]);
  }
}

async function runRollup(of: { id: string } = tenant) {
  const response = await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${of.id}`, {
    key: OPERATOR_KEY,
  });
  expect(response.status).toBe(200);
  const summary = await response.json();
  await (tollgate.runtime.bus as InProcessBus).drain();
  return summary;
}

/** gpt-4o at $2.50 per 1M input tokens: 4,000 input tokens cost exactly $0.01. */
const cent = (id: string, timestamp: string, dimensions: Record<string, string>) => ({
  id,
  timestamp,
  provider: 'openai',
  model: 'gpt-4o',
  usage: { input_tokens: 4000 },
  dimensions,
});

/**
 * 34 days of steady spend, weekdays $0.04 and weekends $0.02, spread over customers; yesterday
 * one customer spends twenty times its usual amount.
 */
function insightEvents(): unknown[] {
  const events: unknown[] = [];
  for (let daysAgo = 34; daysAgo >= 1; daysAgo--) {
    const weekday = new Date(today - daysAgo * DAY).getUTCDay();
    const perDay = weekday === 0 || weekday === 6 ? 2 : 4;
    for (let n = 0; n < perDay; n++) {
      events.push(
        cent(`d${daysAgo}-${n}`, dayAt(daysAgo, 8 + n), {
          feature: n % 2 ? 'search' : 'chat',
          customer: `c${n}`,
        }),
      );
    }
  }
  for (let n = 0; n < 80; n++)
    events.push(cent(`spike-${n}`, dayAt(1, 14), { feature: 'chat', customer: 'c0' }));
  events.push({
    id: 'unpriced-1',
    timestamp: dayAt(2),
    provider: 'custom',
    model: 'mystery-model',
    usage: { input_tokens: 777 },
  });
  return events;
}

beforeAll(async () => {
  tollgate = await createTestTollgate({ env: { TOLLGATE_ROLLUP_LAG_SECONDS: '0' } });
  tenant = await tollgate.createTenant('Insights');
  (tollgate.runtime.bus as InProcessBus).subscribe('', async (event) => {
    published.push(event);
  });
  await ingest(insightEvents());
  await runRollup();
});
afterAll(() => tollgate.cleanup());

describe('anomalies', () => {
  it("finds yesterday's spike on totals and on one customer's share, publishes each once and lists them", async () => {
    const anomalies = published.filter((event) => event.type === 'anomaly.detected.v1');
    const metrics = anomalies.map((event) => event.data.metric).sort();
    expect(metrics).toContain('cost');
    expect(metrics).toContain('tokens');
    expect(metrics).toContain('customer_spend_share');
    const cost = anomalies.find((event) => event.data.metric === 'cost');
    const yesterdayWeekday = new Date(today - DAY).getUTCDay();
    const yesterdayCents = (yesterdayWeekday === 0 || yesterdayWeekday === 6 ? 2 : 4) + 80;
    expect(cost?.data).toMatchObject({
      direction: 'spike',
      date: dayAt(1).slice(0, 10),
      value: yesterdayCents / 100,
    });
    const share = anomalies.find((event) => event.data.metric === 'customer_spend_share');
    expect(share?.data.subject).toEqual({ customer: 'c0' });
    expect(cost?.tenant_id).toBe(tenant.id);

    const listed = await tollgate.request(
      'GET',
      `/v1/anomalies?from=${dayAt(7).slice(0, 10)}&to=${dayAt(-1).slice(0, 10)}`,
      { key: tenant.key },
    );
    expect(listed.status).toBe(200);
    const body = await listed.json();
    expect(body.data.map((event: BusEvent) => event.id).sort()).toEqual(
      anomalies.map((event) => event.id).sort(),
    );

    const before = published.length;
    await runRollup();
    expect(published.length).toBe(before);

    // A customer's view sees only the findings about that customer (here: its share dropped
    // while c0 spiked), never the tenant-wide ones.
    const view = await tollgate.mintKey(tenant.key, {
      name: 'c1 view',
      scopes: ['read'],
      restrict: { customer: 'c1' },
    });
    const restricted = await (
      await tollgate.request(
        'GET',
        `/v1/anomalies?from=${dayAt(7).slice(0, 10)}&to=${dayAt(-1).slice(0, 10)}`,
        { key: view.key },
      )
    ).json();
    expect(restricted.data.length).toBeGreaterThan(0);
    expect(
      restricted.data.every(
        (event: BusEvent) => (event.data.subject as { customer?: string }).customer === 'c1',
      ),
    ).toBe(true);
  });

  it("checks a day whose check mark's write lost its answer (the SDK retried it), instead of skipping it", async () => {
    const other = await tollgate.createTenant('Insights, lost answer');
    await ingest(insightEvents(), other);
    const losing = loseFirstAnswer(
      tollgate.runtime.db,
      (write) =>
        write.commandName === 'PutItemCommand' &&
        (write.Item?.sk?.S ?? '').includes('anomaly-check') &&
        (write.Item?.pk?.S ?? '').includes(other.id),
    );
    try {
      await runRollup(other);
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    const found = published.filter(
      (event) => event.type === 'anomaly.detected.v1' && event.tenant_id === other.id,
    );
    expect(found.map((event) => event.data.metric)).toContain('cost');
  });

  it('does not flag the weekly rhythm', async () => {
    const anomalies = published.filter((event) => event.type === 'anomaly.detected.v1');
    expect(anomalies.every((event) => event.data.date === dayAt(1).slice(0, 10))).toBe(true);
  });
});

describe('data quality', () => {
  it('tells once about usage of a model with no price', async () => {
    const notices = published.filter(
      (event) => event.type === 'data_quality.unpriced_usage.v1' && event.tenant_id === tenant.id,
    );
    expect(notices).toHaveLength(1);
    expect(notices[0]?.data).toEqual({
      provider: 'custom',
      model: 'mystery-model',
      date: dayAt(2).slice(0, 10),
      unpriced_tokens: 777,
    });
  });
});

describe('GET /v1/kpis/summary', () => {
  it('answers month to date, burn rate, a forecast inside its band, top drivers and unpriced usage', async () => {
    const response = await tollgate.request('GET', '/v1/kpis/summary', { key: tenant.key });
    expect(response.status).toBe(200);
    const summary = await response.json();
    // Expected from what was seeded in this month before today.
    const monthStart = Date.UTC(new Date(today).getUTCFullYear(), new Date(today).getUTCMonth(), 1);
    let cents = 0;
    let unpriced = 0;
    for (let daysAgo = 34; daysAgo >= 1; daysAgo--) {
      const day = today - daysAgo * DAY;
      if (day < monthStart) continue;
      const weekday = new Date(day).getUTCDay();
      cents += weekday === 0 || weekday === 6 ? 2 : 4;
      if (daysAgo === 1) cents += 80;
      if (daysAgo === 2) unpriced += 777;
    }
    expect(summary.month_to_date.cost).toBe((cents / 100).toFixed(8));
    expect(summary.unpriced).toEqual({ tokens: unpriced, events: unpriced ? 1 : 0 });
    expect(summary.period_start).toBe(new Date(monthStart).toISOString().replace('.000Z', 'Z'));
    const [low, forecast, high] = [summary.forecast.low, summary.forecast.cost, summary.forecast.high].map(
      Number,
    ) as [number, number, number];
    expect(low).toBeLessThanOrEqual(forecast);
    expect(forecast).toBeLessThanOrEqual(high);
    expect(forecast).toBeGreaterThanOrEqual(Number(summary.month_to_date.cost));
    expect(summary.forecast.method).not.toBe('');
    if (cents > 0) {
      expect(summary.top_drivers[0]).toMatchObject({ cost: expect.any(String) });
      expect(summary.top_drivers.map((driver: { attribute: string }) => driver.attribute)).toContain(
        'customer',
      );
    }

    const view = await tollgate.mintKey(tenant.key, {
      name: 'view',
      scopes: ['read'],
      restrict: { customer: 'c0' },
    });
    const refused = await tollgate.request('GET', '/v1/kpis/summary', { key: view.key });
    expect(refused.status).toBe(403);
    expect((await refused.json()).code).toBe('RESTRICTED_KEY');
  });
  /**
   * The summary, with the share of today (UTC) still to come bracketed by the clock read before and after
   * the call (the route reads its own clock), and the whole days left after today in this month.
   */
  async function summaryNow(key: string) {
    const before = Date.now();
    const response = await tollgate.request('GET', '/v1/kpis/summary', { key });
    const after = Date.now();
    expect(response.status).toBe(200);
    const monthEnd = Date.UTC(new Date(today).getUTCFullYear(), new Date(today).getUTCMonth() + 1, 0);
    return {
      summary: await response.json(),
      remaining: [(today + DAY - after) / DAY, (today + DAY - before) / DAY] as const,
      daysAfterToday: (monthEnd - today) / DAY,
    };
  }

  /** An event of today, already past: a second ago, or at midnight in the day's first second. */
  const todayAt = () => new Date(Math.max(today, Date.now() - 1000)).toISOString();

  it("forecasts month-to-date including today's spend so far plus the level for the rest of today and each later day", async () => {
    // The QA repro: 3 days ago $0.06, yesterday $0.03: a $0.03 daily level (3-day average, ±50%).
    const spender = await tollgate.createTenant('Forecast with today running');
    await ingest(
      [
        ...[0, 1, 2, 3, 4, 5].map((n) => cent(`p${n}`, dayAt(3, 8 + n), {})),
        ...[0, 1, 2].map((n) => cent(`y${n}`, dayAt(1, 8 + n), {})),
        // Today so far: $0.05, more than the level's full day, so it cannot be mistaken for one.
        ...[0, 1, 2, 3, 4].map((n) => cent(`t${n}`, todayAt(), {})),
      ],
      spender,
    );
    await runRollup(spender);
    const monthStart = Date.UTC(new Date(today).getUTCFullYear(), new Date(today).getUTCMonth(), 1);
    const past = (today - 3 * DAY >= monthStart ? 0.06 : 0) + (today - DAY >= monthStart ? 0.03 : 0);

    const expectRest = (
      { summary, remaining, daysAfterToday }: Awaited<ReturnType<typeof summaryNow>>,
      monthToDate: number,
    ) => {
      expect(Number(summary.month_to_date.cost)).toBeCloseTo(monthToDate, 8);
      expect(summary.burn_rate_per_day).toBe('0.03000000');
      const [cost, low, high] = [summary.forecast.cost, summary.forecast.low, summary.forecast.high].map(
        (value: string) => Number(value) - monthToDate,
      ) as [number, number, number];
      // The rest: $0.03 × (the share of today still to come + each later day of the month), band ±50%.
      const [fewest, most] = remaining.map((share) => 0.03 * (share + daysAfterToday)) as [number, number];
      expect(cost).toBeGreaterThanOrEqual(fewest - 1e-8);
      expect(cost).toBeLessThanOrEqual(most + 1e-8);
      expect(low).toBeCloseTo(cost / 2, 7);
      expect(high).toBeCloseTo(cost * 1.5, 7);
      expect(low).toBeGreaterThanOrEqual(0);
      expect(low).toBeLessThanOrEqual(cost);
      expect(cost).toBeLessThanOrEqual(high);
    };

    expectRest(await summaryNow(spender.key), past + 0.05);

    // A $10 spike today: the month is not over, the rest is still to be spent on top of it.
    await ingest(
      [
        {
          id: 'spike',
          timestamp: todayAt(),
          provider: 'openai',
          model: 'gpt-4o',
          usage: { input_tokens: 4_000_000 },
        },
      ],
      spender,
    );
    await runRollup(spender);
    const spiked = await summaryNow(spender.key);
    expectRest(spiked, past + 10.05);
    expect(spiked.summary.forecast.method).toMatch(/3-day average/);

    // A tenant whose only spend is today's: it counts, and without history nothing more is forecast.
    const newcomer = await tollgate.createTenant('Forecast, first day');
    await ingest([cent('first', todayAt(), {})], newcomer);
    await runRollup(newcomer);
    const { summary } = await summaryNow(newcomer.key);
    expect(summary.month_to_date.cost).toBe('0.01000000');
    expect(summary.forecast).toMatchObject({ cost: '0.01000000', low: '0.01000000', high: '0.01000000' });
  });

  it('names a top model driver by its priced name, as GET /v1/kpis groups it', async () => {
    const spellings = await tollgate.createTenant('Summary, model spellings');
    await ingest(
      [
        { ...cent('alias', todayAt(), {}), usage: { input_tokens: 400_000 } },
        { ...cent('snapshot', todayAt(), {}), model: 'gpt-4o-2024-08-06', usage: { input_tokens: 400_000 } },
      ],
      spellings,
    );
    await runRollup(spellings);
    const { summary } = await summaryNow(spellings.key);
    const models = summary.top_drivers.filter(
      (driver: { attribute: string }) => driver.attribute === 'model',
    );
    expect(models).toEqual([{ attribute: 'model', value: 'gpt-4o', cost: '2.00000000', share_pct: 100 }]);
  });
});

describe('the runtime clock', () => {
  it('is the one the summary reads: its month, month to date and the share of today left', async () => {
    // 18:00 UTC on 20 November; ten whole days of the month are left after it.
    let clock = new Date('2026-11-20T18:00:00Z');
    const clocked = await createTestTollgate({ env: { TOLLGATE_ROLLUP_LAG_SECONDS: '0' }, now: () => clock });
    try {
      const spender = await clocked.createTenant('Clocked');
      const at = (day: number, hour: number) => `2026-11-${day}T${String(hour).padStart(2, '0')}:00:00Z`;
      const response = await clocked.request('POST', '/v1/usage', {
        key: spender.key,
        body: {
          events: [
            // Three days ago $0.06, yesterday $0.03: a $0.03 daily level; today so far $0.05.
            ...[0, 1, 2, 3, 4, 5].map((n) => cent(`p${n}`, at(17, 8 + n), {})),
            ...[0, 1, 2].map((n) => cent(`y${n}`, at(19, 8 + n), {})),
            ...[0, 1, 2, 3, 4].map((n) => cent(`t${n}`, at(20, 10 + n), {})),
          ],
        },
      });
      expect((await response.json()).accepted).toBe(14);
      // A minute on: the rollup takes what was ingested before its own clock's now.
      clock = new Date('2026-11-20T18:01:00Z');
      const rollup = await clocked.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${spender.id}`, {
        key: OPERATOR_KEY,
      });
      expect(rollup.status).toBe(200);

      const summary = await (await clocked.request('GET', '/v1/kpis/summary', { key: spender.key })).json();
      expect(summary.period_start).toBe('2026-11-01T00:00:00Z');
      expect(summary.month_to_date.cost).toBe('0.14000000');
      expect(summary.burn_rate_per_day).toBe('0.03000000');
      // $0.14 so far + $0.03 × (the 359 minutes left of today + 10 days): the clock is the test's.
      expect(Number(summary.forecast.cost)).toBeCloseTo(0.14 + 0.03 * (359 / 1440 + 10), 8);
    } finally {
      await clocked.cleanup();
    }
  });
});
