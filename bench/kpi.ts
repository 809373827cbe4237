/**
 * `npm run bench:kpi`: the KPI engine at 100,000 and at 1,000,000 events.
 *
 * For each size, on the local server's engine (dynalite on disk, as `npm start`):
 * 1. stores N usage events over 90 days for one tenant (3 dimensions with 20, 50 and 5 values,
 *    10 models) plus N/10 outcomes, priced as ingestion prices them, written straight into the
 *    raw event store in time order (the API refuses events older than 35 days, and loading is
 *    not what is measured);
 * 2. runs the kpi-rollup until it has caught up and reports events/s;
 * 3. then times GET /v1/kpis over real HTTP — 90 days by day, grouped by one dimension and
 *    filtered by another — for every size in turn, query by query, so both sizes are timed under
 *    the same machine conditions, and reports p50 and p95.
 * Then prints the ratio of the two p95s (target ≤ 1.5: query cost must not grow with events)
 * and checks p95 ≤ 200 ms.
 *
 * Options: --sizes=100000,1000000 --queries=200
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { startLocalTollgate } from '../local/local-mode.js';
import { loadConfig } from '../shared/config/config.js';
import { keys } from '../shared/db/keys.js';
import { dedupeKeyOf } from '../shared/ingest/envelope.js';
import { rollupTenant } from '../shared/kpis/rollup.js';
import { toDecimalString } from '../shared/money/money.js';
import { cacheSavings, compactBreakdown, computeCost } from '../shared/pricing/cost.js';
import { compactUsage } from '../shared/usage/service.js';
import { mulberry32 } from '../test/helpers/random.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    queries: { type: 'string', default: '200' },
  },
});
const SIZES = values.sizes.split(',').map(Number);
const QUERIES = Number(values.queries);
const DAY = 86_400_000;

const MODELS: [string, string][] = [
  ['openai', 'gpt-4o'],
  ['openai', 'gpt-4o-mini'],
  ['openai', 'gpt-4.1'],
  ['openai', 'gpt-4.1-mini'],
  ['openai', 'o3'],
  ['anthropic', 'claude-sonnet-4-5'],
  ['anthropic', 'claude-haiku-4-5'],
  ['google', 'gemini-2.5-pro'],
  ['google', 'gemini-2.5-flash'],
  ['mistral', 'mistral-large-latest'],
];

const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-bench-kpi-'));
const config = loadConfig({
  PORT: '0',
  TOLLGATE_DATA_DIR: dataDir,
  TOLLGATE_LOG_LEVEL: 'warn',
  TOLLGATE_RATE_LIMIT_PER_SECOND: '100000',
  TOLLGATE_RATE_LIMIT_BURST: '100000',
  // The scheduler stays out of the way: the bench runs the rollup itself.
  TOLLGATE_ROLLUP_INTERVAL_SECONDS: '86400',
});
const tollgate = await startLocalTollgate(config);
const { db, services } = tollgate.runtime;
const end = Math.floor(Date.now() / DAY) * DAY;
const start = end - 90 * DAY;

async function createTenant(name: string) {
  const response = await fetch(`${tollgate.url}/v1/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tollgate.operatorKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const body = (await response.json()) as { id: string; api_key: { key: string } };
  return { id: body.id, key: body.api_key.key };
}

async function writeAll(items: Record<string, unknown>[]) {
  let requests = items.map((Item) => ({ PutRequest: { Item } }));
  while (requests.length > 0) {
    const result = await db.client.send(
      new BatchWriteCommand({ RequestItems: { [db.tableName]: requests } }),
    );
    requests = (result.UnprocessedItems?.[db.tableName] ?? []) as typeof requests;
  }
}

async function load(tenantId: string, events: number) {
  const random = mulberry32(events);
  const pricer = await services.pricing.tenantPricer(tenantId);
  const limit = pLimit(8);
  const pending: Promise<void>[] = [];
  let batch: Record<string, unknown>[] = [];
  const flush = () => {
    const items = batch;
    batch = [];
    pending.push(limit(() => writeAll(items)));
  };
  const store = (
    kind: 'usage' | 'outcome',
    dedupeKey: string,
    ts: number,
    attributes: Record<string, unknown>,
  ) => {
    const timestamp = new Date(ts).toISOString();
    const ingested = new Date(ts + 1000).toISOString();
    batch.push({
      ...attributes,
      kind,
      ts: timestamp,
      ...keys.rawEvent(tenantId, kind, dedupeKey),
      ...keys.rawEventIngested(tenantId, kind, dedupeKey, ingested),
      ing: ingested,
    });
    if (batch.length === 25) flush();
  };
  const slot = (end - start - 2000) / events;
  for (let i = 0; i < events; i++) {
    const ts = Math.floor(start + i * slot + random() * slot);
    const [provider, model] = MODELS[Math.floor(random() * MODELS.length)] as [string, string];
    const usage = {
      input_tokens: 200 + Math.floor(random() * 3000),
      cached_input_tokens: random() < 0.4 ? Math.floor(random() * 2000) : 0,
      cache_write_tokens: 0,
      cache_write_1h_tokens: 0,
      output_tokens: 50 + Math.floor(random() * 800),
      reasoning_tokens: 0,
    };
    const price = pricer.priceAt(provider, model, new Date(ts));
    const priced = price ? computeCost(usage, price, 'standard') : undefined;
    store('usage', dedupeKeyOf(`bench-${i}`), ts, {
      id: `bench-${i}`,
      prov: provider,
      model,
      tier: 'standard',
      rc: 1,
      u: compactUsage(usage),
      dims: {
        feature: `feature-${Math.floor(random() * 20)}`,
        customer: `customer-${Math.floor(random() * 50)}`,
        team: `team-${Math.floor(random() * 5)}`,
      },
      ...(price && priced
        ? {
            cost: toDecimalString(priced.cost),
            price: price.price_id,
            cb: compactBreakdown(priced),
            sav: toDecimalString(cacheSavings(usage, priced)),
          }
        : {}),
    });
    if (i % 10 === 0) {
      store('outcome', dedupeKeyOf(`outcome-${i}`), ts, {
        id: `outcome-${i}`,
        name: 'ticket_resolved',
        value: '1',
        dims: {
          feature: `feature-${Math.floor(random() * 20)}`,
          customer: `customer-${Math.floor(random() * 50)}`,
        },
      });
    }
  }
  if (batch.length > 0) flush();
  await Promise.all(pending);
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

const results: { events: number; rollupRate: number; p50: number; p95: number; loadSeconds: number }[] = [];
const tenants: { id: string; key: string; size: number; timings: number[] }[] = [];
for (const size of SIZES) {
  const tenant = await createTenant(`bench-${size}`);
  const loadStarted = performance.now();
  await load(tenant.id, size);
  const loadSeconds = (performance.now() - loadStarted) / 1000;

  const rollupStarted = performance.now();
  let rolled = 0;
  for (;;) {
    const result = await rollupTenant(db, tenant.id, {
      now: new Date(),
      lagMs: 0,
      maxEvents: config.rollupMaxEvents,
    });
    rolled += result.events;
    if (result.caughtUp) break;
  }
  const rollupSeconds = (performance.now() - rollupStarted) / 1000;
  results.push({ events: rolled, rollupRate: rolled / rollupSeconds, p50: 0, p95: 0, loadSeconds });
  tenants.push({ ...tenant, size, timings: [] });
  process.stdout.write(
    `${size.toLocaleString('en-US')} events: stored in ${loadSeconds.toFixed(0)} s; rollup ${Math.round(rolled / rollupSeconds).toLocaleString('en-US')} events/s (${rollupSeconds.toFixed(0)} s)\n`,
  );
}

// The sizes' queries take turns, so both are timed under the same conditions (this machine is
// shared: a load that changes between two timed phases would pass for a change in query cost).
const random = mulberry32(7);
const from = new Date(start).toISOString().replace('.000Z', 'Z');
const to = new Date(end).toISOString().replace('.000Z', 'Z');
for (let q = 0; q < QUERIES + 5; q++) {
  const customer = `customer-${Math.floor(random() * 50)}`;
  for (const tenant of tenants) {
    const url = `${tollgate.url}/v1/kpis?metrics=cost,tokens,requests,cost_per_1k_tokens&from=${from}&to=${to}&granularity=day&group_by=feature&filter[customer]=${customer}`;
    const started = performance.now();
    const response = await fetch(url, { headers: { authorization: `Bearer ${tenant.key}` } });
    const body = (await response.json()) as { series: unknown[] };
    const elapsed = performance.now() - started;
    if (response.status !== 200 || body.series.length === 0)
      throw new Error(`query failed: ${response.status}`);
    if (q >= 5) tenant.timings.push(elapsed); // the first five warm the caches
  }
}
tenants.forEach((tenant, i) => {
  const timings = tenant.timings.sort((a, b) => a - b);
  const result = results[i] as (typeof results)[number];
  result.p50 = percentile(timings, 50);
  result.p95 = percentile(timings, 95);
  process.stdout.write(
    `${tenant.size.toLocaleString('en-US')} events: GET /v1/kpis p50 ${result.p50.toFixed(1)} ms, p95 ${result.p95.toFixed(1)} ms (${timings.length} queries)\n`,
  );
});

await tollgate.stop();
await rm(dataDir, { recursive: true, force: true });

if (results.length === 2) {
  const [small, large] = results as [(typeof results)[number], (typeof results)[number]];
  const ratio = large.p95 / small.p95;
  process.stdout.write(
    `p95 ratio ${large.events.toLocaleString('en-US')} / ${small.events.toLocaleString('en-US')} events: ${ratio.toFixed(2)} (target ≤ 1.5); p95 at the larger size ${large.p95.toFixed(1)} ms (target ≤ 200 ms)\n`,
  );
}
