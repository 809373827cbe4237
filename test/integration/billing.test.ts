import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { billedCost } from '../../shared/billing/reconciliation.js';
import { acquireSyncLease, recordSyncOutcome } from '../../shared/billing/repository.js';
import type { SyncSummary } from '../../shared/billing/schema.js';
import type { BusEvent, InProcessBus } from '../../shared/bus/bus.js';
import { billedLinesPartition, keys } from '../../shared/db/keys.js';
import { createLogger, type Logger } from '../../shared/observability/logger.js';
import { type FakeProviders, startFakeProviders } from '../helpers/fake-providers.js';
import { loseFirstAnswer } from '../helpers/lost-answer.js';
import { createTestTollgate, type Engine, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
const dayAgo = (n: number) => new Date(today - n * DAY).toISOString().slice(0, 10);
const D1 = dayAgo(5);
const D2 = dayAgo(4);
const TODAY = dayAgo(0);
const TOMORROW = dayAgo(-1);

interface World {
  fake: FakeProviders;
  tollgate: TestTollgate;
  tenant: { id: string; key: string };
  published: BusEvent[];
}

let worlds: World[] = [];
afterEach(async () => {
  for (const world of worlds) {
    await world.tollgate.cleanup();
    await world.fake.close();
  }
  worlds = [];
});

/** A fresh Tollgate pointed at fresh fake providers serving the reconciling fixtures. */
async function createWorld(
  env: Record<string, string> = {},
  logger?: Logger,
  engine: Engine = 'dynamodb-local',
): Promise<World> {
  const fake = await startFakeProviders();
  fake.load('openai', 'costs', 'openai/costs_grouped_line_item_project.json', D1);
  fake.load('openai', 'usage/completions', 'openai/usage_completions_grouped_page1.json', D1);
  fake.load('openai', 'usage/completions', 'openai/usage_completions_grouped_page2.json', dayAgo(3));
  fake.load('openai', 'usage/embeddings', 'openai/usage_embeddings.json', D1);
  fake.load('anthropic', 'cost_report', 'anthropic/cost_report_grouped.json', D1);
  fake.load('anthropic', 'usage_report/messages', 'anthropic/usage_report_messages_grouped.json', D1);
  const tollgate = await createTestTollgate({
    env: {
      TOLLGATE_OPENAI_BASE_URL: fake.openaiUrl,
      TOLLGATE_ANTHROPIC_BASE_URL: fake.anthropicUrl,
      TOLLGATE_ROLLUP_LAG_SECONDS: '0',
      TOLLGATE_BILLING_BACKFILL_DAYS: '10',
      TOLLGATE_PROVIDER_RETRY_BASE_MS: '10',
      TOLLGATE_PROVIDER_MAX_RETRIES: '3',
      TOLLGATE_PROVIDER_TIMEOUT_MS: '400',
      ...env,
    },
    ...(logger ? { logger } : {}),
    engine,
  });
  const tenant = await tollgate.createTenant('Billing');
  const published: BusEvent[] = [];
  (tollgate.runtime.bus as InProcessBus).subscribe('billing.', async (event) => {
    published.push(event);
  });
  const world = { fake, tollgate, tenant, published };
  worlds.push(world);
  return world;
}

async function connect(world: World, provider: 'openai' | 'anthropic', apiKey?: string) {
  const response = await world.tollgate.request('POST', '/v1/provider-connections', {
    key: world.tenant.key,
    body: {
      provider,
      api_key: apiKey ?? (provider === 'openai' ? world.fake.openaiKey : world.fake.anthropicKey),
      name: `${provider} org`,
    },
  });
  expect(response.status).toBe(201);
  return response.json();
}

async function sync(world: World, connectionId: string) {
  const response = await world.tollgate.request('POST', `/v1/provider-connections/${connectionId}/sync`, {
    key: world.tenant.key,
  });
  expect(response.status).toBe(200);
  return response.json();
}

/** The usage events that match the fixtures' bills exactly at catalog prices. */
async function ingestMatchingUsage(world: World) {
  const at = (day: string, hour: string) => `${day}T${hour}:00:00Z`;
  const response = await world.tollgate.request('POST', '/v1/usage', {
    key: world.tenant.key,
    body: {
      events: [
        {
          id: 'o1',
          timestamp: at(D1, '10'),
          provider: 'openai',
          model: 'gpt-4o-2024-08-06',
          usage: { input_tokens: 920000, cached_input_tokens: 600000, output_tokens: 210000 },
          cost: { amount: '5.15', currency: 'USD' },
        },
        {
          id: 'o2',
          timestamp: at(D1, '11'),
          provider: 'openai',
          model: 'gpt-4o-mini-2024-07-18',
          usage: { input_tokens: 4000000, output_tokens: 800000 },
          cost: { amount: '1.08', currency: 'USD' },
        },
        {
          id: 'o3',
          timestamp: at(D1, '12'),
          provider: 'openai',
          model: 'gpt-4o-mini',
          usage: { input_tokens: 372000, cached_input_tokens: 128000, output_tokens: 50000 },
          cost: { amount: '0.0954', currency: 'USD' },
        },
        {
          id: 'o4',
          timestamp: at(D2, '09'),
          provider: 'openai',
          model: 'gpt-4o-2024-08-06',
          usage: { input_tokens: 100000, output_tokens: 20000 },
          cost: { amount: '0.40', currency: 'USD' },
        },
        {
          id: 'a1',
          timestamp: at(D1, '15'),
          provider: 'anthropic',
          model: 'claude-sonnet-4-5-20250929',
          usage: {
            input_tokens: 150000,
            cached_input_tokens: 40000,
            cache_write_tokens: 8000,
            output_tokens: 10000,
          },
        },
      ],
    },
  });
  expect(response.status).toBe(202);
  expect((await response.json()).rejected).toEqual([]);
  const rollup = await world.tollgate.request(
    'POST',
    `/v1/admin/jobs/kpi-rollup/run?tenant_id=${world.tenant.id}`,
    {
      key: OPERATOR_KEY,
    },
  );
  expect(rollup.status).toBe(200);
}

async function reconciliation(world: World, query = `from=${D1}&to=${TODAY}`) {
  const response = await world.tollgate.request('GET', `/v1/billing/reconciliation?${query}`, {
    key: world.tenant.key,
  });
  return { status: response.status, body: await response.json() };
}

/** Every billed line of the tenant, as stored. */
async function storedLines(world: World) {
  const { Items = [] } = await world.tollgate.store.db.client.send(
    new QueryCommand({
      TableName: world.tollgate.store.db.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': billedLinesPartition(world.tenant.id) },
    }),
  );
  return Items;
}

const costOf = (lines: Record<string, unknown>[], day: string) =>
  lines
    .filter((line) => line.kind === 'cost' && line.day === day)
    .reduce((sum, line) => sum + Math.round(Number(line.amount) * 1e6), 0);

describe('provider connections', () => {
  it('stores the key encrypted, never returns it, and lists, reads and deletes connections', async () => {
    const world = await createWorld();
    const created = await connect(world, 'openai');
    expect(created).toMatchObject({
      provider: 'openai',
      name: 'openai org',
      status: 'pending',
      synced_through: null,
      last_sync: null,
      last_error: null,
      key_hint: `…${world.fake.openaiKey.slice(-4)}`,
    });
    expect(created.id).toMatch(/^pcn_[0-9A-Z]{26}$/);
    expect(JSON.stringify(created)).not.toContain(world.fake.openaiKey);

    // At rest: no trace of the key in the item, only the envelope.
    const { Item } = await world.tollgate.store.db.client.send(
      new GetCommand({
        TableName: world.tollgate.store.db.tableName,
        Key: keys.providerConnection(world.tenant.id, created.id),
      }),
    );
    expect(JSON.stringify(Item)).not.toContain(world.fake.openaiKey);
    expect(JSON.stringify(Item)).not.toContain(world.fake.openaiKey.slice(0, 12));
    expect(Item?.credential).toMatchObject({ v: 1, kek: 'local' });
    // The local key-encryption key was created on first use, readable by its owner only.
    const keyFile = await stat(join(world.tollgate.runtime.config.dataDir, 'credentials.key'));
    expect(keyFile.mode & 0o777).toBe(0o600);

    const list = await (
      await world.tollgate.request('GET', '/v1/provider-connections', { key: world.tenant.key })
    ).json();
    expect(list.data.map((connection: { id: string }) => connection.id)).toEqual([created.id]);
    expect(JSON.stringify(list)).not.toContain(world.fake.openaiKey);
    const one = await world.tollgate.request('GET', `/v1/provider-connections/${created.id}`, {
      key: world.tenant.key,
    });
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual(created);

    const deleted = await world.tollgate.request('DELETE', `/v1/provider-connections/${created.id}`, {
      key: world.tenant.key,
    });
    expect(deleted.status).toBe(204);
    const gone = await world.tollgate.request('GET', `/v1/provider-connections/${created.id}`, {
      key: world.tenant.key,
    });
    expect(gone.status).toBe(404);
    expect((await gone.json()).code).toBe('PROVIDER_CONNECTION_NOT_FOUND');
    const again = await world.tollgate.request('DELETE', `/v1/provider-connections/${created.id}`, {
      key: world.tenant.key,
    });
    expect(again.status).toBe(404);
  });

  it('creates a connection whose write lost its answer (the SDK retried it), instead of a 409', async () => {
    const world = await createWorld();
    const losing = loseFirstAnswer(
      world.tollgate.runtime.db,
      (write) => write.commandName === 'PutItemCommand' && write.Item?.entity?.S === 'provider_connection',
    );
    let connection: { id: string };
    try {
      connection = await connect(world, 'openai');
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    const listed = await (
      await world.tollgate.request('GET', '/v1/provider-connections', { key: world.tenant.key })
    ).json();
    expect(listed.data.map((item: { id: string }) => item.id)).toEqual([connection.id]);
    expect((await sync(world, connection.id)).connection).toMatchObject({ status: 'ok', last_error: null });
  });

  it('refuses bad input with field paths, and takes no base URL from the tenant', async () => {
    const world = await createWorld();
    const bad = await world.tollgate.request('POST', '/v1/provider-connections', {
      key: world.tenant.key,
      body: { provider: 'gemini', api_key: 'x' },
    });
    expect(bad.status).toBe(400);
    const problem = await bad.json();
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors.map((error: { path: string }) => error.path).sort()).toEqual([
      'api_key',
      'provider',
    ]);

    const withUrl = await world.tollgate.request('POST', '/v1/provider-connections', {
      key: world.tenant.key,
      body: { provider: 'openai', api_key: world.fake.openaiKey, base_url: 'http://169.254.169.254' },
    });
    expect(withUrl.status).toBe(400);
    const unknownId = await world.tollgate.request('POST', '/v1/provider-connections/pcn_nope/sync', {
      key: world.tenant.key,
    });
    expect(unknownId.status).toBe(404);
  });
});

describe('connection lifecycle', () => {
  it('refuses a second sync while one runs, until its lease expires', async () => {
    const world = await createWorld();
    const openai = await connect(world, 'openai');
    const now = new Date();
    expect(
      await acquireSyncLease(
        world.tollgate.store.db,
        world.tenant.id,
        openai.id,
        now,
        new Date(now.getTime() + 60_000),
      ),
    ).toEqual(expect.any(String));
    const busy = await world.tollgate.request('POST', `/v1/provider-connections/${openai.id}/sync`, {
      key: world.tenant.key,
    });
    expect(busy.status).toBe(409);
    expect((await busy.json()).code).toBe('SYNC_RUNNING');
    expect(world.fake.requests).toHaveLength(0);
    // A lease from a crashed sync, expired: the next sync takes over.
    const past = new Date(now.getTime() - 120_000);
    const world2 = await createWorld();
    const other = await connect(world2, 'openai');
    await acquireSyncLease(
      world2.tollgate.store.db,
      world2.tenant.id,
      other.id,
      past,
      new Date(past.getTime() + 60_000),
    );
    expect((await sync(world2, other.id)).sync.outcome).toBe('ok');
  });

  it('lets a sync that outlived its lease neither free the newer sync’s lease nor record over it', async () => {
    const world = await createWorld();
    const openai = await connect(world, 'openai');
    const db = world.tollgate.runtime.db;
    const now = new Date();
    const startedLongAgo = new Date(now.getTime() - 20 * 60_000);
    const outlived = await acquireSyncLease(
      db,
      world.tenant.id,
      openai.id,
      startedLongAgo,
      new Date(startedLongAgo.getTime() + 15 * 60_000),
    );
    // Its lease expired: a newer sync takes over and is still running.
    const newer = await acquireSyncLease(
      db,
      world.tenant.id,
      openai.id,
      now,
      new Date(now.getTime() + 60_000),
    );
    expect(outlived).toEqual(expect.any(String));
    expect(newer).toEqual(expect.any(String));
    const summaryOf = (startedAt: Date, outcome: 'ok' | 'error'): SyncSummary => ({
      started_at: startedAt.toISOString(),
      finished_at: now.toISOString(),
      outcome,
      from: D1,
      to: TOMORROW,
      days: 0,
      lines: 0,
      added: 0,
      updated: 0,
      removed: 0,
      error: outcome === 'ok' ? null : 'the old sync failed',
    });

    // The old sync finishes at last: nothing of it is recorded, and the newer lease stands.
    expect(
      await recordSyncOutcome(
        db,
        world.tenant.id,
        openai.id,
        outlived as string,
        summaryOf(startedLongAgo, 'error'),
        undefined,
      ),
    ).toBe(false);
    const shown = await world.tollgate.request('GET', `/v1/provider-connections/${openai.id}`, {
      key: world.tenant.key,
    });
    expect(await shown.json()).toMatchObject({ last_sync: null, last_error: null });
    const busy = await world.tollgate.request('POST', `/v1/provider-connections/${openai.id}/sync`, {
      key: world.tenant.key,
    });
    expect(busy.status).toBe(409);

    // The newer sync's outcome is recorded (a lost answer included) and frees the lease.
    const losing = loseFirstAnswer(
      world.tollgate.runtime.db,
      (write) =>
        write.commandName === 'UpdateItemCommand' && write.ConditionExpression === 'lease_token = :token',
    );
    try {
      expect(
        await recordSyncOutcome(db, world.tenant.id, openai.id, newer as string, summaryOf(now, 'ok'), D2),
      ).toBe(true);
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    const after = await world.tollgate.request('GET', `/v1/provider-connections/${openai.id}`, {
      key: world.tenant.key,
    });
    expect(await after.json()).toMatchObject({ status: 'ok', last_sync: { started_at: now.toISOString() } });
    expect((await sync(world, openai.id)).sync.outcome).toBe('ok');
  });

  it('runs a sync whose lease write lost its answer (the SDK retried it), and frees the lease after', async () => {
    const world = await createWorld();
    const openai = await connect(world, 'openai');
    const losing = loseFirstAnswer(
      world.tollgate.runtime.db,
      (write) =>
        write.commandName === 'UpdateItemCommand' &&
        write.UpdateExpression?.startsWith('SET lease_until = :until') === true,
    );
    let first: { sync: { outcome: string }; connection: unknown };
    try {
      first = await sync(world, openai.id);
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(first.sync.outcome).toBe('ok');
    expect(first.connection).toMatchObject({ status: 'ok', last_error: null });
    expect(await storedLines(world)).toHaveLength(17);
    // The lease went with the sync's outcome: the next sync is not refused as running.
    expect((await sync(world, openai.id)).sync.outcome).toBe('ok');
  });

  it('removes the lines of a deleted connection from the store and the reconciliation', async () => {
    const world = await createWorld();
    const openai = await connect(world, 'openai');
    await sync(world, openai.id);
    expect(await storedLines(world)).toHaveLength(17);
    expect((await reconciliation(world)).body.totals.billed_cost).toBe('6.80067100');
    const deleted = await world.tollgate.request('DELETE', `/v1/provider-connections/${openai.id}`, {
      key: world.tenant.key,
    });
    expect(deleted.status).toBe(204);
    expect(await storedLines(world)).toHaveLength(0);
    expect((await reconciliation(world)).body).toMatchObject({ data: [], connections: [] });
  });

  it('a connection delete whose answer was lost (the SDK retried it) answers 204 and removes its lines', async () => {
    const world = await createWorld();
    const openai = await connect(world, 'openai');
    await sync(world, openai.id);
    expect(await storedLines(world)).toHaveLength(17);
    const losing = loseFirstAnswer(
      world.tollgate.runtime.db,
      (write) =>
        write.commandName === 'DeleteItemCommand' &&
        write.Key?.sk?.S === keys.providerConnection(world.tenant.id, openai.id).sk,
    );
    let deleted: Response;
    try {
      deleted = await world.tollgate.request('DELETE', `/v1/provider-connections/${openai.id}`, {
        key: world.tenant.key,
      });
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(deleted.status).toBe(204);
    expect(await storedLines(world)).toHaveLength(0);
  });

  it('keeps the drift threshold per tenant and validates it', async () => {
    const world = await createWorld();
    const initial = await world.tollgate.request('GET', '/v1/billing/settings', { key: world.tenant.key });
    expect(await initial.json()).toEqual({ drift_threshold_pct: '5', updated_at: null });
    for (const bad of [0, -1, '150', 'abc', '1.123456']) {
      const response = await world.tollgate.request('PUT', '/v1/billing/settings', {
        key: world.tenant.key,
        body: { drift_threshold_pct: bad },
      });
      expect(response.status, String(bad)).toBe(400);
      expect((await response.json()).errors[0].path).toBe('drift_threshold_pct');
    }
    const badRange = await reconciliation(world, `from=${TODAY}&to=${D1}`);
    expect(badRange.status).toBe(400);
    const badProvider = await reconciliation(world, `from=${D1}&to=${TODAY}&provider=azure`);
    expect(badProvider.status).toBe(400);
    expect(badProvider.body.errors[0].path).toBe('query.provider');
  });
});

describe('credentials in logs', () => {
  it('never writes a provider key to a log line, whatever happens to the sync', async () => {
    const lines: string[] = [];
    const logger = createLogger('trace', {}, { write: (line: string) => lines.push(line) });
    const world = await createWorld({}, logger);
    const openai = await connect(world, 'openai');
    const refusedKey = 'sk-ant-admin01-refused-key-987654321';
    const anthropic = await connect(world, 'anthropic', refusedKey);
    world.fake.fault('openai', 'costs', { status: 500, times: 1 });
    await sync(world, openai.id);
    await sync(world, anthropic.id);
    await world.tollgate.request('POST', '/v1/admin/jobs/billing-pull/run', { key: OPERATOR_KEY });
    // Whatever a future change logs by mistake, the redaction catches the usual places.
    logger.warn({ api_key: refusedKey, request: { headers: { 'x-api-key': refusedKey } } }, 'careless');
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.some((line) => line.includes('billing pull failed'))).toBe(true);
    for (const line of lines) {
      expect(line).not.toContain(world.fake.openaiKey);
      expect(line).not.toContain(refusedKey);
    }
  });
});

describe('billing pull and three-way reconciliation', () => {
  it('stores every bucket once, reconciles the constructed pair at 0% drift, and a second sync changes nothing', async () => {
    // A trailing window reaching the fixtures' days, so the second sync re-reads every billed line.
    const world = await createWorld({ TOLLGATE_BILLING_TRAILING_DAYS: '7' });
    await ingestMatchingUsage(world);
    const openai = await connect(world, 'openai');
    const anthropic = await connect(world, 'anthropic');

    const first = await sync(world, openai.id);
    expect(first.sync).toMatchObject({
      outcome: 'ok',
      error: null,
      from: dayAgo(9),
      to: TOMORROW,
      // 10 days × (costs, completions, embeddings)
      days: 30,
      // costs 10 + 2, completions 3 + 1, embeddings 1
      lines: 17,
      added: 17,
      updated: 0,
      removed: 0,
    });
    expect(first.connection).toMatchObject({ status: 'ok', synced_through: TODAY, last_error: null });
    expect(first.connection.last_success_at).toBe(first.sync.finished_at);
    expect((await sync(world, anthropic.id)).sync).toMatchObject({ outcome: 'ok', lines: 6, added: 6 });

    const lines = await storedLines(world);
    expect(lines).toHaveLength(23);
    expect(costOf(lines, D1)).toBe(
      // OpenAI: 5.15 + 1.1754 + 0.025271 (non-model lines); Anthropic: 0.642 + 0.10 (web search)
      Math.round((5.15 + 1.1754 + 0.025271 + 0.642 + 0.1) * 1e6),
    );

    const { status, body } = await reconciliation(world);
    expect(status).toBe(200);
    const row = (provider: string, date: string, model: string | null) =>
      body.data.find(
        (r: { provider: string; date: string; model: string | null }) =>
          r.provider === provider && r.date === date && r.model === model,
      );
    expect(row('openai', D1, 'gpt-4o')).toEqual({
      provider: 'openai',
      date: D1,
      model: 'gpt-4o',
      reported_cost: '5.15000000',
      metered_cost: '5.15000000',
      billed_cost: '5.15000000',
      drift_pct: 0,
      unattributed_cost: '0.00000000',
    });
    expect(row('openai', D1, 'gpt-4o-mini')).toMatchObject({
      reported_cost: '1.17540000',
      metered_cost: '1.17540000',
      billed_cost: '1.17540000',
      drift_pct: 0,
      unattributed_cost: '0.00000000',
    });
    expect(row('openai', D2, 'gpt-4o')).toMatchObject({
      reported_cost: '0.40000000',
      metered_cost: '0.45000000',
      billed_cost: '0.45000000',
      drift_pct: 0,
    });
    expect(row('openai', D1, null)).toMatchObject({
      metered_cost: '0.00000000',
      billed_cost: '0.02527100',
      drift_pct: null,
      unattributed_cost: '0.02527100',
    });
    expect(row('anthropic', D1, 'claude-sonnet-4-5')).toMatchObject({
      metered_cost: '0.64200000',
      billed_cost: '0.64200000',
      drift_pct: 0,
      unattributed_cost: '0.00000000',
    });
    expect(row('anthropic', D1, null)).toMatchObject({
      billed_cost: '0.10000000',
      unattributed_cost: '0.10000000',
    });
    expect(body.totals).toMatchObject({
      billed_cost: '7.54267100',
      metered_cost: '7.41740000',
      unattributed_cost: '0.12527100',
    });
    expect(body.connections).toHaveLength(2);

    const onlyAnthropic = await reconciliation(world, `from=${D1}&to=${TODAY}&provider=anthropic`);
    expect(onlyAnthropic.body.data.every((r: { provider: string }) => r.provider === 'anthropic')).toBe(true);

    // The export for the KPI metric: daily billed sums by catalog model.
    const billed = await billedCost(world.tollgate.store.db, world.tenant.id, {
      from: new Date(`${D1}T00:00:00Z`),
      to: new Date(`${TODAY}T00:00:00Z`),
      provider: 'openai',
    });
    const gpt4o = billed.filter((day) => day.model === 'gpt-4o');
    expect(gpt4o.map((day) => [day.day, day.model, day.billed_cost.toString()])).toEqual([
      [D1, 'gpt-4o', '5.15'],
      [D2, 'gpt-4o', '0.45'],
    ]);

    // The same bill as KPI metrics: by provider and model (the apps' spelling), and tenant-wide.
    const kpis = await world.tollgate.request(
      'GET',
      `/v1/kpis?metrics=cost,billed_cost,billing_drift_pct&from=${D1}T00:00:00Z&to=${TODAY}T00:00:00Z&granularity=month&group_by=provider,model`,
      { key: world.tenant.key },
    );
    expect(kpis.status).toBe(200);
    const kpiBody = await kpis.json();
    const totalsOf = (provider: string, model: string) =>
      kpiBody.series.find(
        (s: { group: Record<string, string> }) => s.group.provider === provider && s.group.model === model,
      )?.totals;
    // The apps said `gpt-4o-mini` and `gpt-4o-mini-2024-07-18`: one model on the bill, and in the KPIs.
    expect(totalsOf('openai', 'gpt-4o-mini')).toMatchObject({
      cost: '1.17540000',
      billed_cost: '1.17540000',
      billing_drift_pct: 0,
    });
    expect(totalsOf('openai', 'gpt-4o-mini-2024-07-18')).toBeUndefined();
    expect(totalsOf('anthropic', 'claude-sonnet-4-5')).toMatchObject({
      cost: '0.64200000',
      billed_cost: '0.64200000',
      billing_drift_pct: 0,
    });
    // Charges of no model have no metered counterpart: no drift (null), as in the reconciliation's rows.
    expect(totalsOf('openai', '(no model)')).toMatchObject({
      cost: '0.00000000',
      billed_cost: '0.02527100',
      billing_drift_pct: null,
    });
    expect(totalsOf('anthropic', '(no model)')).toMatchObject({
      billed_cost: '0.10000000',
      billing_drift_pct: null,
    });
    expect(row('openai', D1, null).drift_pct).toBeNull();
    const byModel = await world.tollgate.request(
      'GET',
      `/v1/kpis?metrics=cost,billed_cost,billing_drift_pct&from=${D1}T00:00:00Z&to=${TODAY}T00:00:00Z&granularity=day&group_by=model`,
      { key: world.tenant.key },
    );
    const noModel = (await byModel.json()).series.find(
      (s: { group: Record<string, string> }) => s.group.model === '(no model)',
    );
    expect(noModel.totals).toMatchObject({ billed_cost: '0.12527100', billing_drift_pct: null });
    const billedPoints = noModel.points.filter(
      (point: { values: { billed_cost: string } }) => point.values.billed_cost !== '0.00000000',
    );
    expect(billedPoints.length).toBeGreaterThan(0);
    expect(
      billedPoints.every(
        (point: { values: { billing_drift_pct: null } }) => point.values.billing_drift_pct === null,
      ),
    ).toBe(true);
    expect(kpiBody.totals).toMatchObject({ billed_cost: '7.54267100', cost: '7.41740000' });
    const perDay = await world.tollgate.request(
      'GET',
      `/v1/kpis?metrics=billed_cost&from=${D1}T00:00:00Z&to=${TODAY}T00:00:00Z&granularity=day&filter[provider]=openai&filter[model]=gpt-4o`,
      { key: world.tenant.key },
    );
    const perDayBody = await perDay.json();
    expect(perDay.status).toBe(200);
    expect(perDayBody.totals.billed_cost).toBe('5.60000000');
    // Bills know no dimensions: asking them by one is refused with the reason.
    const byFeature = await world.tollgate.request(
      'GET',
      `/v1/kpis?metrics=billed_cost&from=${D1}T00:00:00Z&to=${TODAY}T00:00:00Z&group_by=feature`,
      { key: world.tenant.key },
    );
    expect(byFeature.status).toBe(400);
    expect((await byFeature.json()).errors[0].path).toBe('query.group_by');

    // A second sync re-reads the trailing days and changes nothing.
    const second = await sync(world, openai.id);
    expect(second.sync).toMatchObject({
      outcome: 'ok',
      from: dayAgo(6),
      lines: 17,
      added: 0,
      updated: 0,
      removed: 0,
    });
    expect(await storedLines(world)).toHaveLength(23);
    const after = (await reconciliation(world)).body;
    expect(after.data).toEqual(body.data);
    expect(after.totals).toEqual(body.totals);
    // Exact figures: no drift, so no notice.
    await (world.tollgate.runtime.bus as InProcessBus).drain();
    expect(world.published).toEqual([]);
  });

  it('stores, replaces and reconciles the same on dynalite (the local engine)', async () => {
    const world = await createWorld({ TOLLGATE_BILLING_TRAILING_DAYS: '7' }, undefined, 'dynalite');
    await ingestMatchingUsage(world);
    const openai = await connect(world, 'openai');
    expect((await sync(world, openai.id)).sync).toMatchObject({ outcome: 'ok', lines: 17, added: 17 });
    world.fake.setDay('openai', 'costs', D2, []);
    expect((await sync(world, openai.id)).sync).toMatchObject({
      lines: 15,
      added: 0,
      updated: 0,
      removed: 2,
    });
    const { body } = await reconciliation(world, `from=${D1}&to=${TODAY}&provider=openai`);
    expect(body.totals).toMatchObject({ billed_cost: '6.35067100', metered_cost: '6.77540000' });
    expect(
      body.data.find((row: { date: string; model: string }) => row.date === D2 && row.model === 'gpt-4o'),
    ).toMatchObject({ billed_cost: '0.00000000', drift_pct: null });
  });

  it('sends each provider its auth headers and documented parameters, and follows pagination to the end', async () => {
    const world = await createWorld();
    world.fake.pageSize = 3;
    const openai = await connect(world, 'openai');
    const anthropic = await connect(world, 'anthropic');
    expect((await sync(world, openai.id)).sync).toMatchObject({ outcome: 'ok', days: 30, lines: 17 });
    expect((await sync(world, anthropic.id)).sync).toMatchObject({ outcome: 'ok', days: 20, lines: 6 });

    const costs = world.fake.requestsTo('openai', 'costs');
    // 10 days at 3 per page: 4 pages, each after the first asking for the previous next_page.
    expect(costs).toHaveLength(4);
    expect(costs.map((request) => request.query.has('page'))).toEqual([false, true, true, true]);
    for (const request of world.fake.requests.filter((r) => r.provider === 'openai')) {
      expect(request.headers.authorization).toBe(`Bearer ${world.fake.openaiKey}`);
      expect(request.query.get('bucket_width')).toBe('1d');
      expect(Number(request.query.get('start_time')) % 86_400).toBe(0);
    }
    expect(costs[0]?.query.getAll('group_by')).toEqual(['line_item', 'project_id']);
    expect(world.fake.requestsTo('openai', 'usage/completions')[0]?.query.getAll('group_by')).toEqual([
      'model',
      'project_id',
    ]);
    for (const request of world.fake.requests.filter((r) => r.provider === 'anthropic')) {
      expect(request.headers['x-api-key']).toBe(world.fake.anthropicKey);
      expect(request.headers['anthropic-version']).toBe('2023-06-01');
      expect(request.headers.authorization).toBeUndefined();
      expect(request.query.get('starting_at')).toBe(`${dayAgo(9)}T00:00:00.000Z`);
    }
    expect(world.fake.requestsTo('anthropic', 'cost_report')[0]?.query.getAll('group_by[]')).toEqual([
      'description',
      'workspace_id',
    ]);
    expect(await storedLines(world)).toHaveLength(23);
  });

  it('backs off on 429 for as long as Retry-After asks, and retries a 500', async () => {
    const world = await createWorld();
    const openai = await connect(world, 'openai');
    world.fake.fault('openai', 'costs', { status: 429, retryAfter: '1', times: 1 });
    world.fake.fault('openai', 'usage/completions', { status: 500, times: 2 });
    const started = Date.now();
    const result = await sync(world, openai.id);
    expect(result.sync).toMatchObject({ outcome: 'ok', lines: 17 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(world.fake.requestsTo('openai', 'costs')).toHaveLength(2);
    expect(world.fake.requestsTo('openai', 'usage/completions')).toHaveLength(3);
  });

  it('does not sit out a Retry-After longer than the operator allows: the next run resumes', async () => {
    const world = await createWorld({ TOLLGATE_PROVIDER_MAX_RETRY_AFTER_SECONDS: '30' });
    const openai = await connect(world, 'openai');
    world.fake.fault('openai', 'costs', { status: 429, retryAfter: '3600', times: 1 });
    const started = Date.now();
    const result = await sync(world, openai.id);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.sync.outcome).toBe('error');
    expect(result.sync.error).toMatch(/answered 429, asking to wait 3600 s: left for the next run/);
    expect(world.fake.requestsTo('openai', 'costs')).toHaveLength(1);
    expect((await sync(world, openai.id)).sync).toMatchObject({ outcome: 'ok', lines: 17 });
  });

  it('times out a provider that does not answer and retries it', async () => {
    const world = await createWorld();
    const anthropic = await connect(world, 'anthropic');
    world.fake.fault('anthropic', 'cost_report', { hangMs: 1500, status: 200, times: 1 });
    const result = await sync(world, anthropic.id);
    expect(result.sync).toMatchObject({ outcome: 'ok', lines: 6 });
    expect(world.fake.requestsTo('anthropic', 'cost_report')).toHaveLength(2);
  });

  it('loses and duplicates nothing when pagination fails part-way and the sync is retried', async () => {
    const world = await createWorld();
    world.fake.pageSize = 2;
    const openai = await connect(world, 'openai');
    // Page 2 onwards of the costs keeps failing, beyond the retries.
    world.fake.fault('openai', 'costs', {
      status: 503,
      laterPagesOnly: true,
      times: Number.POSITIVE_INFINITY,
    });
    const failed = await sync(world, openai.id);
    expect(failed.sync).toMatchObject({ outcome: 'error', lines: 0 });
    expect(failed.sync.error).toMatch(/costs answered 503/);
    expect(failed.connection).toMatchObject({ status: 'error', synced_through: null, last_success_at: null });
    expect(failed.connection.last_error.message).toMatch(/503/);
    expect(await storedLines(world)).toHaveLength(0);

    world.fake.clearFaults();
    const retried = await sync(world, openai.id);
    expect(retried.sync).toMatchObject({ outcome: 'ok', lines: 17, added: 17 });
    expect(retried.connection).toMatchObject({ status: 'ok', last_error: null, synced_through: TODAY });
    const lines = await storedLines(world);
    expect(lines).toHaveLength(17);
    expect(costOf(lines, D1)).toBe(Math.round((5.15 + 1.1754 + 0.025271) * 1e6));
  });

  it('replaces a re-pulled day: a corrected line is updated and a dropped one removed', async () => {
    const world = await createWorld();
    const openai = await connect(world, 'openai');
    await sync(world, openai.id);
    // A late line appears in the trailing window; then it is re-rated; then dropped.
    const D3 = dayAgo(2);
    world.fake.setDay('openai', 'costs', D3, [
      {
        object: 'organization.costs.result',
        amount: { value: '0.125', currency: 'usd' },
        line_item: 'gpt-4o-2024-08-06, input',
        project_id: 'proj_abc',
        quantity: 50000,
        quantity_unit: 'tokens',
      },
    ]);
    // A change to a day before the trailing window is not re-read: that day stays as stored.
    world.fake.setDay('openai', 'costs', D1, []);
    const result = await sync(world, openai.id);
    expect(result.sync).toMatchObject({ outcome: 'ok', from: dayAgo(2), added: 1, updated: 0, removed: 0 });
    const lines = await storedLines(world);
    expect(costOf(lines, D3)).toBe(125_000);
    expect(costOf(lines, D1)).toBe(Math.round((5.15 + 1.1754 + 0.025271) * 1e6));

    world.fake.setDay('openai', 'costs', D3, [
      {
        object: 'organization.costs.result',
        amount: { value: 0.1, currency: 'usd' },
        line_item: 'gpt-4o-2024-08-06, input',
        project_id: 'proj_abc',
        quantity: 40000,
        quantity_unit: 'tokens',
      },
    ]);
    expect((await sync(world, openai.id)).sync).toMatchObject({ added: 0, updated: 1, removed: 0 });
    expect(costOf(await storedLines(world), D3)).toBe(100_000);
    world.fake.setDay('openai', 'costs', D3, []);
    expect((await sync(world, openai.id)).sync).toMatchObject({ added: 0, updated: 0, removed: 1 });
    expect(costOf(await storedLines(world), D3)).toBe(0);
  });

  it('puts unaligned first buckets on their UTC day', async () => {
    const world = await createWorld();
    world.fake.firstBucketOffsetSeconds = 3600;
    const openai = await connect(world, 'openai');
    expect((await sync(world, openai.id)).sync).toMatchObject({ outcome: 'ok', days: 30, lines: 17 });
    const lines = await storedLines(world);
    expect(new Set(lines.map((line) => line.day))).toEqual(new Set([D1, D2]));
  });

  it('sets a bill against the usage of the connected providers only, and a model filter takes every spelling the bill joins', async () => {
    const world = await createWorld();
    await ingestMatchingUsage(world);
    // Only OpenAI is connected: Anthropic's usage (a1) is on no bill Tollgate reads.
    await sync(world, (await connect(world, 'openai')).id);
    const range = `from=${D1}T00:00:00Z&to=${TODAY}T00:00:00Z&granularity=month`;
    const kpis = async (query: string) => {
      const response = await world.tollgate.request('GET', `/v1/kpis?${range}&${query}`, {
        key: world.tenant.key,
      });
      expect(response.status, query).toBe(200);
      return (await response.json()).totals;
    };
    const metrics = 'metrics=cost,billed_cost,billing_drift_pct';
    const openaiOnly = await kpis(`${metrics}&filter[provider]=openai`);
    const tenantWide = await kpis(metrics);
    expect(openaiOnly.billing_drift_pct).not.toBeNull();
    expect(tenantWide.billing_drift_pct).toBe(openaiOnly.billing_drift_pct);
    expect(tenantWide.cost).not.toBe(openaiOnly.cost);

    // Both spellings of gpt-4o-mini the apps used are the one model on the bill.
    for (const model of ['gpt-4o-mini', 'gpt-4o-mini-2024-07-18']) {
      for (const provider of ['', '&filter[provider]=openai']) {
        expect(await kpis(`${metrics}&filter[model]=${model}${provider}`), model + provider).toEqual({
          cost: '1.17540000',
          billed_cost: '1.17540000',
          billing_drift_pct: 0,
        });
      }
    }

    // An Azure call of the same model is usage (cost) but on no bill read here: the drift is unchanged.
    const azure = await world.tollgate.request('POST', '/v1/usage', {
      key: world.tenant.key,
      body: {
        id: 'azure-1',
        timestamp: `${D1}T13:00:00Z`,
        provider: 'azure',
        model: 'gpt-4o-mini',
        usage: { input_tokens: 1_000_000 },
      },
    });
    expect((await azure.json()).results[0]).toMatchObject({ status: 'accepted', cost: '0.16500000' });
    await world.tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${world.tenant.id}`, {
      key: OPERATOR_KEY,
    });
    expect(await kpis(`${metrics}&filter[model]=gpt-4o-mini`)).toEqual({
      cost: '1.34040000',
      billed_cost: '1.17540000',
      billing_drift_pct: 0,
    });
    expect((await kpis(metrics)).billing_drift_pct).toBe(openaiOnly.billing_drift_pct);
  });

  it('records a refused key as the connection error without retrying it', async () => {
    const lines: string[] = [];
    const logger = createLogger('warn', {}, { write: (line: string) => lines.push(line) });
    const world = await createWorld({}, logger);
    const openai = await connect(world, 'openai', 'sk-admin-wrong-key-000000');
    const result = await sync(world, openai.id);
    expect(result.sync.outcome).toBe('error');
    // The call as OpenAI documents it; the configured base URL (here the fake's, in production
    // perhaps an egress proxy) is the operator's, in the log only.
    expect(result.sync.error).toBe(
      'OpenAI GET /v1/organization/costs answered 401: the provider refused the credentials (an organization admin key is needed)',
    );
    expect(result.sync.error).not.toContain('sk-admin-wrong-key');
    const logged = lines.map((line) => JSON.parse(line)).find((line) => line.msg === 'billing pull failed');
    expect(logged).toMatchObject({
      connection_id: openai.id,
      endpoint: `${world.fake.openaiUrl.replace(/\/+$/, '')}/v1/organization/costs`,
    });
    expect(world.fake.requestsTo('openai', 'costs')).toHaveLength(1);
  });

  it('billing-pull runs every connection; one failing stops no other', async () => {
    const world = await createWorld();
    const good = await connect(world, 'openai');
    const bad = await connect(world, 'anthropic', 'sk-ant-admin01-revoked-000000');
    const response = await world.tollgate.request(
      'POST',
      `/v1/admin/jobs/billing-pull/run?tenant_id=${world.tenant.id}`,
      {
        key: OPERATOR_KEY,
      },
    );
    expect(response.status).toBe(200);
    const summary = await response.json();
    expect(summary.result).toMatchObject({ connections: 2, synced: 1, failed: 1, lines: 17 });
    expect(summary.errors).toEqual([
      { tenant_id: world.tenant.id, message: expect.stringContaining(bad.id) },
    ]);
    const goodNow = await (
      await world.tollgate.request('GET', `/v1/provider-connections/${good.id}`, { key: world.tenant.key })
    ).json();
    expect(goodNow).toMatchObject({ status: 'ok', synced_through: TODAY });
    const badNow = await (
      await world.tollgate.request('GET', `/v1/provider-connections/${bad.id}`, { key: world.tenant.key })
    ).json();
    expect(badNow).toMatchObject({ status: 'error', synced_through: null });
    expect(badNow.last_error.message).toMatch(/401/);
  });

  it('publishes billing.drift_detected.v1 once per day and model, again only when the drift changes band', async () => {
    // A trailing window that reaches D1, so every sync re-reads (and re-judges) it.
    const world = await createWorld({ TOLLGATE_BILLING_TRAILING_DAYS: '7' });
    await ingestMatchingUsage(world);
    const settings = await world.tollgate.request('PUT', '/v1/billing/settings', {
      key: world.tenant.key,
      body: { drift_threshold_pct: 2 },
    });
    expect(settings.status).toBe(200);
    expect(await settings.json()).toMatchObject({ drift_threshold_pct: '2' });
    const gpt4oBill = (value: number) =>
      world.fake.setDay('openai', 'costs', D1, [
        {
          object: 'organization.costs.result',
          amount: { value, currency: 'usd' },
          line_item: 'gpt-4o-2024-08-06, input',
          project_id: 'proj_abc',
        },
      ]);
    const driftEvents = async () => {
      await (world.tollgate.runtime.bus as InProcessBus).drain();
      return world.published.filter((event) => event.type === 'billing.drift_detected.v1');
    };
    // The bill for D1's gpt-4o is higher than the tokens the apps reported explain.
    gpt4oBill(5.3);
    const openai = await connect(world, 'openai');
    await sync(world, openai.id);
    const first = await driftEvents();
    expect(first).toHaveLength(1);
    // metered 5.15 vs billed 5.30: (5.15 − 5.30) / 5.30 = −2.8302%. (gpt-4o-mini has no bill that day: no drift.)
    expect(first[0]).toMatchObject({
      tenant_id: world.tenant.id,
      data: {
        provider: 'openai',
        date: D1,
        model: 'gpt-4o',
        billed_cost: '5.30000000',
        drift_pct: '-2.8302',
      },
    });
    const row = (await reconciliation(world)).body.data.find(
      (r: { date: string; model: string }) => r.date === D1 && r.model === 'gpt-4o',
    );
    expect(row.drift_pct).toBe(-2.8302);

    // The same figures again (a scheduled run): nobody is told twice.
    const job = await world.tollgate.request(
      'POST',
      `/v1/admin/jobs/billing-pull/run?tenant_id=${world.tenant.id}`,
      {
        key: OPERATOR_KEY,
      },
    );
    expect((await job.json()).result).toMatchObject({ synced: 1, drift_notices: 0 });
    expect(await driftEvents()).toHaveLength(1);

    // A correction that more than doubles the gap (−6.36%, band 3) is told; falling back into band 1 is not.
    gpt4oBill(5.5);
    await sync(world, openai.id);
    const second = await driftEvents();
    expect(second).toHaveLength(2);
    expect(second[1]?.data).toMatchObject({ billed_cost: '5.50000000', drift_pct: '-6.3636' });
    gpt4oBill(5.31);
    await sync(world, openai.id);
    expect(await driftEvents()).toHaveLength(2);
  });
});
