import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent, InProcessBus } from '../../shared/bus/bus.js';
import { loadConfig } from '../../shared/config/config.js';
import { keys } from '../../shared/db/keys.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/observability/logger.js';
import type { ResolvedAddress } from '../../shared/webhooks/address-guard.js';
import type { WebhookOptions } from '../../shared/webhooks/index.js';
import { ENDPOINT_COUNT_SETTLED_MS } from '../../shared/webhooks/repository.js';
import {
  failFirstWrite,
  loseFirstAnswer,
  raceWithLostRequest,
  type SentWrite,
} from '../helpers/lost-answer.js';
import {
  createTestTollgate,
  ENGINES,
  type Engine,
  OPERATOR_KEY,
  type TestTollgate,
} from '../helpers/tollgate.js';
import { startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const receivers: WebhookReceiver[] = [];
const tollgates: TestTollgate[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});
afterAll(async () => {
  for (const tollgate of tollgates.splice(0)) await tollgate.cleanup();
});

async function receiver(...args: Parameters<typeof startReceiver>) {
  const started = await startReceiver(...args);
  receivers.push(started);
  return started;
}

async function tollgateWith(
  schedule = '0,1,1,1',
  webhooks: WebhookOptions = {},
  env: Record<string, string> = {},
  engine: Engine = 'dynamodb-local',
  logger?: Logger,
) {
  const tollgate = await createTestTollgate({
    engine,
    logger,
    env: { TOLLGATE_ALLOW_PRIVATE_URLS: 'true', TOLLGATE_WEBHOOK_RETRY_SCHEDULE: schedule, ...env },
    webhooks: { timeoutMs: 2000, ...webhooks },
  });
  tollgates.push(tollgate);
  return tollgate;
}

function busEvent(tenantId: string, type: string, data: Record<string, unknown> = {}): BusEvent {
  return { id: newId('evt'), type, tenant_id: tenantId, time: new Date().toISOString(), data };
}

async function publish(tollgate: TestTollgate, ...events: BusEvent[]) {
  await tollgate.runtime.bus.publish(events);
  await (tollgate.runtime.bus as InProcessBus).drain();
}

async function createEndpoint(tollgate: TestTollgate, key: string, body: Record<string, unknown>) {
  const response = await tollgate.request('POST', '/v1/webhook-endpoints', { key, body });
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as { id: string; secret: string; [field: string]: unknown };
}

async function deliveries(tollgate: TestTollgate, key: string, endpointId: string) {
  const response = await tollgate.request('GET', `/v1/webhook-endpoints/${endpointId}/deliveries`, { key });
  expect(response.status).toBe(200);
  return (await response.json()).data as Array<
    Record<string, unknown> & { attempt_log: Array<Record<string, unknown>> }
  >;
}

async function runRetryJob(tollgate: TestTollgate) {
  const response = await tollgate.request('POST', '/v1/admin/jobs/webhook-retry/run', { key: OPERATOR_KEY });
  expect(response.status).toBe(200);
  return response.json();
}

/** Runs the retry job until `done` holds (the schedule's 1 s gaps pass in real time). */
async function retryUntil(tollgate: TestTollgate, done: () => Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('the retries did not finish in time');
    await runRetryJob(tollgate);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

const headersOf = (received: { headers: Record<string, unknown> }) =>
  Object.fromEntries(Object.entries(received.headers).map(([name, value]) => [name, String(value)]));

/**
 * Whether `secret` is among the secrets that signed this message, compared directly: once a test
 * moves Tollgate's clock a day on, the receiver's check of the timestamp would refuse the message.
 */
const signedWith = (received: { headers: Record<string, unknown>; body: string }, secret: string) => {
  const id = String(received.headers['webhook-id']);
  const timestamp = new Date(Number(received.headers['webhook-timestamp']) * 1000);
  return String(received.headers['webhook-signature'])
    .split(' ')
    .includes(new Webhook(secret).sign(id, timestamp, received.body));
};

/** What an endpoint's rotations, test events and public view look like, through the API. */
function endpointActions(
  tollgate: TestTollgate,
  tenantKey: string,
  endpointId: string,
  hook: WebhookReceiver,
) {
  return {
    async rotate() {
      const response = await tollgate.request('POST', `/v1/webhook-endpoints/${endpointId}/rotate-secret`, {
        key: tenantKey,
      });
      expect(response.status, await response.clone().text()).toBe(200);
      return (await response.json()) as { secret: string; previous_secret_expires_at: string };
    },
    /** Sends a test event; answers what the receiver got. */
    async sendTest() {
      const count = hook.received.length;
      const response = await tollgate.request('POST', `/v1/webhook-endpoints/${endpointId}/test`, {
        key: tenantKey,
      });
      expect(response.status).toBe(202);
      expect(hook.received).toHaveLength(count + 1);
      return hook.received[count] as (typeof hook.received)[number];
    },
    async shownExpiry() {
      const response = await tollgate.request('GET', `/v1/webhook-endpoints/${endpointId}`, {
        key: tenantKey,
      });
      return (await response.json()).previous_secret_expires_at as string | null;
    },
  };
}

describe('webhook endpoints', () => {
  let tollgate: TestTollgate;
  let tenant: { id: string; key: string };
  beforeAll(async () => {
    tollgate = await tollgateWith();
    tenant = await tollgate.createTenant('Endpoints');
  });

  it('creates, reads, lists, updates and deletes an endpoint; the secret is shown on create only', async () => {
    const created = await createEndpoint(tollgate, tenant.key, {
      url: 'http://127.0.0.1:9/hook',
      event_types: ['budget.exceeded', 'anomaly.detected'],
      description: 'ops',
    });
    expect(created).toMatchObject({
      id: expect.stringMatching(/^whe_[0-9A-Z]{26}$/),
      url: 'http://127.0.0.1:9/hook',
      event_types: ['budget.exceeded', 'anomaly.detected'],
      description: 'ops',
      status: 'enabled',
      disabled_reason: null,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });

    const fetched = await (
      await tollgate.request('GET', `/v1/webhook-endpoints/${created.id}`, { key: tenant.key })
    ).json();
    const { secret: _secret, ...withoutSecret } = created;
    expect(fetched).toEqual(withoutSecret);
    expect(JSON.stringify(fetched)).not.toContain('whsec_');

    const listed = await (await tollgate.request('GET', '/v1/webhook-endpoints', { key: tenant.key })).json();
    expect(listed.data.map((endpoint: { id: string }) => endpoint.id)).toContain(created.id);
    expect(JSON.stringify(listed)).not.toContain('whsec_');

    const patched = await tollgate.request('PATCH', `/v1/webhook-endpoints/${created.id}`, {
      key: tenant.key,
      body: { event_types: null, description: null, url: 'http://127.0.0.1:9/other' },
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({
      event_types: null,
      description: null,
      url: 'http://127.0.0.1:9/other',
    });

    const disabled = await tollgate.request('PATCH', `/v1/webhook-endpoints/${created.id}`, {
      key: tenant.key,
      body: { status: 'disabled' },
    });
    expect(await disabled.json()).toMatchObject({
      status: 'disabled',
      disabled_reason: 'disabled by the tenant',
    });
    const enabled = await tollgate.request('PATCH', `/v1/webhook-endpoints/${created.id}`, {
      key: tenant.key,
      body: { status: 'enabled' },
    });
    expect(await enabled.json()).toMatchObject({
      status: 'enabled',
      disabled_reason: null,
      disabled_at: null,
    });

    const deleted = await tollgate.request('DELETE', `/v1/webhook-endpoints/${created.id}`, {
      key: tenant.key,
    });
    expect(deleted.status).toBe(204);
    const gone = await tollgate.request('GET', `/v1/webhook-endpoints/${created.id}`, { key: tenant.key });
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ code: 'WEBHOOK_ENDPOINT_NOT_FOUND' });
    expect(
      (await tollgate.request('DELETE', `/v1/webhook-endpoints/${created.id}`, { key: tenant.key })).status,
    ).toBe(404);
  });

  it('refuses bad input with field paths', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, 'url'],
      [{ url: 'ftp://example.com/x' }, 'url'],
      [{ url: 'not a url' }, 'url'],
      [{ url: 'http://127.0.0.1:9/x', event_types: ['budget.nope'] }, 'event_types.0'],
      [{ url: 'http://127.0.0.1:9/x', event_types: [] }, 'event_types'],
      [{ url: 'http://127.0.0.1:9/x', event_types: ['budget.exceeded', 'budget.exceeded'] }, 'event_types'],
      [{ url: 'http://127.0.0.1:9/x', secret: 'whsec_mine' }, '(root)'],
      [{ url: 'http://user:pass@127.0.0.1:9/x' }, 'url'],
    ];
    for (const [body, path] of cases) {
      const response = await tollgate.request('POST', '/v1/webhook-endpoints', { key: tenant.key, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = await response.json();
      expect(
        problem.errors.map((error: { path: string }) => error.path),
        JSON.stringify(body),
      ).toContain(path);
    }
    const created = await createEndpoint(tollgate, tenant.key, { url: 'http://127.0.0.1:9/x' });
    const badPatch = await tollgate.request('PATCH', `/v1/webhook-endpoints/${created.id}`, {
      key: tenant.key,
      body: { status: 'paused' },
    });
    expect(badPatch.status).toBe(400);
    expect((await badPatch.json()).errors[0].path).toBe('status');
  });
});

