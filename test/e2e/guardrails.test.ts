import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalTollgate, startLocalTollgate } from '../../local/local-mode.js';
import { loadConfig } from '../../shared/config/config.js';
import { type ReceivedWebhook, startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Issue 5's guardrail loop as a customer meets it, in local mode (embedded store on disk, real
 * HTTP, the in-process bus, the local scheduler): usage crosses a budget's thresholds, the
 * customer's receiver gets one signed webhook per crossing with the action to enforce, the
 * decision endpoint blocks, the rollup sends nothing twice, and a new period resolves it.
 */

/** The budgets' clock: moved into the next month to start a new period. */
let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

/** Long enough for the 1 s webhook-retry job to run at least once: a duplicate would show. */
const QUIET_MS = 2_500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the guardrail loop in local mode', () => {
  let dataDir: string;
  let tollgate: LocalTollgate;
  let hook: WebhookReceiver;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tollgate-guardrails-'));
    hook = await startReceiver();
    const config = loadConfig({
      PORT: '0',
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_LOG_LEVEL: 'warn',
      TOLLGATE_ALLOW_PRIVATE_URLS: 'true',
      TOLLGATE_WEBHOOK_RETRY_SCHEDULE: '0,1,1,1',
      // The rollup reads every event at once when run on demand; its own schedule stays out of the way.
      TOLLGATE_ROLLUP_LAG_SECONDS: '0',
      TOLLGATE_ROLLUP_INTERVAL_SECONDS: '86400',
    });
    tollgate = await startLocalTollgate(config, { now });
  });
  afterAll(async () => {
    await tollgate?.stop();
    await hook?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const response = await fetch(`${tollgate.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  /** Waits for exactly `count` webhooks in all: that many arrive, and no more in a quiet spell. */
  const expectDelivered = async (count: number) => {
    await hook.waitFor(count, 15_000);
    await sleep(QUIET_MS);
    expect(hook.received).toHaveLength(count);
  };

  it('crossings send one signed webhook each, check blocks, nothing repeats, a new period resolves', async () => {
    const tenant = await call('POST', '/v1/tenants', tollgate.operatorKey, { name: 'Guardrails' });
    expect(tenant.status).toBe(201);
    const key: string = tenant.body.api_key.key;
    const tenantId: string = tenant.body.id;

    const endpoint = await call('POST', '/v1/webhook-endpoints', key, { url: hook.url });
    expect(endpoint.status).toBe(201);
    const secret: string = endpoint.body.secret;

    const budget = await call('POST', '/v1/budgets', key, {
      name: 'support-bot monthly',
      scope: { feature: 'support-bot' },
      period: 'month',
      limit: { amount: '1.00', currency: 'USD' },
      thresholds: [50, 80, 100],
      actions: {
        '80': { type: 'downgrade', model_map: { 'gpt-4o': 'gpt-4o-mini' } },
        '100': { type: 'block' },
      },
    });
    expect(budget.status).toBe(201);
    const budgetId: string = budget.body.id;

    /** Verifies a received webhook as a customer's receiver does, with `standardwebhooks`. */
    const verified = (received: ReceivedWebhook) => {
      const headers = Object.fromEntries(
        Object.entries(received.headers).map(([name, value]) => [name, String(value)]),
      );
      const payload = new Webhook(secret).verify(received.body, headers) as {
        id: string;
        type: string;
        tenant_id: string;
        data: Record<string, unknown> & { threshold: number | null; budget: { id: string } };
      };
      expect(headers['webhook-id']).toBe(payload.id);
      expect(payload.tenant_id).toBe(tenantId);
      expect(payload.data.budget.id).toBe(budgetId);
      return payload;
    };
    const summary = (received: ReceivedWebhook[]) =>
      received
        .map(verified)
        .map((payload) => `${payload.type}:${payload.data.threshold}`)
        .sort();

    const check = async () => {
      const answer = await call('POST', '/v1/enforcement/check', key, {
        dimensions: { feature: 'support-bot' },
        model: 'gpt-4o',
      });
      expect(answer.status).toBe(200);
      return answer.body;
    };
    let sent = 0;
    /** gpt-4o input is $2.50 per million tokens: 100,000 tokens cost $0.25. */
    const use = async (inputTokens: number, id = `call-${++sent}`) => {
      const answer = await call('POST', '/v1/usage', key, {
        events: [
          {
            id,
            provider: 'openai',
            model: 'gpt-4o',
            usage: { input_tokens: inputTokens, output_tokens: 0 },
            dimensions: { feature: 'support-bot' },
          },
        ],
      });
      expect(answer.status).toBe(202);
      return answer.body;
    };

    // Other usage (another feature) counts nowhere in this budget.
    await call('POST', '/v1/usage', key, {
      events: [
        {
          id: 'elsewhere',
          provider: 'openai',
          model: 'gpt-4o',
          usage: { input_tokens: 4_000_000, output_tokens: 0 },
          dimensions: { feature: 'search' },
        },
      ],
    });
    expect((await check()).decision).toBe('allow');

    // 60%: the 50% threshold notifies.
    await use(240_000);
    await expectDelivered(1);
    const [crossed50] = hook.received.map(verified);
    expect(crossed50).toMatchObject({
      type: 'budget.threshold_crossed',
      data: { threshold: 50, state: 'warning', spent: '0.60000000', limit: '1.00000000', unit: 'usd' },
    });
    expect(crossed50?.data.action).toMatchObject({ type: 'notify' });
    expect((await check()).decision).toBe('warn');

    // 85%: the 80% threshold, whose action is to downgrade.
    await use(100_000);
    await expectDelivered(2);
    const crossed80 = verified(hook.received[1] as ReceivedWebhook);
    expect(crossed80).toMatchObject({
      type: 'budget.threshold_crossed',
      data: {
        threshold: 80,
        state: 'warning',
        spent: '0.85000000',
        action: { type: 'downgrade', model_map: { 'gpt-4o': 'gpt-4o-mini' } },
      },
    });
    expect(await check()).toMatchObject({ decision: 'downgrade', model: 'gpt-4o-mini' });

    // 105%: the 100% threshold is crossed and the budget is exceeded; both say block.
    await use(80_000);
    await expectDelivered(4);
    expect(summary(hook.received)).toEqual([
      'budget.exceeded:100',
      'budget.threshold_crossed:100',
      'budget.threshold_crossed:50',
      'budget.threshold_crossed:80',
    ]);
    for (const payload of hook.received.slice(2).map(verified)) {
      expect(payload.data).toMatchObject({
        threshold: 100,
        state: 'exceeded',
        spent: '1.05000000',
        action: { type: 'block' },
      });
    }
    const blocked = await check();
    expect(blocked).toMatchObject({
      decision: 'block',
      model: 'gpt-4o',
      budgets: [{ id: budgetId, state: 'exceeded', decision: 'block', remaining: '0.00000000' }],
    });
    const authorize = await call('POST', '/v1/enforcement/authorize', key, {
      id: 'after-exceeded',
      dimensions: { feature: 'support-bot' },
      model: 'gpt-4o',
      estimated_input_tokens: 100,
      max_output_tokens: 100,
    });
    expect(authorize).toMatchObject({ status: 200, body: { decision: 'block', reservation_id: null } });

    // A retried usage request is a duplicate (spent once), more usage crosses nothing new, and the
    // rollup, run on demand (twice), re-evaluates every budget: still exactly four webhooks.
    expect(await use(80_000, 'call-3')).toMatchObject({ accepted: 0, duplicates: 1 });
    await use(4_000);
    for (let run = 0; run < 2; run++) {
      const rollup = await call(
        'POST',
        `/v1/admin/jobs/kpi-rollup/run?tenant_id=${tenantId}`,
        tollgate.operatorKey,
      );
      expect(rollup.status).toBe(200);
      expect(rollup.body.result).toMatchObject({ budget_notices: 0 });
    }
    await expectDelivered(4);
    const status = (await call('GET', `/v1/budgets/${budgetId}`, key)).body.status;
    expect(status).toMatchObject({ state: 'exceeded', spent: '1.06000000', reserved: '0.00000000' });
    const ids = hook.received.map((received) => received.headers['webhook-id']);
    expect(new Set(ids).size).toBe(4);
    const log = await call('GET', `/v1/webhook-endpoints/${endpoint.body.id}/deliveries`, key);
    expect(log.status).toBe(200);
    expect(log.body.data).toHaveLength(4);
    for (const delivery of log.body.data) {
      expect(delivery).toMatchObject({ state: 'delivered', attempts: 1, status_code: 200 });
    }

    // The next month is a new period: allowed again, and the rollup resolves the alert, once.
    const current = now();
    const nextMonth = Date.UTC(current.getUTCFullYear(), current.getUTCMonth() + 1, 1, 1);
    clockOffsetMs = nextMonth - Date.now();
    expect((await check()).decision).toBe('allow');
    for (let run = 0; run < 2; run++) {
      const rollup = await call(
        'POST',
        `/v1/admin/jobs/kpi-rollup/run?tenant_id=${tenantId}`,
        tollgate.operatorKey,
      );
      expect(rollup.status).toBe(200);
    }
    await expectDelivered(5);
    const resolved = verified(hook.received[4] as ReceivedWebhook);
    expect(resolved).toMatchObject({
      type: 'budget.resolved',
      data: { state: 'resolved', reason: 'new_period' },
    });
    const afterResolution = (await call('GET', `/v1/budgets/${budgetId}`, key)).body.status;
    expect(afterResolution).toMatchObject({ state: 'resolved', spent: '0.00000000' });
    expect(
      (
        await call('POST', '/v1/enforcement/authorize', key, {
          id: 'new-period',
          dimensions: { feature: 'support-bot' },
          model: 'gpt-4o',
          estimated_input_tokens: 100,
          max_output_tokens: 100,
        })
      ).body,
    ).toMatchObject({ decision: 'allow', reservation_id: expect.stringMatching(/^rsv_/) });
  }, 90_000);
});
