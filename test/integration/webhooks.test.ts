import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent, InProcessBus } from '../../shared/bus/bus.js';
import { newId } from '../../shared/ids.js';
import type { ResolvedAddress } from '../../shared/webhooks/address-guard.js';
import type { WebhookOptions } from '../../shared/webhooks/index.js';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';
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
) {
  const tollgate = await createTestTollgate({
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