describe('delivery to a real receiver', () => {
  let tollgate: TestTollgate;
  let tenant: { id: string; key: string };
  beforeAll(async () => {
    tollgate = await tollgateWith();
    tenant = await tollgate.createTenant('Deliveries');
  });

  it('signs per Standard Webhooks: the receiver verifies with the secret', async () => {
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const event = busEvent(tenant.id, 'anomaly.detected.v1', { metric: 'cost', score: 7.2 });
    await publish(tollgate, event);
    expect(hook.received).toHaveLength(1);
    const [received] = hook.received;
    if (!received) throw new Error('nothing received');
    const payload = new Webhook(endpoint.secret).verify(received.body, headersOf(received));
    expect(payload).toEqual({
      id: event.id,
      type: 'anomaly.detected',
      created_at: event.time,
      tenant_id: tenant.id,
      data: { metric: 'cost', score: 7.2 },
    });
    expect(received.headers['webhook-id']).toBe(event.id);
    expect(received.headers['content-type']).toBe('application/json');
    // Another secret does not verify it.
    const other = await createEndpoint(tollgate, tenant.key, {
      url: 'http://127.0.0.1:9/x',
      event_types: ['budget.resolved'],
    });
    expect(() => new Webhook(other.secret).verify(received.body, headersOf(received))).toThrow(/signature/i);

    const [log] = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(log).toMatchObject({
      event_id: event.id,
      event_type: 'anomaly.detected',
      state: 'delivered',
      attempts: 1,
      status_code: 200,
      next_retry_at: null,
      latency_ms: expect.any(Number),
    });
  });

  it('sends only the event types an endpoint asked for, and a redelivered bus event creates nothing new', async () => {
    const budgetsOnly = await receiver();
    const everything = await receiver();
    const filtered = await createEndpoint(tollgate, tenant.key, {
      url: budgetsOnly.url,
      event_types: ['budget.exceeded'],
    });
    await createEndpoint(tollgate, tenant.key, { url: everything.url });
    const anomaly = busEvent(tenant.id, 'anomaly.detected.v1');
    const exceeded = busEvent(tenant.id, 'budget.exceeded.v1', { budget_id: 'bud_1' });
    await publish(tollgate, anomaly, exceeded);
    expect(budgetsOnly.received.map((r) => JSON.parse(r.body).type)).toEqual(['budget.exceeded']);
    expect(everything.received.map((r) => JSON.parse(r.body).type).sort()).toEqual([
      'anomaly.detected',
      'budget.exceeded',
    ]);
    // The bus delivers at least once: the same event again is not sent again.
    await publish(tollgate, exceeded, anomaly);
    expect(budgetsOnly.received).toHaveLength(1);
    expect(everything.received).toHaveLength(2);
    expect(await deliveries(tollgate, tenant.key, filtered.id)).toHaveLength(1);
    // Other tenants' events never reach this tenant's endpoints.
    const other = await tollgate.createTenant('Other');
    await publish(tollgate, busEvent(other.id, 'budget.exceeded.v1'));
    expect(budgetsOnly.received).toHaveLength(1);
  });

  it('retries a failing receiver on the schedule: delivered once, every attempt in the log', async () => {
    const hook = await receiver((index) => ({ status: index < 3 ? 500 : 200 }));
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const event = busEvent(tenant.id, 'budget.threshold_crossed.v1', { threshold: 80 });
    await publish(tollgate, event);
    expect(hook.received).toHaveLength(1);
    const [pending] = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(pending).toMatchObject({
      state: 'pending',
      attempts: 1,
      status_code: 500,
      last_error: 'HTTP 500',
    });
    expect(Date.parse(pending?.next_retry_at as string)).toBeGreaterThan(Date.now() - 1000);

    await retryUntil(
      tollgate,
      async () => (await deliveries(tollgate, tenant.key, endpoint.id))[0]?.state !== 'pending',
    );
    const [done] = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(done).toMatchObject({ state: 'delivered', attempts: 4, status_code: 200, next_retry_at: null });
    expect(done?.attempt_log.map((attempt) => attempt.status_code)).toEqual([500, 500, 500, 200]);
    expect(done?.attempt_log.map((attempt) => attempt.attempt)).toEqual([1, 2, 3, 4]);
    for (const attempt of done?.attempt_log ?? []) expect(attempt.latency_ms).toEqual(expect.any(Number));
    // Each retry waited its scheduled second.
    const times = hook.received.map((r) => r.receivedAt);
    for (let i = 1; i < times.length; i++)
      expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(950);
    expect(hook.received).toHaveLength(4);
    expect(new Set(hook.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([event.id]));
    // Every attempt is signed afresh and verifies.
    for (const received of hook.received)
      new Webhook(endpoint.secret).verify(received.body, headersOf(received));
    // Nothing more is sent later.
    await runRetryJob(tollgate);
    expect(hook.received).toHaveLength(4);
  });

  it('dead-letters after the last attempt, keeps the delivery, and replays it', async () => {
    const hook = await receiver(() => ({ status: 503 }));
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const event = busEvent(tenant.id, 'billing.drift_detected.v1', { drift_pct: '12.5' });
    await publish(tollgate, event);
    await retryUntil(
      tollgate,
      async () => (await deliveries(tollgate, tenant.key, endpoint.id))[0]?.state !== 'pending',
    );
    const [dead] = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(dead).toMatchObject({ state: 'failed', attempts: 4, status_code: 503, next_retry_at: null });
    expect(hook.received).toHaveLength(4);

    hook.answer(() => ({ status: 204 }));
    const replay = await tollgate.request('POST', `/v1/webhook-deliveries/${dead?.id}/replay`, {
      key: tenant.key,
    });
    expect(replay.status).toBe(202);
    const replayed = await replay.json();
    expect(replayed).toMatchObject({
      id: expect.stringMatching(/^del_/),
      replay_of: dead?.id,
      event_id: event.id,
      state: 'delivered',
      attempts: 1,
      status_code: 204,
    });
    expect(replayed.id).not.toBe(dead?.id);
    expect(hook.received).toHaveLength(5);
    const last = hook.received[4];
    if (!last) throw new Error('no replay received');
    expect(last.body).toBe(hook.received[0]?.body);
    expect(new Webhook(endpoint.secret).verify(last.body, headersOf(last))).toMatchObject({ id: event.id });
    const log = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(log.map((delivery) => delivery.id)).toEqual([replayed.id, dead?.id]);

    const unknown = await tollgate.request('POST', `/v1/webhook-deliveries/${newId('del')}/replay`, {
      key: tenant.key,
    });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).code).toBe('WEBHOOK_DELIVERY_NOT_FOUND');
  });

  it('sends a test event on demand, whatever the filter', async () => {
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, {
      url: hook.url,
      event_types: ['budget.resolved'],
    });
    const response = await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, {
      key: tenant.key,
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({
      event_type: 'webhook.test',
      state: 'delivered',
      status_code: 200,
      attempts: 1,
    });
    const [received] = hook.received;
    if (!received) throw new Error('nothing received');
    expect(new Webhook(endpoint.secret).verify(received.body, headersOf(received))).toMatchObject({
      type: 'webhook.test',
      tenant_id: tenant.id,
      data: { endpoint_id: endpoint.id },
    });
  });

  it('tells the tenant’s other endpoints, once per disabling, that one was disabled (webhook.endpoint_disabled)', async () => {
    const tenantHere = await tollgate.createTenant('Told');
    const gone = await receiver(() => ({ status: 410 }));
    const watcher = await receiver();
    const goneEndpoint = await createEndpoint(tollgate, tenantHere.key, {
      url: `${gone.url}?token=secret-in-the-query`,
      description: 'billing service',
    });
    const watching = await createEndpoint(tollgate, tenantHere.key, {
      url: watcher.url,
      event_types: ['webhook.endpoint_disabled'],
    });
    const disabledAt = async () =>
      (
        await (
          await tollgate.request('GET', `/v1/webhook-endpoints/${goneEndpoint.id}`, { key: tenantHere.key })
        ).json()
      ).disabled_at as string;

    await publish(tollgate, busEvent(tenantHere.id, 'budget.exceeded.v1'));
    expect(watcher.received).toHaveLength(1);
    const [told] = watcher.received;
    if (!told) throw new Error('nothing received');
    const origin = new URL(gone.url).origin;
    expect(new Webhook(watching.secret).verify(told.body, headersOf(told))).toMatchObject({
      type: 'webhook.endpoint_disabled',
      tenant_id: tenantHere.id,
      data: {
        endpoint: { id: goneEndpoint.id, description: 'billing service', url_origin: origin },
        reason: 'the endpoint answered 410 Gone',
        disabled_at: await disabledAt(),
      },
    });
    expect(told.body).not.toContain('secret-in-the-query');

    // Nothing more while it stays disabled; enabled again and gone again, the tenant is told again.
    await publish(tollgate, busEvent(tenantHere.id, 'budget.exceeded.v1'));
    await runRetryJob(tollgate);
    expect(watcher.received).toHaveLength(1);
    const enabled = await tollgate.request('PATCH', `/v1/webhook-endpoints/${goneEndpoint.id}`, {
      key: tenantHere.key,
      body: { status: 'enabled' },
    });
    expect(enabled.status).toBe(200);
    await publish(tollgate, busEvent(tenantHere.id, 'anomaly.detected.v1'));
    expect(watcher.received).toHaveLength(2);
    const again = JSON.parse(watcher.received[1]?.body ?? '{}');
    expect(again).toMatchObject({
      type: 'webhook.endpoint_disabled',
      data: { disabled_at: await disabledAt() },
    });
    expect(again.id).not.toBe(JSON.parse(told.body).id);
    expect(gone.received).toHaveLength(2);
  });

  it('keeps the endpoint-disabled notice the bus refused for the next rollup, which sends it', async () => {
    const tenantHere = await tollgate.createTenant('Told later');
    const gone = await receiver(() => ({ status: 410 }));
    const watcher = await receiver();
    const goneEndpoint = await createEndpoint(tollgate, tenantHere.key, { url: gone.url });
    await createEndpoint(tollgate, tenantHere.key, {
      url: watcher.url,
      event_types: ['webhook.endpoint_disabled'],
    });
    const bus = tollgate.runtime.bus as InProcessBus;
    const publishing = bus.publish.bind(bus);
    bus.publish = async (events) => {
      if (events.some((event) => event.type.startsWith('webhook.endpoint_disabled')))
        throw new Error('the bus refused the event');
      return publishing(events);
    };
    try {
      await publish(tollgate, busEvent(tenantHere.id, 'budget.exceeded.v1'));
    } finally {
      bus.publish = publishing;
    }
    expect(gone.received).toHaveLength(1);
    expect(watcher.received).toHaveLength(0);

    const rollup = await tollgate.request(
      'POST',
      `/v1/admin/jobs/kpi-rollup/run?tenant_id=${tenantHere.id}`,
      {
        key: OPERATOR_KEY,
      },
    );
    expect(rollup.status).toBe(200);
    await bus.drain();
    expect(watcher.received.map((request) => JSON.parse(request.body))).toEqual([
      expect.objectContaining({
        type: 'webhook.endpoint_disabled',
        data: expect.objectContaining({ endpoint: expect.objectContaining({ id: goneEndpoint.id }) }),
      }),
    ]);
  });

  it('disables the endpoint on 410 Gone and sends it nothing more', async () => {
    const hook = await receiver(() => ({ status: 410 }));
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    await publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1'));
    const [delivery] = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(delivery).toMatchObject({ state: 'failed', attempts: 1, status_code: 410, next_retry_at: null });
    const disabled = await (
      await tollgate.request('GET', `/v1/webhook-endpoints/${endpoint.id}`, { key: tenant.key })
    ).json();
    expect(disabled).toMatchObject({ status: 'disabled', disabled_reason: 'the endpoint answered 410 Gone' });
    expect(disabled.disabled_at).toEqual(expect.any(String));

    await publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1'));
    expect(hook.received).toHaveLength(1);
    const test = await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, {
      key: tenant.key,
    });
    expect(test.status).toBe(409);
    expect((await test.json()).code).toBe('WEBHOOK_ENDPOINT_DISABLED');
    const replay = await tollgate.request('POST', `/v1/webhook-deliveries/${delivery?.id}/replay`, {
      key: tenant.key,
    });
    expect(replay.status).toBe(409);
    await runRetryJob(tollgate);
    expect(hook.received).toHaveLength(1);
  });

  it("waits at least the receiver's Retry-After", async () => {
    const hook = await receiver((index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '3' } } : { status: 200 },
    );
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    await publish(tollgate, busEvent(tenant.id, 'budget.forecast_exceeded.v1'));
    const [pending] = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(pending).toMatchObject({ state: 'pending', status_code: 429 });
    const firstAt = Date.parse(pending?.attempt_log[0]?.at as string);
    // The schedule says 1 s; the receiver asked for 3.
    expect(Date.parse(pending?.next_retry_at as string) - firstAt).toBeGreaterThanOrEqual(3000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await runRetryJob(tollgate);
    expect(hook.received).toHaveLength(1);
    await retryUntil(
      tollgate,
      async () => (await deliveries(tollgate, tenant.key, endpoint.id))[0]?.state === 'delivered',
    );
    expect(hook.received).toHaveLength(2);
    expect(
      (hook.received[1]?.receivedAt as number) - (hook.received[0]?.receivedAt as number),
    ).toBeGreaterThanOrEqual(2900);
  });

  it('gives up on an attempt after the timeout and retries it', async () => {
    const hook = await receiver((index) => (index === 0 ? { status: 200, hang: true } : { status: 200 }));
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const started = Date.now();
    await publish(tollgate, busEvent(tenant.id, 'budget.resolved.v1'));
    const [timedOut] = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(timedOut).toMatchObject({
      state: 'pending',
      status_code: null,
      last_error: 'timeout after 2000 ms',
    });
    expect(timedOut?.latency_ms).toBeGreaterThanOrEqual(1990);
    expect(Date.now() - started).toBeLessThan(8000);
    await retryUntil(
      tollgate,
      async () => (await deliveries(tollgate, tenant.key, endpoint.id))[0]?.state === 'delivered',
    );
    expect(hook.received).toHaveLength(2);
  });
});

describe('secret rotation', () => {
  it('signs with both secrets for 24 hours, each signature verifiable by its own secret, then with the new one only', async () => {
    let offsetMs = 0;
    const tollgate = await tollgateWith('0,1', { now: () => new Date(Date.now() + offsetMs) });
    const tenant = await tollgate.createTenant('Rotation');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const oldSecret = endpoint.secret;

    const rotation = await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, {
      key: tenant.key,
    });
    expect(rotation.status).toBe(200);
    const rotated = await rotation.json();
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(oldSecret);
    expect(Date.parse(rotated.previous_secret_expires_at) - Date.now()).toBeGreaterThan(
      24 * 3_600_000 - 60_000,
    );
    const newSecret = rotated.secret as string;
    const shown = await (
      await tollgate.request('GET', `/v1/webhook-endpoints/${endpoint.id}`, { key: tenant.key })
    ).json();
    expect(shown.previous_secret_expires_at).toBe(rotated.previous_secret_expires_at);
    expect(JSON.stringify(shown)).not.toContain('whsec_');

    await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, { key: tenant.key });
    const during = hook.received[0];
    if (!during) throw new Error('nothing received');
    const signatures = String(during.headers['webhook-signature']).split(' ');
    expect(signatures).toHaveLength(2);
    expect(new Webhook(newSecret).verify(during.body, headersOf(during))).toMatchObject({
      type: 'webhook.test',
    });
    expect(new Webhook(oldSecret).verify(during.body, headersOf(during))).toMatchObject({
      type: 'webhook.test',
    });
    const withOnly = (signature: string) => ({ ...headersOf(during), 'webhook-signature': signature });
    const [first, second] = signatures as [string, string];
    expect(() => new Webhook(newSecret).verify(during.body, withOnly(first))).not.toThrow();
    expect(() => new Webhook(oldSecret).verify(during.body, withOnly(first))).toThrow();
    expect(() => new Webhook(oldSecret).verify(during.body, withOnly(second))).not.toThrow();
    expect(() => new Webhook(newSecret).verify(during.body, withOnly(second))).toThrow();

    // A day and a second later (the clock is Tollgate's; the receiver's check of the timestamp
    // would reject a message from the future, so the signature is compared directly).
    offsetMs = 24 * 3_600_000 + 1000;
    await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, { key: tenant.key });
    const after = hook.received[1];
    if (!after) throw new Error('nothing received');
    const id = String(after.headers['webhook-id']);
    const timestamp = new Date(Number(after.headers['webhook-timestamp']) * 1000);
    expect(timestamp.getTime()).toBeGreaterThan(Date.now() + 24 * 3_600_000 - 60_000);
    expect(after.headers['webhook-signature']).toBe(new Webhook(newSecret).sign(id, timestamp, after.body));
    expect(after.headers['webhook-signature']).not.toContain(
      new Webhook(oldSecret).sign(id, timestamp, after.body),
    );
    const later = await (
      await tollgate.request('GET', `/v1/webhook-endpoints/${endpoint.id}`, { key: tenant.key })
    ).json();
    expect(later.previous_secret_expires_at).toBeNull();
  });

  it('rotated twice at once (a retried rotation): the original secret and both new ones sign, for 24 hours', async () => {
    let offsetMs = 0;
    const tollgate = await tollgateWith('0,1', { now: () => new Date(Date.now() + offsetMs) });
    const tenant = await tollgate.createTenant('Rotation twice');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const { rotate, sendTest, shownExpiry } = endpointActions(tollgate, tenant.key, endpoint.id, hook);

    const first = await rotate();
    const second = await rotate();
    expect(await shownExpiry()).toBe(second.previous_secret_expires_at);
    const during = await sendTest();
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(3);
    for (const secret of [endpoint.secret, first.secret, second.secret])
      expect(new Webhook(secret).verify(during.body, headersOf(during))).toMatchObject({
        type: 'webhook.test',
      });

    offsetMs = 24 * 3_600_000 + 1000;
    const after = await sendTest();
    expect(after.headers['webhook-signature']).toBe(
      new Webhook(second.secret).sign(
        String(after.headers['webhook-id']),
        new Date(Number(after.headers['webhook-timestamp']) * 1000),
        after.body,
      ),
    );
    expect(await shownExpiry()).toBeNull();
  });

  it('each rotation’s previous secret signs until 24 hours after that rotation, whatever came after it', async () => {
    let offsetMs = 0;
    const tollgate = await tollgateWith('0,1', { now: () => new Date(Date.now() + offsetMs) });
    const tenant = await tollgate.createTenant('Rotation overlaps');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const { rotate, sendTest, shownExpiry } = endpointActions(tollgate, tenant.key, endpoint.id, hook);
    const hour = 3_600_000;

    const first = await rotate();
    offsetMs = 12 * hour;
    const second = await rotate();
    /** Which of the original secret, the first new one and the second signed the message. */
    const signers = (received: { headers: Record<string, unknown>; body: string }) =>
      [endpoint.secret, first.secret, second.secret].map((secret) => signedWith(received, secret));
    expect(signers(await sendTest())).toEqual([true, true, true]);
    expect(await shownExpiry()).toBe(second.previous_secret_expires_at);

    // The first rotation's overlap is over: the original secret stops, the first new one goes on.
    offsetMs = 24 * hour + 1000;
    expect(signers(await sendTest())).toEqual([false, true, true]);
    expect(await shownExpiry()).toBe(second.previous_secret_expires_at);

    offsetMs = 36 * hour + 1000;
    expect(signers(await sendTest())).toEqual([false, false, true]);
    expect(await shownExpiry()).toBeNull();
  });

  it('two concurrent rotations both keep the secret receivers verify with', async () => {
    const tollgate = await tollgateWith('0');
    const tenant = await tollgate.createTenant('Concurrent rotations');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const { rotate, sendTest } = endpointActions(tollgate, tenant.key, endpoint.id, hook);
    const rotated = await Promise.all([rotate(), rotate()]);
    const received = await sendTest();
    expect(String(received.headers['webhook-signature']).split(' ')).toHaveLength(3);
    for (const secret of [endpoint.secret, ...rotated.map((rotation) => rotation.secret)])
      new Webhook(secret).verify(received.body, headersOf(received));
  });
});

describe('endpoints that keep failing', () => {
  it('are disabled after 5 days of failures, with the reason on the endpoint; a success restarts the count', async () => {
    let offsetMs = 0;
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const tollgate = await tollgateWith(
      '0',
      { now: () => new Date(Date.now() + offsetMs) },
      {},
      'dynamodb-local',
      logger,
    );
    const tenant = await tollgate.createTenant('Failing');
    const failing = await receiver(() => ({ status: 500 }));
    const recovering = await receiver((index) => ({ status: index === 1 ? 200 : 500 }));
    const dead = await createEndpoint(tollgate, tenant.key, { url: failing.url });
    const flaky = await createEndpoint(tollgate, tenant.key, { url: recovering.url });
    const get = async (id: string) =>
      (await tollgate.request('GET', `/v1/webhook-endpoints/${id}`, { key: tenant.key })).json();
    const day = 86_400_000;

    await publish(tollgate, busEvent(tenant.id, 'anomaly.detected.v1'));
    const firstFailure = (await get(dead.id)).failing_since;
    expect(firstFailure).toEqual(expect.any(String));
    offsetMs = 2 * day;
    await publish(tollgate, busEvent(tenant.id, 'anomaly.detected.v1'));
    expect(await get(dead.id)).toMatchObject({ status: 'enabled', failing_since: firstFailure });
    expect((await get(flaky.id)).failing_since).toBeNull();
    offsetMs = 5 * day + 1000;
    await publish(tollgate, busEvent(tenant.id, 'anomaly.detected.v1'));
    const disabled = await get(dead.id);
    expect(disabled).toMatchObject({ status: 'disabled' });
    expect(disabled.disabled_reason).toBe(`every delivery attempt failed for 5 days (since ${firstFailure})`);
    // The operator's log says so too, once.
    expect(lines.filter((line) => line.msg === 'webhook endpoint disabled')).toEqual([
      expect.objectContaining({
        tenant_id: tenant.id,
        endpoint_id: dead.id,
        reason: disabled.disabled_reason,
      }),
    ]);
    // The flaky endpoint succeeded on day 2: its failures started again after that.
    expect(await get(flaky.id)).toMatchObject({ status: 'enabled', disabled_reason: null });
    expect(failing.received).toHaveLength(3);

    // The tenant's other endpoint was told (it takes every type).
    const typesAtFlaky = () => recovering.received.map((request) => JSON.parse(request.body).type);
    expect(typesAtFlaky()).toEqual([
      'anomaly.detected',
      'anomaly.detected',
      'anomaly.detected',
      'webhook.endpoint_disabled',
    ]);
    expect(JSON.parse(recovering.received[3]?.body ?? '{}').data).toMatchObject({
      endpoint: { id: dead.id },
      reason: disabled.disabled_reason,
    });

    await publish(tollgate, busEvent(tenant.id, 'anomaly.detected.v1'));
    expect(failing.received).toHaveLength(3);
    expect(typesAtFlaky()).toHaveLength(5);
  });
});

describe('restart', () => {
  it('sends the deliveries a stopped runtime persisted, from the retry job of a new runtime', async () => {
    const { createTestStore } = await import('../helpers/tollgate.js');
    const store = await createTestStore();
    // The data dir survives the restart too: its key file opens the sealed signing secrets.
    const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-restart-'));
    try {
      const env = { TOLLGATE_ALLOW_PRIVATE_URLS: 'true', TOLLGATE_WEBHOOK_RETRY_SCHEDULE: '1,1' };
      const before = await createTestTollgate({ store, env, dataDir });
      const tenant = await before.createTenant('Restart');
      const hook = await receiver((index) => ({ status: index === 0 ? 503 : 200 }));
      const endpoint = await createEndpoint(before, tenant.key, { url: hook.url });
      const event = busEvent(tenant.id, 'budget.exceeded.v1', { spent: '101.00' });
      // The first attempt is due in a second: the process stops before making it.
      await publish(before, event);
      expect(hook.received).toHaveLength(0);
      expect((await deliveries(before, tenant.key, endpoint.id))[0]).toMatchObject({
        state: 'pending',
        attempts: 0,
      });
      await before.cleanup();

      const after = await createTestTollgate({ store, env, dataDir });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await retryUntil(
        after,
        async () => (await deliveries(after, tenant.key, endpoint.id))[0]?.state === 'delivered',
      );
      await after.cleanup();
      expect(hook.received).toHaveLength(2);
      const delivered = hook.received[1];
      if (!delivered) throw new Error('nothing delivered');
      expect(new Webhook(endpoint.secret).verify(delivered.body, headersOf(delivered))).toMatchObject({
        id: event.id,
        type: 'budget.exceeded',
        data: { spent: '101.00' },
      });
    } finally {
      await store.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('private addresses (TOLLGATE_ALLOW_PRIVATE_URLS=false)', () => {
  const table: Record<string, string[]> = {
    'hooks.example.test': ['93.184.216.34'],
    'internal.example.test': ['10.0.0.5'],
    'split.example.test': ['93.184.216.34', '192.168.0.9'],
    'v6.example.test': ['fd00::1'],
  };
  const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
    const addresses = table[hostname];
    if (!addresses) throw new Error(`ENOTFOUND ${hostname}`);
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  let tollgate: TestTollgate;
  let tenant: { id: string; key: string };
  beforeAll(async () => {
    tollgate = await tollgateWith('0,60', { resolve }, { TOLLGATE_ALLOW_PRIVATE_URLS: 'false' });
    tenant = await tollgate.createTenant('Guarded');
  });

  it('refuses URLs that reach private, loopback, link-local, metadata or CGNAT addresses, and plain http', async () => {
    const refused: Array<[string, RegExp]> = [
      ['https://internal.example.test/hook', /10\.0\.0\.5, a private address/],
      ['https://split.example.test/hook', /192\.168\.0\.9, a private address/],
      ['https://v6.example.test/hook', /unique-local/],
      ['https://unknown.example.test/hook', /could not be resolved/],
      ['https://127.0.0.1/hook', /loopback/],
      ['https://localhost/hook', /could not be resolved|loopback/],
      ['https://[::1]/hook', /loopback/],
      ['https://169.254.169.254/latest/meta-data/', /metadata/],
      ['https://[fd00:ec2::254]/', /metadata/],
      ['https://100.64.1.1/', /carrier-grade NAT/],
      ['https://[::ffff:10.0.0.1]/', /private/],
      ['https://[::ffff:0:7f00:1]/', /loopback/],
      ['https://[::a9fe:a9fe]/', /reserved/],
      ['http://hooks.example.test/hook', /https/],
    ];
    for (const [url, reason] of refused) {
      const response = await tollgate.request('POST', '/v1/webhook-endpoints', {
        key: tenant.key,
        body: { url },
      });
      expect(response.status, url).toBe(400);
      const problem = await response.json();
      expect(problem.code, url).toBe('WEBHOOK_URL_REFUSED');
      expect(problem.errors[0].path).toBe('url');
      expect(problem.errors[0].message, url).toMatch(reason);
    }
    const accepted = await createEndpoint(tollgate, tenant.key, { url: 'https://hooks.example.test/hook' });
    // Stored as it will be requested: the host it names, no fragment (never sent).
    const spelled = await createEndpoint(tollgate, tenant.key, {
      url: 'https://hooks.ex%61mple.test/hook?a=b#fragment',
    });
    expect(spelled.url).toBe('https://hooks.example.test/hook?a=b');
    await tollgate.request('DELETE', `/v1/webhook-endpoints/${spelled.id}`, { key: tenant.key });
    const moved = await tollgate.request('PATCH', `/v1/webhook-endpoints/${accepted.id}`, {
      key: tenant.key,
      body: { url: 'https://internal.example.test/hook' },
    });
    expect(moved.status).toBe(400);
    expect((await moved.json()).code).toBe('WEBHOOK_URL_REFUSED');
  });

  it('checks again at send time: a host rebound to a private address is refused without connecting', async () => {
    table['rebind.example.test'] = ['93.184.216.34'];
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: 'https://rebind.example.test/hook' });
    table['rebind.example.test'] = ['127.0.0.1'];
    const response = await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, {
      key: tenant.key,
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({
      state: 'pending',
      attempts: 1,
      status_code: null,
      last_error: 'refused: rebind.example.test resolves to 127.0.0.1, a loopback address',
    });
  });
});

describe('the delivery step as a Lambda handler calls it', () => {
  it('takes an EventBridge event, then a due delivery id', async () => {
    const { handleWebhookDelivery } = await import('../../shared/webhooks/entry.js');
    const tollgate = await tollgateWith('0,1');
    const tenant = await tollgate.createTenant('Lambda');
    const hook = await receiver((index) => ({ status: index === 0 ? 500 : 200 }));
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const event = busEvent(tenant.id, 'data_quality.unpriced_usage.v1', { model: 'mystery' });
    const created = await handleWebhookDelivery(tollgate.runtime.webhooks.deliverer, {
      'detail-type': event.type,
      detail: event,
    });
    expect(created).toEqual({ created: [expect.stringMatching(/^del_/)] });
    const deliveryId = (created as { created: string[] }).created[0] as string;
    const input = { tenant_id: tenant.id, delivery_id: deliveryId };
    expect(await handleWebhookDelivery(tollgate.runtime.webhooks.deliverer, input)).toEqual({
      result: 'not-due',
    });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await handleWebhookDelivery(tollgate.runtime.webhooks.deliverer, input)).toEqual({
      result: 'delivered',
    });
    expect(await handleWebhookDelivery(tollgate.runtime.webhooks.deliverer, input)).toEqual({
      result: 'settled',
    });
    expect(hook.received.map((r) => JSON.parse(r.body).type)).toEqual([
      'data_quality.unpriced_usage',
      'data_quality.unpriced_usage',
    ]);
    expect((await deliveries(tollgate, tenant.key, endpoint.id))[0]).toMatchObject({
      state: 'delivered',
      attempts: 2,
    });
  });
});

describe.each(ENGINES)('the delivery lifecycle on %s', (engine) => {
  it('persists, retries, logs, dead-letters and replays', async () => {
    const tollgate = await tollgateWith('0,1', {}, {}, engine);
    const tenant = await tollgate.createTenant('Engines');
    const hook = await receiver((index) => ({ status: index < 4 ? 502 : 200 }));
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    await publish(
      tollgate,
      busEvent(tenant.id, 'budget.exceeded.v1'),
      busEvent(tenant.id, 'budget.resolved.v1'),
    );
    await retryUntil(tollgate, async () =>
      (await deliveries(tollgate, tenant.key, endpoint.id)).every((delivery) => delivery.state !== 'pending'),
    );
    const log = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(log.map((delivery) => [delivery.state, delivery.attempts]).sort()).toEqual([
      ['failed', 2],
      ['failed', 2],
    ]);
    const replay = await tollgate.request('POST', `/v1/webhook-deliveries/${log[0]?.id}/replay`, {
      key: tenant.key,
    });
    expect(await replay.json()).toMatchObject({ state: 'delivered', attempts: 1, replay_of: log[0]?.id });
    expect(hook.received).toHaveLength(5);
    expect(await deliveries(tollgate, tenant.key, endpoint.id)).toHaveLength(3);
  });
});

describe('events from the rest of Tollgate', () => {
  it('delivers the KPI job’s unpriced-usage notice to a subscribed endpoint', async () => {
    const tollgate = await tollgateWith('0,1', {}, { TOLLGATE_ROLLUP_LAG_SECONDS: '0' });
    const tenant = await tollgate.createTenant('Notices');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, {
      url: hook.url,
      event_types: ['data_quality.unpriced_usage'],
    });
    const ingested = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      body: { id: 'u1', provider: 'custom', model: 'house-model-7', usage: { input_tokens: 1234 } },
    });
    expect(ingested.status).toBe(202);
    const rollup = await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${tenant.id}`, {
      key: OPERATOR_KEY,
    });
    expect(rollup.status).toBe(200);
    await (tollgate.runtime.bus as InProcessBus).drain();
    expect(hook.received).toHaveLength(1);
    const [received] = hook.received;
    if (!received) throw new Error('nothing received');
    expect(new Webhook(endpoint.secret).verify(received.body, headersOf(received))).toMatchObject({
      id: expect.stringMatching(/^evt_/),
      type: 'data_quality.unpriced_usage',
      tenant_id: tenant.id,
      data: { provider: 'custom', model: 'house-model-7', unpriced_tokens: 1234 },
    });
  });
});

describe('signing secrets at rest', () => {
  const rawEndpoint = async (tollgate: TestTollgate, tenantId: string, endpointId: string) => {
    const { Item } = await tollgate.store.db.client.send(
      new GetCommand({
        TableName: tollgate.store.db.tableName,
        Key: keys.webhookEndpoint(tenantId, endpointId),
        ConsistentRead: true,
      }),
    );
    if (!Item) throw new Error(`no item for ${endpointId}`);
    return Item;
  };
  /** Rewrites an endpoint as the code before sealing stored it: a plain `secret`, no envelope, no version. */
  const storeAsLegacy = async (
    tollgate: TestTollgate,
    tenantId: string,
    endpointId: string,
    plain: string,
  ) => {
    const {
      secret_envelope: _envelope,
      secret_version: _version,
      ...legacy
    } = await rawEndpoint(tollgate, tenantId, endpointId);
    await tollgate.store.db.client.send(
      new PutCommand({ TableName: tollgate.store.db.tableName, Item: { ...legacy, secret: plain } }),
    );
  };
  /** The secret's key bytes, as base64 and as hex: neither may appear in a stored item or a log line. */
  const forms = (secret: string) => {
    const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64');
    return [secret, bytes.toString('base64'), bytes.toString('hex'), bytes.toString('base64url')];
  };

  it('stores only envelopes, signs verifiably, and never logs a secret', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => lines.push(line) });
    const tollgate = await tollgateWith('0,1', {}, {}, 'dynamodb-local', logger);
    const tenant = await tollgate.createTenant('Sealed');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });

    const stored = await rawEndpoint(tollgate, tenant.id, endpoint.id);
    expect(stored.secret).toBeUndefined();
    expect(stored.secret_envelope).toMatchObject({ v: 1, kek: 'local', ciphertext: expect.any(String) });
    for (const form of forms(endpoint.secret)) expect(JSON.stringify(stored)).not.toContain(form);

    await publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1', { budget_id: 'bud_1' }));
    const [received] = hook.received;
    if (!received) throw new Error('nothing received');
    expect(new Webhook(endpoint.secret).verify(received.body, headersOf(received))).toMatchObject({
      type: 'budget.exceeded',
    });

    const rotated = await (
      await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, {
        key: tenant.key,
      })
    ).json();
    const afterRotation = await rawEndpoint(tollgate, tenant.id, endpoint.id);
    expect(afterRotation.previous_secret).toBeUndefined();
    expect(afterRotation.previous_secrets).toEqual([
      expect.objectContaining({ envelope: expect.objectContaining({ v: 1 }) }),
    ]);
    expect(afterRotation.secret_version).toBe(2);
    for (const form of [...forms(endpoint.secret), ...forms(rotated.secret)])
      expect(JSON.stringify(afterRotation)).not.toContain(form);

    const test = await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, {
      key: tenant.key,
    });
    expect(test.status).toBe(202);
    const during = hook.received[1];
    if (!during) throw new Error('nothing received');
    expect(() => new Webhook(rotated.secret).verify(during.body, headersOf(during))).not.toThrow();
    expect(() => new Webhook(endpoint.secret).verify(during.body, headersOf(during))).not.toThrow();

    expect(lines.length).toBeGreaterThan(0);
    for (const form of [...forms(endpoint.secret), ...forms(rotated.secret)])
      for (const line of lines) expect(line).not.toContain(form);
  });

  it('an envelope copied to another endpoint does not open there', async () => {
    const tollgate = await tollgateWith('0');
    const tenant = await tollgate.createTenant('Copied');
    const hook = await receiver();
    const source = await createEndpoint(tollgate, tenant.key, { url: 'http://127.0.0.1:9/a' });
    const target = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const sourceItem = await rawEndpoint(tollgate, tenant.id, source.id);
    await tollgate.store.db.client.send(
      new UpdateCommand({
        TableName: tollgate.store.db.tableName,
        Key: keys.webhookEndpoint(tenant.id, target.id),
        // A new version too, so the cache of this process does not answer for the old one.
        UpdateExpression: 'SET secret_envelope = :envelope, secret_version = :version',
        ExpressionAttributeValues: { ':envelope': sourceItem.secret_envelope, ':version': 7 },
      }),
    );
    const test = await tollgate.request('POST', `/v1/webhook-endpoints/${target.id}/test`, {
      key: tenant.key,
    });
    expect(test.status).toBe(500);
    expect(hook.received).toHaveLength(0);
  });

  it('keeps signing with a plain secret stored before sealing, and seals it on the next PATCH', async () => {
    const tollgate = await tollgateWith('0,1');
    const tenant = await tollgate.createTenant('Legacy');
    const hook = await receiver();
    const created = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const plain = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    await storeAsLegacy(tollgate, tenant.id, created.id, plain);

    await publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1', {}));
    const [before] = hook.received;
    if (!before) throw new Error('nothing received');
    expect(() => new Webhook(plain).verify(before.body, headersOf(before))).not.toThrow();

    const patched = await tollgate.request('PATCH', `/v1/webhook-endpoints/${created.id}`, {
      key: tenant.key,
      body: { description: 'sealed now' },
    });
    expect(patched.status).toBe(200);
    const sealed = await rawEndpoint(tollgate, tenant.id, created.id);
    expect(sealed.secret).toBeUndefined();
    expect(sealed.secret_envelope).toMatchObject({ v: 1 });
    for (const form of forms(plain)) expect(JSON.stringify(sealed)).not.toContain(form);

    await publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1', {}));
    const after = hook.received[1];
    if (!after) throw new Error('nothing received');
    expect(() => new Webhook(plain).verify(after.body, headersOf(after))).not.toThrow();
  });

  it('rotates a plain secret stored before sealing: both sealed, both sign during the overlap', async () => {
    const tollgate = await tollgateWith('0,1');
    const tenant = await tollgate.createTenant('Legacy rotation');
    const hook = await receiver();
    const created = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const plain = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    await storeAsLegacy(tollgate, tenant.id, created.id, plain);
    const rotated = await (
      await tollgate.request('POST', `/v1/webhook-endpoints/${created.id}/rotate-secret`, { key: tenant.key })
    ).json();
    const stored = await rawEndpoint(tollgate, tenant.id, created.id);
    expect(stored.secret).toBeUndefined();
    expect(stored.secret_version).toBe(1);
    for (const form of forms(plain)) expect(JSON.stringify(stored)).not.toContain(form);

    await tollgate.request('POST', `/v1/webhook-endpoints/${created.id}/test`, { key: tenant.key });
    const [received] = hook.received;
    if (!received) throw new Error('nothing received');
    expect(() => new Webhook(plain).verify(received.body, headersOf(received))).not.toThrow();
    expect(() => new Webhook(rotated.secret).verify(received.body, headersOf(received))).not.toThrow();
  });

  it('keeps at most 5 previous secrets, sealed: a sixth rotation within a day stops the oldest early', async () => {
    const tollgate = await tollgateWith('0');
    const tenant = await tollgate.createTenant('Rotation cap');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const { rotate, sendTest } = endpointActions(tollgate, tenant.key, endpoint.id, hook);
    const secrets = [endpoint.secret];
    for (let rotation = 0; rotation < 6; rotation++) secrets.push((await rotate()).secret);

    const stored = await rawEndpoint(tollgate, tenant.id, endpoint.id);
    expect(stored.previous_secrets).toHaveLength(5);
    for (const previous of stored.previous_secrets as Array<Record<string, unknown>>)
      expect(previous.envelope).toMatchObject({ v: 1, ciphertext: expect.any(String) });
    for (const form of secrets.flatMap(forms)) expect(JSON.stringify(stored)).not.toContain(form);

    const received = await sendTest();
    expect(String(received.headers['webhook-signature']).split(' ')).toHaveLength(6);
    const [original, ...kept] = secrets as [string, ...string[]];
    expect(() => new Webhook(original).verify(received.body, headersOf(received))).toThrow(/signature/i);
    for (const secret of kept) new Webhook(secret).verify(received.body, headersOf(received));
  });

  it('drops previous secrets whose overlap ended on the next write of the endpoint', async () => {
    let offsetMs = 0;
    const tollgate = await tollgateWith('0', { now: () => new Date(Date.now() + offsetMs) });
    const tenant = await tollgate.createTenant('Expired previous secrets');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const { rotate } = endpointActions(tollgate, tenant.key, endpoint.id, hook);
    const patch = async () => {
      const response = await tollgate.request('PATCH', `/v1/webhook-endpoints/${endpoint.id}`, {
        key: tenant.key,
        body: { description: `at +${offsetMs} ms` },
      });
      expect(response.status).toBe(200);
    };
    const storedExpiries = async () =>
      (
        (await rawEndpoint(tollgate, tenant.id, endpoint.id)).previous_secrets as
          | Array<{ expires_at: string }>
          | undefined
      )?.map((previous) => previous.expires_at);

    await rotate();
    offsetMs = 12 * 3_600_000;
    const second = await rotate();
    expect(await storedExpiries()).toHaveLength(2);
    offsetMs = 24 * 3_600_000 + 1000;
    await patch();
    expect(await storedExpiries()).toEqual([second.previous_secret_expires_at]);
    offsetMs = 36 * 3_600_000 + 1000;
    await patch();
    expect(await storedExpiries()).toBeUndefined();
  });

  it('reads an endpoint stored with one previous secret (the older shape): it signs until its expiry, through a rotation', async () => {
    let offsetMs = 0;
    const tollgate = await tollgateWith('0', { now: () => new Date(Date.now() + offsetMs) });
    const tenant = await tollgate.createTenant('One previous secret');
    const hour = 3_600_000;
    const previousExpiry = new Date(Date.now() + hour).toISOString();
    // Both forms of that shape: sealed (with a version), and plain from before sealing (without).
    for (const sealed of [true, false]) {
      offsetMs = 0;
      const hook = await receiver();
      const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
      const { rotate, sendTest, shownExpiry } = endpointActions(tollgate, tenant.key, endpoint.id, hook);
      const previous = `whsec_${Buffer.alloc(32, sealed ? 3 : 4).toString('base64')}`;
      const {
        secret_envelope: envelope,
        secret_version: _version,
        ...item
      } = await rawEndpoint(tollgate, tenant.id, endpoint.id);
      const secretAttributes = sealed
        ? {
            secret_envelope: envelope,
            secret_version: 1,
            previous_secret_envelope: await tollgate.runtime.webhooks.secrets.seal(
              tenant.id,
              endpoint.id,
              previous,
            ),
          }
        : { secret: endpoint.secret, previous_secret: previous };
      await tollgate.store.db.client.send(
        new PutCommand({
          TableName: tollgate.store.db.tableName,
          Item: { ...item, ...secretAttributes, previous_secret_expires_at: previousExpiry },
        }),
      );

      const before = await sendTest();
      for (const secret of [endpoint.secret, previous])
        new Webhook(secret).verify(before.body, headersOf(before));
      expect(await shownExpiry()).toBe(previousExpiry);

      const rotated = await rotate();
      const during = await sendTest();
      expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(3);
      for (const secret of [endpoint.secret, previous, rotated.secret])
        new Webhook(secret).verify(during.body, headersOf(during));
      // The rotation moved it beside the secret it replaced, sealed, each with its own expiry.
      const stored = await rawEndpoint(tollgate, tenant.id, endpoint.id);
      for (const attribute of [
        'secret',
        'previous_secret',
        'previous_secret_envelope',
        'previous_secret_expires_at',
      ])
        expect(stored[attribute], attribute).toBeUndefined();
      expect(stored.previous_secrets).toHaveLength(2);
      for (const form of forms(previous)) expect(JSON.stringify(stored)).not.toContain(form);

      // Its own expiry still holds: an hour on, the older previous secret no longer signs.
      offsetMs = hour + 1000;
      const after = await sendTest();
      expect([endpoint.secret, previous, rotated.secret].map((secret) => signedWith(after, secret))).toEqual([
        true,
        false,
        true,
      ]);
    }
  });
});

describe('delivery retention', () => {
  it('keeps deliveries (delivered and dead-lettered) for the configured days after their last attempt, then they are gone', async () => {
    expect(loadConfig({}).webhookDeliveryRetentionDays).toBe(30);
    let offsetMs = 0;
    const tollgate = await tollgateWith(
      '0',
      { now: () => new Date(Date.now() + offsetMs) },
      { TOLLGATE_WEBHOOK_DELIVERY_RETENTION_DAYS: '2' },
    );
    const tenant = await tollgate.createTenant('Retention');
    const good = await receiver();
    const bad = await receiver(() => ({ status: 500 }));
    const delivered = await createEndpoint(tollgate, tenant.key, { url: good.url });
    const failing = await createEndpoint(tollgate, tenant.key, { url: bad.url });
    await publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1', {}));

    const [ok] = await deliveries(tollgate, tenant.key, delivered.id);
    const [dead] = await deliveries(tollgate, tenant.key, failing.id);
    expect(ok).toMatchObject({ state: 'delivered' });
    expect(dead).toMatchObject({ state: 'failed', attempts: 1 });
    for (const delivery of [ok, dead]) {
      if (!delivery) throw new Error('no delivery');
      const { Item } = await tollgate.store.db.client.send(
        new GetCommand({
          TableName: tollgate.store.db.tableName,
          Key: keys.webhookDelivery(tenant.id, delivery.id as string),
        }),
      );
      const lastAttempt = Date.parse(delivery.attempt_log.at(-1)?.at as string);
      expect(Item?.expires_at_epoch).toBe(Math.ceil((lastAttempt + 2 * 86_400_000) / 1000));
    }

    // A day and 23 hours on: still there, and replayable.
    offsetMs = 2 * 86_400_000 - 3_600_000;
    expect(await deliveries(tollgate, tenant.key, failing.id)).toHaveLength(1);
    const replay = await tollgate.request('POST', `/v1/webhook-deliveries/${dead?.id}/replay`, {
      key: tenant.key,
    });
    expect(replay.status).toBe(202);

    // Past the retention of the first two (the replay, attempted later, is still kept).
    offsetMs = 2 * 86_400_000 + 60_000;
    expect(await deliveries(tollgate, tenant.key, delivered.id)).toEqual([]);
    expect((await deliveries(tollgate, tenant.key, failing.id)).map((d) => d.replay_of)).toEqual([dead?.id]);
    const expired = await tollgate.request('POST', `/v1/webhook-deliveries/${ok?.id}/replay`, {
      key: tenant.key,
    });
    expect(expired.status).toBe(404);
    expect(expired.headers.get('content-type')).toContain('application/problem+json');
    expect((await expired.json()).code).toBe('WEBHOOK_DELIVERY_NOT_FOUND');
  });

  it('refuses a retention that is not a whole number of days of at least one', () => {
    for (const value of ['0', '1.5', 'x'])
      expect(() => loadConfig({ TOLLGATE_WEBHOOK_DELIVERY_RETENTION_DAYS: value })).toThrow(
        /TOLLGATE_WEBHOOK_DELIVERY_RETENTION_DAYS/,
      );
  });
});

describe('the endpoint cap', () => {
  const create = (tollgate: TestTollgate, key: string, index: number) =>
    tollgate.request('POST', '/v1/webhook-endpoints', {
      key,
      body: { url: `http://127.0.0.1:9/hook-${index}` },
    });

  it('admits exactly the cap among concurrent creations, answers 409 WEBHOOK_ENDPOINT_LIMIT past it, and frees a slot on delete', async () => {
    expect(loadConfig({}).webhookMaxEndpoints).toBe(20);
    const tollgate = await tollgateWith('0', {}, { TOLLGATE_WEBHOOK_MAX_ENDPOINTS: '3' });
    const tenant = await tollgate.createTenant('Capped');
    const other = await tollgate.createTenant('Other');

    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, index) => create(tollgate, tenant.key, index)),
    );
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(3);
    const refused = answers.filter((answer) => answer.status !== 201);
    expect(refused).toHaveLength(5);
    for (const answer of refused) {
      expect(answer.status).toBe(409);
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      expect((await answer.json()).code).toBe('WEBHOOK_ENDPOINT_LIMIT');
    }
    const listed = await (await tollgate.request('GET', '/v1/webhook-endpoints', { key: tenant.key })).json();
    expect(listed.data).toHaveLength(3);

    // Another tenant has slots of its own.
    expect((await create(tollgate, other.key, 0)).status).toBe(201);

    const [first] = listed.data as Array<{ id: string }>;
    const removed = await tollgate.request('DELETE', `/v1/webhook-endpoints/${first?.id}`, {
      key: tenant.key,
    });
    expect(removed.status).toBe(204);
    // Deleting it again frees nothing more.
    expect(
      (await tollgate.request('DELETE', `/v1/webhook-endpoints/${first?.id}`, { key: tenant.key })).status,
    ).toBe(404);
    expect((await create(tollgate, tenant.key, 10)).status).toBe(201);
    expect((await create(tollgate, tenant.key, 11)).status).toBe(409);
  });

  it('counts the endpoints of a tenant stored before the counter existed', async () => {
    const tollgate = await tollgateWith('0', {}, { TOLLGATE_WEBHOOK_MAX_ENDPOINTS: '3' });
    const tenant = await tollgate.createTenant('Older');
    for (const index of [0, 1]) expect((await create(tollgate, tenant.key, index)).status).toBe(201);
    // As a data dir from before the cap: endpoints, no counter.
    await tollgate.store.db.client.send(
      new DeleteCommand({
        TableName: tollgate.store.db.tableName,
        Key: keys.webhookEndpointCount(tenant.id),
      }),
    );
    const answers = await Promise.all([2, 3, 4].map((index) => create(tollgate, tenant.key, index)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409, 409]);
    const listed = await (await tollgate.request('GET', '/v1/webhook-endpoints', { key: tenant.key })).json();
    expect(listed.data).toHaveLength(3);
  });

  const countWrite = (tenantId: string) => (write: SentWrite) =>
    write.commandName === 'UpdateItemCommand' &&
    (write.Key?.pk?.S ?? '').includes(tenantId) &&
    (write.UpdateExpression ?? '').includes('endpoint_count');
  const listedCount = async (tollgate: TestTollgate, key: string) =>
    (await (await tollgate.request('GET', '/v1/webhook-endpoints', { key })).json()).data.length;

  it('counts a slot once when the answer of its increment or decrement is lost', async () => {
    const tollgate = await tollgateWith('0', {}, { TOLLGATE_WEBHOOK_MAX_ENDPOINTS: '3' });
    const tenant = await tollgate.createTenant('Lost answers');
    expect((await create(tollgate, tenant.key, 0)).status).toBe(201);
    const losingTake = loseFirstAnswer(tollgate.store.db, countWrite(tenant.id));
    try {
      expect((await create(tollgate, tenant.key, 1)).status).toBe(201);
    } finally {
      losingTake.restore();
    }
    expect(losingTake.lost()).toBe(1);
    // Two endpoints and two slots taken (three before): the third fits, a fourth does not.
    expect((await create(tollgate, tenant.key, 2)).status).toBe(201);
    expect((await create(tollgate, tenant.key, 3)).status).toBe(409);

    const [first] = (
      await (await tollgate.request('GET', '/v1/webhook-endpoints', { key: tenant.key })).json()
    ).data as Array<{ id: string }>;
    const losingRelease = loseFirstAnswer(tollgate.store.db, countWrite(tenant.id));
    try {
      const removed = await tollgate.request('DELETE', `/v1/webhook-endpoints/${first?.id}`, {
        key: tenant.key,
      });
      expect(removed.status).toBe(204);
    } finally {
      losingRelease.restore();
    }
    expect(losingRelease.lost()).toBe(1);
    // One slot given back (two before, and the cap was passed by the next two).
    expect((await create(tollgate, tenant.key, 4)).status).toBe(201);
    expect((await create(tollgate, tenant.key, 5)).status).toBe(409);
    expect(await listedCount(tollgate, tenant.key)).toBe(3);
  });

  it('an endpoint delete whose answer was lost (the SDK retried it) answers 204 and gives its slot back', async () => {
    const tollgate = await tollgateWith('0', {}, { TOLLGATE_WEBHOOK_MAX_ENDPOINTS: '2' });
    const tenant = await tollgate.createTenant('Lost delete');
    for (const index of [0, 1]) expect((await create(tollgate, tenant.key, index)).status).toBe(201);
    const [first] = (
      await (await tollgate.request('GET', '/v1/webhook-endpoints', { key: tenant.key })).json()
    ).data as Array<{ id: string }>;
    const losing = loseFirstAnswer(
      tollgate.store.db,
      (write) =>
        write.commandName === 'DeleteItemCommand' &&
        write.Key?.sk?.S === keys.webhookEndpoint(tenant.id, first?.id ?? '').sk,
    );
    let removed: Response;
    try {
      removed = await tollgate.request('DELETE', `/v1/webhook-endpoints/${first?.id}`, { key: tenant.key });
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(removed.status).toBe(204);
    expect(await listedCount(tollgate, tenant.key)).toBe(1);
    // Its slot was given back at once: a new endpoint fits, and the one after it does not.
    expect((await create(tollgate, tenant.key, 2)).status).toBe(201);
    expect((await create(tollgate, tenant.key, 3)).status).toBe(409);
  });

  it('gives one slot back when a delete lost on its way is retried after another delete of the endpoint', async () => {
    const tollgate = await tollgateWith('0', {}, { TOLLGATE_WEBHOOK_MAX_ENDPOINTS: '2' });
    const tenant = await tollgate.createTenant('Racing deletes');
    for (const index of [0, 1]) expect((await create(tollgate, tenant.key, index)).status).toBe(201);
    const [first] = (
      await (await tollgate.request('GET', '/v1/webhook-endpoints', { key: tenant.key })).json()
    ).data as Array<{ id: string }>;
    const remove = () =>
      tollgate.request('DELETE', `/v1/webhook-endpoints/${first?.id}`, { key: tenant.key });
    const [racing, retried] = await raceWithLostRequest(
      tollgate.store.db,
      (write) =>
        write.commandName === 'DeleteItemCommand' &&
        write.Key?.sk?.S === keys.webhookEndpoint(tenant.id, first?.id ?? '').sk,
      remove,
    );
    // Both count as done (the retried one cannot tell the other's delete from its own) ...
    expect(racing.status).toBe(204);
    expect(retried.status).toBe(204);
    // ... and one slot went back: a new endpoint fits, the one after it does not.
    expect((await create(tollgate, tenant.key, 2)).status).toBe(201);
    expect((await create(tollgate, tenant.key, 3)).status).toBe(409);
    expect(await listedCount(tollgate, tenant.key)).toBe(2);
  });

  it.each(ENGINES)(
    'recounts at the cap a slot left taken by a creation that stopped, once the counter has been still a minute (%s)',
    async (engine) => {
      let clockOffsetMs = 0;
      const now = () => new Date(Date.now() + clockOffsetMs);
      const tollgate = await tollgateWith('0', { now }, { TOLLGATE_WEBHOOK_MAX_ENDPOINTS: '3' }, engine);
      const tenant = await tollgate.createTenant('Stopped creation');
      for (const index of [0, 1]) expect((await create(tollgate, tenant.key, index)).status).toBe(201);
      // A creation that took its slot, then failed to write its endpoint and to give the slot back
      // (as a process that stopped in between would).
      const db = tollgate.store.db;
      const endpointFails = failFirstWrite(
        db,
        (write) =>
          write.commandName === 'PutItemCommand' && (write.Item?.sk?.S ?? '').includes('#webhook-endpoint#'),
      );
      const releaseFails = failFirstWrite(
        db,
        (write) => countWrite(tenant.id)(write) && (write.UpdateExpression ?? '').includes(':minusOne'),
      );
      try {
        expect((await create(tollgate, tenant.key, 2)).status).toBe(500);
      } finally {
        endpointFails.restore();
        releaseFails.restore();
      }
      expect([endpointFails.failed(), releaseFails.failed()]).toEqual([1, 1]);
      expect(await listedCount(tollgate, tenant.key)).toBe(2);

      // The counter says three: refused while a creation could still be writing its endpoint.
      expect((await create(tollgate, tenant.key, 3)).status).toBe(409);
      clockOffsetMs = ENDPOINT_COUNT_SETTLED_MS + 1_000;
      expect((await create(tollgate, tenant.key, 4)).status).toBe(201);
      expect((await create(tollgate, tenant.key, 5)).status).toBe(409);
      expect(await listedCount(tollgate, tenant.key)).toBe(3);
    },
  );
});

describe('webhook writes whose answer was lost (the SDK retried them)', () => {
  /** The first write of `command` on a key whose sort key contains `skPart`, matching `more`. */
  const writeOf =
    (command: string, skPart: string, more: (write: SentWrite) => boolean = () => true) =>
    (write: SentWrite) =>
      write.commandName === command &&
      (write.Key?.sk?.S ?? write.Item?.sk?.S ?? '').includes(skPart) &&
      more(write);
  /** Runs `action` with the answer of the first write `matches` picks lost; asserts it was. */
  async function withLostAnswer<T>(
    tollgate: TestTollgate,
    matches: (write: SentWrite) => boolean,
    action: () => Promise<T>,
  ): Promise<T> {
    const losing = loseFirstAnswer(tollgate.store.db, matches);
    try {
      return await action();
    } finally {
      losing.restore();
      expect(losing.lost()).toBe(1);
    }
  }

  it('creating an endpoint answers 201 with its secret, and takes one slot', async () => {
    const tollgate = await tollgateWith('0', {}, { TOLLGATE_WEBHOOK_MAX_ENDPOINTS: '1' });
    const tenant = await tollgate.createTenant('Lost answer: endpoint');
    const hook = await receiver();
    const endpoint = await withLostAnswer(tollgate, writeOf('PutItemCommand', '#webhook-endpoint#'), () =>
      createEndpoint(tollgate, tenant.key, { url: hook.url }),
    );
    await publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1'));
    const [received] = hook.received;
    if (!received) throw new Error('nothing received');
    new Webhook(endpoint.secret).verify(received.body, headersOf(received));
    const listed = await (await tollgate.request('GET', '/v1/webhook-endpoints', { key: tenant.key })).json();
    expect(listed.data.map((item: { id: string }) => item.id)).toEqual([endpoint.id]);
    const second = await tollgate.request('POST', '/v1/webhook-endpoints', {
      key: tenant.key,
      body: { url: hook.url },
    });
    expect((await second.json()).code).toBe('WEBHOOK_ENDPOINT_LIMIT');
  });

  it('a delivery is still sent at once, from the bus and as a test event', async () => {
    const tollgate = await tollgateWith('0,1');
    const tenant = await tollgate.createTenant('Lost answer: delivery');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const deliveryPut = writeOf('PutItemCommand', '#webhook-delivery#');

    await withLostAnswer(tollgate, deliveryPut, () =>
      publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1')),
    );
    expect(hook.received).toHaveLength(1);
    const test = await withLostAnswer(tollgate, deliveryPut, () =>
      tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, { key: tenant.key }),
    );
    expect(test.status).toBe(202);
    expect(await test.json()).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(hook.received).toHaveLength(2);
    const log = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(log.map((delivery) => delivery.state)).toEqual(['delivered', 'delivered']);
  });

  it('a retry whose lease write lost its answer still makes its attempt', async () => {
    const tollgate = await tollgateWith('0,1');
    const tenant = await tollgate.createTenant('Lost answer: lease');
    const hook = await receiver((index) => ({ status: index === 0 ? 500 : 200 }));
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    await publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1'));
    expect(hook.received).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await withLostAnswer(
      tollgate,
      writeOf('UpdateItemCommand', '#webhook-delivery#', (write) =>
        (write.UpdateExpression ?? '').startsWith('SET lease_until'),
      ),
      () => runRetryJob(tollgate),
    );
    const [delivery] = await deliveries(tollgate, tenant.key, endpoint.id);
    expect(delivery).toMatchObject({ state: 'delivered', attempts: 2, status_code: 200 });
    expect(hook.received).toHaveLength(2);
  });

  it('a secret rotation rotates once: the secret it replaced keeps signing beside the new one', async () => {
    const tollgate = await tollgateWith('0');
    const tenant = await tollgate.createTenant('Lost answer: rotation');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const rotation = await withLostAnswer(
      tollgate,
      writeOf('UpdateItemCommand', '#webhook-endpoint#', (write) =>
        Object.values(write.ExpressionAttributeNames ?? {}).includes('secret_envelope'),
      ),
      () =>
        tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, { key: tenant.key }),
    );
    expect(rotation.status).toBe(200);
    const { secret: newSecret } = await rotation.json();
    await publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1'));
    const [received] = hook.received;
    if (!received) throw new Error('nothing received');
    for (const secret of [endpoint.secret, newSecret])
      new Webhook(secret).verify(received.body, headersOf(received));
  });

  it('a second rotation within the overlap rotates once too, and keeps both earlier secrets signing', async () => {
    const tollgate = await tollgateWith('0');
    const tenant = await tollgate.createTenant('Lost answer: second rotation');
    const hook = await receiver();
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    const { rotate, sendTest } = endpointActions(tollgate, tenant.key, endpoint.id, hook);
    const first = await rotate();
    const second = await withLostAnswer(
      tollgate,
      writeOf('UpdateItemCommand', '#webhook-endpoint#', (write) =>
        Object.values(write.ExpressionAttributeNames ?? {}).includes('secret_envelope'),
      ),
      rotate,
    );
    const received = await sendTest();
    expect(String(received.headers['webhook-signature']).split(' ')).toHaveLength(3);
    for (const secret of [endpoint.secret, first.secret, second.secret])
      new Webhook(secret).verify(received.body, headersOf(received));
  });

  it('an endpoint disabled on 410 Gone is still reported', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const tollgate = await tollgateWith('0', {}, {}, 'dynamodb-local', logger);
    const tenant = await tollgate.createTenant('Lost answer: disable');
    const hook = await receiver(() => ({ status: 410 }));
    const endpoint = await createEndpoint(tollgate, tenant.key, { url: hook.url });
    await withLostAnswer(
      tollgate,
      writeOf('UpdateItemCommand', '#webhook-endpoint#', (write) =>
        (write.UpdateExpression ?? '').includes('disabled_reason'),
      ),
      () => publish(tollgate, busEvent(tenant.id, 'budget.exceeded.v1')),
    );
    const reports = lines
      .map((line) => JSON.parse(line))
      .filter((line) => line.msg === 'webhook endpoint disabled');
    expect(reports).toEqual([
      expect.objectContaining({ endpoint_id: endpoint.id, reason: 'the endpoint answered 410 Gone' }),
    ]);
  });
});
