import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureCounter,
  loadBudgetPartition,
  MAX_HOLDS_PER_COUNTER,
  reserveOnCounter,
  writeReservation,
} from '../../shared/budgets/repository.js';
import { CreateBudgetSchema } from '../../shared/budgets/schema.js';
import {
  ABANDONED_AFTER_MS,
  BATCH_MARK_HORIZON_MS,
  DEFINITIONS_TRUSTED_MS,
  MAX_BUDGETS_PER_TENANT,
} from '../../shared/budgets/service.js';
import type { BusEvent, InProcessBus } from '../../shared/bus/bus.js';
import { COUNT_SETTLED_MS } from '../../shared/db/capped-count.js';
import type { Db } from '../../shared/db/client.js';
import { keys } from '../../shared/db/keys.js';
import { hashedId } from '../../shared/ids.js';
import { parseDecimal } from '../../shared/money/money.js';
import { createUsageService } from '../../shared/usage/service.js';
import {
  budgetSetBump,
  delayFirstWrite,
  failFirstWrite,
  loseFirstAnswer,
  raceWithLostRequest,
  type SentWrite,
} from '../helpers/lost-answer.js';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

/** A clock the test moves (a new budget period, an expired reservation). */
let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

let tollgate: TestTollgate;
let tenant: { id: string; key: string };
const published: BusEvent[] = [];

beforeAll(async () => {
  tollgate = await createTestTollgate({ now });
  (tollgate.runtime.bus as InProcessBus).subscribe('budget.', async (event) => {
    published.push(event);
  });
});
afterAll(() => tollgate.cleanup());

const createBudget = async (key: string, body: Record<string, unknown>) => {
  const response = await tollgate.request('POST', '/v1/budgets', { key, body });
  if (response.status !== 201) throw new Error(`budget: ${response.status} ${await response.text()}`);
  return response.json();
};

/** A daily token budget that blocks at its limit. */
const createBlockingTokenBudget = (key: string, name: string, tokens: number) =>
  createBudget(key, {
    name,
    period: 'day',
    limit: { tokens },
    thresholds: [100],
    actions: { '100': { type: 'block' } },
  });

/** A budget's live status, as its owner reads it. */
const budgetStatus = async (key: string, budgetId: string) =>
  (await (await tollgate.request('GET', `/v1/budgets/${budgetId}`, { key })).json()).status;

/** An authorization of 700 input tokens (no output) that must be answered 200; its answer. */
const authorize700 = async (key: string, id: string) => {
  const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
    key,
    body: { id, model: 'gpt-4o', estimated_input_tokens: 700, max_output_tokens: 0 },
  });
  expect(response.status).toBe(200);
  return response.json();
};

let eventCounter = 0;
const ingest = async (key: string, events: Record<string, unknown>[]) => {
  const response = await tollgate.request('POST', '/v1/usage', {
    key,
    body: {
      events: events.map((event) => ({
        id: `ev-${++eventCounter}`,
        provider: 'openai',
        model: 'gpt-4o',
        ...event,
      })),
    },
  });
  expect(response.status).toBe(202);
  const body = await response.json();
  expect(body.accepted).toBe(events.length);
  return body;
};

/** A budget event's data, loosely: the test asserts on it. */
interface BudgetEventData {
  budget: { id: string };
  threshold: number | null;
}
const dataOf = (event: BusEvent) => event.data as unknown as BudgetEventData;

const drain = () => (tollgate.runtime.bus as InProcessBus).drain();

/** The usage-batch marks (`b_<batch id>`) on a budget's counter for its current period. */
async function batchMarksOf(
  db: Db,
  tenantId: string,
  budget: { id: string; status: { period_start: string } },
) {
  const { Item } = await db.exactClient.send(
    new GetCommand({
      TableName: db.tableName,
      Key: keys.budgetCounter(tenantId, budget.id, budget.status.period_start),
      ConsistentRead: true,
    }),
  );
  if (!Item) throw new Error(`no counter for budget ${budget.id}`);
  return Object.keys(Item).filter((name) => name.startsWith('b_'));
}
const eventsOf = (budgetId: string) => published.filter((event) => dataOf(event).budget.id === budgetId);

describe('budgets CRUD', () => {
  beforeAll(async () => {
    tenant = await tollgate.createTenant('Budgets');
  });

  it('creates, reads, lists, changes and deletes a budget', async () => {
    const created = await createBudget(tenant.key, {
      name: 'support-bot monthly',
      scope: { feature: 'support-bot' },
      period: 'month',
      limit: { amount: '500.00', currency: 'USD' },
      thresholds: [50, 80, 100],
      forecast_alert: true,
      actions: {
        '80': { type: 'downgrade', model_map: { 'gpt-4o': 'gpt-4o-mini' } },
        '100': { type: 'block' },
      },
    });
    expect(created.id).toMatch(/^bud_/);
    expect(created.timezone).toBe('UTC');
    expect(created.status).toMatchObject({
      unit: 'usd',
      spent: '0.00000000',
      remaining: '500.00000000',
      state: 'ok',
      utilization_pct: 0,
    });
    const got = await (
      await tollgate.request('GET', `/v1/budgets/${created.id}`, { key: tenant.key })
    ).json();
    expect(got).toEqual(created);
    const list = await (await tollgate.request('GET', '/v1/budgets', { key: tenant.key })).json();
    expect(list.data.map((b: { id: string }) => b.id)).toContain(created.id);

    const patched = await tollgate.request('PATCH', `/v1/budgets/${created.id}`, {
      key: tenant.key,
      body: { name: 'renamed', limit: { amount: '600', currency: 'USD' } },
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ name: 'renamed', status: { remaining: '600.00000000' } });

    const unitChange = await tollgate.request('PATCH', `/v1/budgets/${created.id}`, {
      key: tenant.key,
      body: { limit: { tokens: 1000 } },
    });
    expect(unitChange.status).toBe(400);
    expect((await unitChange.json()).errors[0].path).toBe('limit');

    expect((await tollgate.request('DELETE', `/v1/budgets/${created.id}`, { key: tenant.key })).status).toBe(
      204,
    );
    const gone = await tollgate.request('GET', `/v1/budgets/${created.id}`, { key: tenant.key });
    expect(gone.status).toBe(404);
    expect((await gone.json()).code).toBe('BUDGET_NOT_FOUND');
    expect((await tollgate.request('DELETE', `/v1/budgets/${created.id}`, { key: tenant.key })).status).toBe(
      404,
    );
  });

  it('refuses invalid budgets with field paths', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'x', period: 'fortnight', limit: { tokens: 10 } }, 'period'],
      [{ name: 'x', period: 'month', limit: { amount: '-5', currency: 'USD' } }, 'limit.amount'],
      [{ name: 'x', period: 'month', limit: { tokens: 10 }, week_start: 'sunday' }, 'week_start'],
      [{ name: 'x', period: 'day', timezone: 'Mars/Olympus', limit: { tokens: 10 } }, 'timezone'],
      [
        {
          name: 'x',
          period: 'day',
          limit: { tokens: 10 },
          thresholds: [50],
          actions: { '90': { type: 'block' } },
        },
        'actions.90',
      ],
      [
        { name: 'x', period: 'day', limit: { tokens: 10 }, actions: { '100': { type: 'downgrade' } } },
        'actions.100.model_map',
      ],
      [{ name: 'x', period: 'day', limit: { tokens: 10 }, thresholds: [50, 50] }, 'thresholds'],
      // Past what DynamoDB keeps (38 digits, below 1e126), or not plain digits as shown back.
      [{ name: 'x', period: 'day', limit: { amount: '1e200', currency: 'USD' } }, 'limit.amount'],
      [
        {
          name: 'x',
          period: 'day',
          limit: { amount: '1234567890123456789012345678901234567890.5', currency: 'USD' },
        },
        'limit.amount',
      ],
      [{ name: 'x', period: 'day', limit: { amount: '+5', currency: 'USD' } }, 'limit.amount'],
      [{ name: 'x', period: 'day', limit: { amount: '0.000000001', currency: 'USD' } }, 'limit.amount'],
      // An action key no threshold is spelled as would never be enforced.
      [
        {
          name: 'x',
          period: 'day',
          limit: { tokens: 10 },
          thresholds: [80],
          actions: { '080': { type: 'block' } },
        },
        'actions.080',
      ],
      // Usage names providers in lowercase: this scope would match none of it.
      [{ name: 'x', period: 'day', limit: { tokens: 10 }, scope: { provider: 'OpenAI' } }, 'scope.provider'],
      // Not IANA zones: the server's own zone, and a fixed offset without DST rules.
      [{ name: 'x', period: 'day', timezone: 'local', limit: { tokens: 10 } }, 'timezone'],
      [{ name: 'x', period: 'day', timezone: 'UTC+5', limit: { tokens: 10 } }, 'timezone'],
      // A usage event keyed by this name could never be stored.
      [{ name: 'x', period: 'day', limit: { tokens: 10 }, scope: { constructor: 'x' } }, 'scope.constructor'],
    ];
    for (const [body, path] of cases) {
      const response = await tollgate.request('POST', '/v1/budgets', { key: tenant.key, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = await response.json();
      expect(problem.code).toBe('VALIDATION_FAILED');
      expect(problem.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
  });

  it('says what a limit is when it is neither, and stores a zone by its canonical name', async () => {
    const response = await tollgate.request('POST', '/v1/budgets', {
      key: tenant.key,
      body: { name: 'x', period: 'day', limit: { amount: '5', currency: 'EUR' } },
    });
    expect(response.status).toBe(400);
    const [error] = (await response.json()).errors;
    expect(error).toMatchObject({ path: 'limit' });
    expect(error.message).toContain('USD only');
    for (const [given, stored] of [
      ['europe/berlin', 'Europe/Berlin'],
      ['US/Pacific', 'America/Los_Angeles'],
    ]) {
      const zoned = await createBudget(tenant.key, {
        name: given,
        period: 'day',
        timezone: given,
        limit: { tokens: 10 },
      });
      expect(zoned.timezone).toBe(stored);
    }
  });

  it('refuses estimates and providers that could not be held or matched', async () => {
    for (const body of [
      { id: 'big', model: 'x', estimated_input_tokens: 1, estimated_cost: '1e300' },
      {
        id: 'long',
        model: 'x',
        estimated_input_tokens: 1,
        estimated_cost: '0.1000000000000000000000000000000000000001',
      },
      { id: 'case', model: 'gpt-4o', provider: 'OpenAI', estimated_input_tokens: 1, max_output_tokens: 1 },
    ]) {
      const response = await tollgate.request('POST', '/v1/enforcement/authorize', { key: tenant.key, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect((await response.json()).code).toBe('VALIDATION_FAILED');
    }
  });

  it('nests budgets by scope in the tree view, with roll-ups', async () => {
    const t = await tollgate.createTenant('Tree');
    const root = await createBudget(t.key, {
      name: 'all',
      period: 'month',
      limit: { amount: '1000', currency: 'USD' },
    });
    const feature = await createBudget(t.key, {
      name: 'chat',
      scope: { feature: 'chat' },
      period: 'month',
      limit: { amount: '400', currency: 'USD' },
    });
    const customer = await createBudget(t.key, {
      name: 'chat acme',
      scope: { feature: 'chat', customer: 'acme' },
      period: 'month',
      limit: { amount: '100', currency: 'USD' },
    });
    const other = await createBudget(t.key, {
      name: 'search',
      scope: { feature: 'search' },
      period: 'month',
      limit: { amount: '300', currency: 'USD' },
    });
    // Children by scope, but not of the root's month: nested, not rolled up into it.
    const daily = await createBudget(t.key, {
      name: 'chat daily',
      scope: { feature: 'chat', team: 'a' },
      period: 'day',
      limit: { amount: '50', currency: 'USD' },
    });
    const elsewhere = await createBudget(t.key, {
      name: 'search in LA',
      scope: { feature: 'search', team: 'b' },
      period: 'month',
      timezone: 'America/Los_Angeles',
      limit: { amount: '30', currency: 'USD' },
    });
    await ingest(t.key, [
      {
        usage: { input_tokens: 1_000_000, output_tokens: 0 },
        dimensions: { feature: 'chat', customer: 'acme' },
      },
    ]);
    const summary = await (await tollgate.request('GET', '/v1/kpis/summary', { key: t.key })).json();
    expect(summary.budgets.map((b: { id: string }) => b.id)).toEqual([
      root.id,
      feature.id,
      customer.id,
      other.id,
      daily.id,
      elsewhere.id,
    ]);
    expect(summary.budgets[2]).toMatchObject({
      name: 'chat acme',
      state: 'ok',
      spent: '2.50000000',
      limit: '100.00000000',
      utilization_pct: 2.5,
    });
    const tree = await (await tollgate.request('GET', '/v1/budgets?view=tree', { key: t.key })).json();
    expect(tree.data).toHaveLength(1);
    const [top] = tree.data;
    expect(top.budget.id).toBe(root.id);
    expect(top.children.map((n: { budget: { id: string } }) => n.budget.id).sort()).toEqual(
      [feature.id, other.id].sort(),
    );
    expect(top.rollup).toEqual({
      unit: 'usd',
      children: 2,
      children_spent: '2.50000000',
      children_limit: '700.00000000',
    });
    const chat = top.children.find((n: { budget: { id: string } }) => n.budget.id === feature.id);
    expect(chat.children.map((n: { budget: { id: string } }) => n.budget.id).sort()).toEqual(
      [customer.id, daily.id].sort(),
    );
    // The daily child is nested but not rolled up into chat's month.
    expect(chat.rollup).toMatchObject({ children: 1, children_limit: '100.00000000' });
    const search = top.children.find((n: { budget: { id: string } }) => n.budget.id === other.id);
    expect(search.children.map((n: { budget: { id: string } }) => n.budget.id)).toEqual([elsewhere.id]);
    expect(search.rollup).toMatchObject({ children: 0, children_limit: '0.00000000' });
    expect(chat.children[0].budget.status.spent).toBe('2.50000000');
    expect(top.budget.status.spent).toBe('2.50000000');
  });

  // The cap is 200 (not configurable): tenants are filled through the service, which the API's
  // rate limit does not slow down.
  const budgetService = () => tollgate.runtime.services.budgets;
  const tokenBudget = (name: string) =>
    CreateBudgetSchema.parse({ name, period: 'day', limit: { tokens: 10 } });

  /** A new tenant with `count` budgets. */
  async function tenantWithBudgets(name: string, count: number) {
    const t = await tollgate.createTenant(name);
    for (let start = 0; start < count; start += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, count - start) }, (_, index) =>
          budgetService().create(t.id, tokenBudget(`b${start + index}`)),
        ),
      );
    }
    return t;
  }

  /** Creates `count` budgets at once; answers how many were created (every other one met the cap). */
  async function createAtOnce(tenantId: string, count: number): Promise<number> {
    const settled = await Promise.allSettled(
      Array.from({ length: count }, (_, index) => budgetService().create(tenantId, tokenBudget(`c${index}`))),
    );
    for (const outcome of settled) {
      if (outcome.status === 'rejected')
        expect(outcome.reason).toMatchObject({ code: 'BUDGET_LIMIT_REACHED' });
    }
    return settled.filter((outcome) => outcome.status === 'fulfilled').length;
  }

  const storedBudgets = async (tenantId: string) =>
    (await loadBudgetPartition(tollgate.store.db, tenantId)).definitions.length;

  const budgetCountOf = async (tenantId: string) => {
    const { Item } = await tollgate.store.db.client.send(
      new GetCommand({
        TableName: tollgate.store.db.tableName,
        Key: keys.budgetCount(tenantId),
        ConsistentRead: true,
      }),
    );
    return Item?.budget_count;
  };

  /** A change of the tenant's budget count (`:one` takes a slot, `:minusOne` gives one back). */
  const budgetCountWrite = (tenantId: string, change: ':one' | ':minusOne') => (write: SentWrite) =>
    write.commandName === 'UpdateItemCommand' &&
    (write.Key?.pk?.S ?? '').includes(tenantId) &&
    (write.UpdateExpression ?? '').includes(`budget_count ${change}`);

  const budgetDelete = (tenantId: string, budgetId: string) => (write: SentWrite) =>
    write.commandName === 'DeleteItemCommand' && write.Key?.sk?.S === keys.budget(tenantId, budgetId).sk;

  it('admits exactly the cap among concurrent creations, and answers 409 BUDGET_LIMIT_REACHED past it', async () => {
    expect(MAX_BUDGETS_PER_TENANT).toBe(200);
    const t = await tollgate.createTenant('Budget cap');
    expect(await createAtOnce(t.id, MAX_BUDGETS_PER_TENANT + 40)).toBe(MAX_BUDGETS_PER_TENANT);
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
    expect(await budgetCountOf(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
    const refused = await tollgate.request('POST', '/v1/budgets', {
      key: t.key,
      body: { name: 'one more', period: 'day', limit: { tokens: 10 } },
    });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({
      code: 'BUDGET_LIMIT_REACHED',
      detail: 'A tenant has at most 200 budgets.',
    });
  });

  it('a budget delete frees one slot, and deleting it again none', async () => {
    const t = await tenantWithBudgets('Budget cap: delete', MAX_BUDGETS_PER_TENANT);
    const [first] = (await loadBudgetPartition(tollgate.store.db, t.id)).definitions;
    expect((await tollgate.request('DELETE', `/v1/budgets/${first?.id}`, { key: t.key })).status).toBe(204);
    expect((await tollgate.request('DELETE', `/v1/budgets/${first?.id}`, { key: t.key })).status).toBe(404);
    expect(await createAtOnce(t.id, 10)).toBe(1);
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
  });

  it('a budget delete whose answer was lost (the SDK retried it) frees exactly one slot', async () => {
    const t = await tenantWithBudgets('Budget cap: lost delete', MAX_BUDGETS_PER_TENANT);
    const [first] = (await loadBudgetPartition(tollgate.store.db, t.id)).definitions;
    const losing = loseFirstAnswer(tollgate.store.db, budgetDelete(t.id, first?.id ?? ''));
    let removed: Response;
    try {
      removed = await tollgate.request('DELETE', `/v1/budgets/${first?.id}`, { key: t.key });
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(removed.status).toBe(204);
    expect(await createAtOnce(t.id, 10)).toBe(1);
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
  });

  it('two deletes of one budget that both answer 204 (one retried after the other) free one slot', async () => {
    const t = await tenantWithBudgets('Budget cap: racing deletes', MAX_BUDGETS_PER_TENANT);
    const [first] = (await loadBudgetPartition(tollgate.store.db, t.id)).definitions;
    const remove = () => tollgate.request('DELETE', `/v1/budgets/${first?.id}`, { key: t.key });
    const [racing, retried] = await raceWithLostRequest(
      tollgate.store.db,
      budgetDelete(t.id, first?.id ?? ''),
      remove,
    );
    expect([racing.status, retried.status]).toEqual([204, 204]);
    expect(await createAtOnce(t.id, 10)).toBe(1);
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
  });

  it('counts the budgets of a tenant stored before the count existed', async () => {
    const t = await tenantWithBudgets('Budget cap: older tenant', MAX_BUDGETS_PER_TENANT - 5);
    // As data from before the cap was counted: budgets, no count.
    await tollgate.store.db.client.send(
      new DeleteCommand({ TableName: tollgate.store.db.tableName, Key: keys.budgetCount(t.id) }),
    );
    expect(await createAtOnce(t.id, 20)).toBe(5);
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
    expect(await budgetCountOf(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
  });

  it('counts a slot once when the answer of its increment is lost', async () => {
    const t = await tenantWithBudgets('Budget cap: lost increment', MAX_BUDGETS_PER_TENANT - 2);
    const losing = loseFirstAnswer(tollgate.store.db, budgetCountWrite(t.id, ':one'));
    try {
      await budgetService().create(t.id, tokenBudget('lost answer'));
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(await budgetCountOf(t.id)).toBe(MAX_BUDGETS_PER_TENANT - 1);
    expect(await createAtOnce(t.id, 10)).toBe(1);
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
  });

  it('a rerun under an Idempotency-Key that finds the budget its first run stored takes no second slot', async () => {
    const t = await tenantWithBudgets('Budget cap: rerun', MAX_BUDGETS_PER_TENANT - 2);
    const create = () =>
      tollgate.request('POST', '/v1/budgets', {
        key: t.key,
        body: { name: 'half-done', period: 'day', limit: { tokens: 10 } },
        headers: { 'idempotency-key': 'budget-cap-rerun' },
      });
    // The budget is stored, then raising the set's revision fails: 500, and the key is given back.
    const bumpFails = failFirstWrite(tollgate.store.db, budgetSetBump(t.id));
    try {
      expect((await create()).status).toBe(500);
    } finally {
      bumpFails.restore();
    }
    expect(bumpFails.failed()).toBe(1);
    expect((await create()).status).toBe(201);
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT - 1);
    expect(await createAtOnce(t.id, 10)).toBe(1);
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
  });

  it('recounts at the cap a slot left taken by a creation that stopped, once the count has been still a minute', async () => {
    const t = await tenantWithBudgets('Budget cap: stopped creation', MAX_BUDGETS_PER_TENANT - 1);
    // A creation that took its slot, then failed to write its budget and to give the slot back
    // (as a process that stopped in between would).
    const db = tollgate.store.db;
    const budgetFails = failFirstWrite(
      db,
      (write) =>
        write.commandName === 'PutItemCommand' &&
        (write.Item?.pk?.S ?? '').includes(t.id) &&
        (write.Item?.sk?.S ?? '').includes('#budget#'),
    );
    const releaseFails = failFirstWrite(db, budgetCountWrite(t.id, ':minusOne'));
    try {
      await expect(budgetService().create(t.id, tokenBudget('stopped'))).rejects.toThrow();
    } finally {
      budgetFails.restore();
      releaseFails.restore();
    }
    expect([budgetFails.failed(), releaseFails.failed()]).toEqual([1, 1]);
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT - 1);

    // The count says 200: refused while a creation could still be writing its budget.
    expect(await createAtOnce(t.id, 1)).toBe(0);
    clockOffsetMs = COUNT_SETTLED_MS + 1_000;
    try {
      expect(await createAtOnce(t.id, 10)).toBe(1);
    } finally {
      clockOffsetMs = 0;
    }
    expect(await storedBudgets(t.id)).toBe(MAX_BUDGETS_PER_TENANT);
  });
});

describe('evaluation and enforcement', () => {
  it('fires each threshold once per period, blocks when exceeded, and a new period resolves it', async () => {
    const t = await tollgate.createTenant('Thresholds');
    const budget = await createBudget(t.key, {
      name: 'bot tokens',
      scope: { feature: 'bot' },
      period: 'day',
      limit: { tokens: 1000 },
      thresholds: [50, 80, 100],
      actions: {
        '80': { type: 'downgrade', model_map: { 'gpt-4o': 'gpt-4o-mini' } },
        '100': { type: 'block' },
      },
    });
    const check = async () =>
      (
        await tollgate.request('POST', '/v1/enforcement/check', {
          key: t.key,
          body: { dimensions: { feature: 'bot' }, model: 'gpt-4o-2024-08-06' },
        })
      ).json();
    const use = (tokens: number) =>
      ingest(t.key, [{ usage: { input_tokens: tokens, output_tokens: 0 }, dimensions: { feature: 'bot' } }]);

    expect((await check()).decision).toBe('allow');
    await use(300);
    await use(250); // 55%
    await drain();
    expect(eventsOf(budget.id).map((e) => [e.type, dataOf(e).threshold])).toEqual([
      ['budget.threshold_crossed.v1', 50],
    ]);
    await use(10);
    await use(300); // 86%
    expect(await check()).toMatchObject({ decision: 'downgrade', model: 'gpt-4o-mini' });
    await use(200); // 106%
    await drain();
    const blocked = await check();
    expect(blocked.decision).toBe('block');
    expect(blocked.budgets).toEqual([
      { id: budget.id, name: 'bot tokens', state: 'exceeded', decision: 'block', remaining: 0 },
    ]);
    // The rollup job evaluates again: nothing fires twice.
    await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${t.id}`, {
      key: 'tgop_test-operator-key-0123456789abcdef',
    });
    await use(50);
    await drain();
    const types = eventsOf(budget.id).map((e) => `${e.type}:${dataOf(e).threshold}`);
    expect(types.sort()).toEqual(
      [
        'budget.threshold_crossed.v1:50',
        'budget.threshold_crossed.v1:80',
        'budget.threshold_crossed.v1:100',
        'budget.exceeded.v1:100',
      ].sort(),
    );
    const exceeded = eventsOf(budget.id).find((e) => e.type === 'budget.exceeded.v1') as BusEvent;
    expect(exceeded.tenant_id).toBe(t.id);
    expect(exceeded.data).toMatchObject({
      budget: { id: budget.id, name: 'bot tokens', scope: { feature: 'bot' } },
      state: 'exceeded',
      limit: 1000,
      unit: 'tokens',
      action: { type: 'block' },
    });
    const crossed80 = eventsOf(budget.id).find((e) => dataOf(e).threshold === 80) as BusEvent;
    expect(crossed80.data).toMatchObject({
      action: { type: 'downgrade', model_map: { 'gpt-4o': 'gpt-4o-mini' } },
    });

    // The next day is a new period: allowed again, and the job publishes the resolution once.
    clockOffsetMs = 86_400_000;
    try {
      expect((await check()).decision).toBe('allow');
      // Resolved from the period's first instant, not only once the job has published it.
      const before = await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json();
      expect(before.status).toMatchObject({ state: 'resolved', spent: 0 });
      for (let run = 0; run < 2; run++) {
        await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${t.id}`, {
          key: 'tgop_test-operator-key-0123456789abcdef',
        });
      }
      await drain();
      const resolved = eventsOf(budget.id).filter((e) => e.type === 'budget.resolved.v1');
      expect(resolved).toHaveLength(1);
      expect(resolved[0]?.data).toMatchObject({ state: 'resolved', reason: 'new_period' });
      const status = (
        await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json()
      ).status;
      expect(status).toMatchObject({ state: 'resolved', spent: 0 });
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('a raised limit resolves an exceeded budget', async () => {
    const t = await tollgate.createTenant('Raise');
    const budget = await createBudget(t.key, {
      name: 'money',
      period: 'month',
      limit: { amount: '1.00', currency: 'USD' },
      thresholds: [100],
      actions: { '100': { type: 'block' } },
    });
    // 400k input tokens of gpt-4o at $2.50/M = $1.00
    await ingest(t.key, [{ usage: { input_tokens: 400_000, output_tokens: 0 } }]);
    await drain();
    expect(
      eventsOf(budget.id)
        .map((e) => e.type)
        .sort(),
    ).toEqual(['budget.exceeded.v1', 'budget.threshold_crossed.v1']);
    const raised = await tollgate.request('PATCH', `/v1/budgets/${budget.id}`, {
      key: t.key,
      body: { limit: { amount: '2.00', currency: 'USD' } },
    });
    expect((await raised.json()).status).toMatchObject({
      state: 'resolved',
      spent: '1.00000000',
      remaining: '1.00000000',
    });
    await drain();
    const resolved = eventsOf(budget.id).filter((e) => e.type === 'budget.resolved.v1');
    expect(resolved).toHaveLength(1);
    expect(resolved[0]?.data).toMatchObject({ reason: 'limit_raised', limit: '2.00000000' });
  });

  it('measures the burn rate of a budget created mid-period from its creation, not the period start', async () => {
    const late = await tollgate.createTenant('Created mid-period');
    const budget = await createBudget(late.key, {
      name: 'yearly',
      period: 'year',
      limit: { tokens: 1_000_000_000 },
    });
    await ingest(late.key, [{ usage: { input_tokens: 1000 } }]);
    const status = await budgetStatus(late.key, budget.id);
    expect(status.spent).toBe(1000);
    // Counting began minutes ago (read as the one-hour floor): 1,000 tokens an hour, not 1,000
    // spread over the weeks of the year before the budget existed.
    expect(Number(status.burn_rate_per_day)).toBe(24_000);
  });

  it('counts spend whose exact cost has more digits than DynamoDB keeps, and blocks on it', async () => {
    const precise = await tollgate.createTenant('Many digits');
    // A third off: every cost priced with it has 40-odd significant digits.
    const override = await tollgate.request('PUT', '/v1/prices/overrides/openai/gpt-4o', {
      key: precise.key,
      body: { effective_from: '2025-01-01T00:00:00Z', discount_pct: '33.33333333333333333333333333333333' },
    });
    expect(override.status).toBe(200);
    const budget = await createBudget(precise.key, {
      name: 'five dollars',
      period: 'day',
      limit: { amount: '5', currency: 'USD' },
      thresholds: [100],
      actions: { '100': { type: 'block' } },
    });
    const results = [];
    for (let i = 0; i < 3; i++)
      results.push(...(await ingest(precise.key, [{ usage: { input_tokens: 1_234_567 } }])).results);
    const cost = parseDecimal(results[0].cost);
    expect(cost.greaterThan(2)).toBe(true);
    const status = await budgetStatus(precise.key, budget.id);
    // The answers show costs to 8 places: three of them may differ from the exact sum in the last.
    expect(parseDecimal(status.spent).minus(cost.times(3)).abs().lessThan('0.0000001')).toBe(true);
    expect(status.state).toBe('exceeded');
    const check = await tollgate.request('POST', '/v1/enforcement/check', {
      key: precise.key,
      body: { model: 'gpt-4o-mini', estimated_tokens: 10 },
    });
    expect((await check.json()).decision).toBe('block');
  });

  it('admits exactly the limit among 200 concurrent authorizations', async () => {
    const t = await tollgate.createTenant('Race');
    const budget = await createBlockingTokenBudget(t.key, 'fifty', 50);
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
          key: t.key,
          body: { id: `call-${i}`, model: 'gpt-4o', estimated_input_tokens: 1, max_output_tokens: 0 },
        });
        expect(response.status).toBe(200);
        return response.json();
      }),
    );
    const admitted = answers.filter((a) => a.reservation_id !== null);
    expect(admitted).toHaveLength(50);
    expect(answers.filter((a) => a.decision === 'block')).toHaveLength(150);
    const status = (await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json())
      .status;
    expect(status).toMatchObject({ reserved: 50, remaining: 0, spent: 0 });
    // 200 racing writers on one counter item: DynamoDB Local takes its time serialising them.
  }, 120_000);

  it("the first authorizations of a period admit every call that fits, whichever creates the period's counter", async () => {
    const t = await tollgate.createTenant('First holds');
    const budget = await createBlockingTokenBudget(t.key, 'first holds', 1000);
    // A hold takes only an existing counter. Both calls find none; the first to look again is
    // held back until the other has created the counter and taken its hold: it then finds a
    // counter with room, and must take it instead of answering block.
    const counterSk = `v1#budget#${budget.id}#period#${budget.status.period_start}`;
    let delayed = 0;
    const clients = [tollgate.store.db.client, tollgate.store.db.exactClient];
    for (const client of clients) {
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { RequestItems?: Record<string, { Keys?: { sk?: unknown }[] }> };
          const reads = Object.values(input.RequestItems ?? {}).flatMap((table) => table.Keys ?? []);
          if (
            context.commandName === 'BatchGetItemCommand' &&
            delayed === 0 &&
            JSON.stringify(reads).includes(counterSk)
          ) {
            delayed++;
            await new Promise((resolve) => setTimeout(resolve, 300));
          }
          return next(args);
        },
        { step: 'initialize', name: 'delayFirstCounterRead' },
      );
    }
    let answers: { decision: string; reservation_id: string | null }[];
    try {
      answers = await Promise.all(
        ['first-a', 'first-b'].map(async (id) => {
          const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
            key: t.key,
            body: { id, model: 'gpt-4o', estimated_input_tokens: 100, max_output_tokens: 0 },
          });
          expect(response.status).toBe(200);
          return response.json();
        }),
      );
    } finally {
      for (const client of clients) client.middlewareStack.remove('delayFirstCounterRead');
    }
    expect(delayed).toBe(1);
    expect(answers.map((answer) => answer.decision)).toEqual(['allow', 'allow']);
    const status = (await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json())
      .status;
    expect(status).toMatchObject({ reserved: 200, remaining: 800 });
  });

  it('a counter stored before blocking holds compared `used` (it has none) is given one, and admits the call', async () => {
    const t = await tollgate.createTenant('Counter without used');
    const budget = await createBlockingTokenBudget(t.key, 'older counter', 1000);
    const db = tollgate.store.db;
    // As ensureCounter wrote a period's first counter before: its identity, and no `used`.
    const Key = keys.budgetCounter(t.id, budget.id, budget.status.period_start);
    await db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...Key,
          bid: budget.id,
          ps: budget.status.period_start,
          pe: budget.status.period_end,
          entity: 'budget_counter',
          expires_at_epoch: Math.ceil(Date.parse(budget.status.period_end) / 1000) + 86_400 * 40,
        },
      }),
    );
    const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
      key: t.key,
      body: { id: 'older-counter', model: 'gpt-4o', estimated_input_tokens: 300, max_output_tokens: 0 },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ decision: 'allow' });
    const { Item } = await db.exactClient.send(
      new GetCommand({ TableName: db.tableName, Key, ConsistentRead: true }),
    );
    expect(Item).toMatchObject({ used: '300', reserved: '300' });
    expect(await budgetStatus(t.key, budget.id)).toMatchObject({ reserved: 300, remaining: 700 });
  });

  it('a settling usage event spends and gives back its hold in one write: no reader finds the call counted twice', async () => {
    const t = await tollgate.createTenant('Settle in one write');
    const budget = await createBlockingTokenBudget(t.key, 'settle tokens', 2000);
    const held = await authorize700(t.key, 'settle-1');
    expect(held.decision).toBe('allow');
    // What the engine answers for every write that adds spend to the budget's counter: the
    // counter as any reader would find it right after that write.
    const counterSk = `v1#budget#${budget.id}#period#${budget.status.period_start}`;
    const afterSpend: Record<string, unknown>[] = [];
    const client = tollgate.store.db.exactClient;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        const input = args.input as { Key?: { sk?: string }; UpdateExpression?: string };
        if (
          context.commandName === 'UpdateItemCommand' &&
          input.Key?.sk === counterSk &&
          (input.UpdateExpression ?? '').includes('ADD spent')
        ) {
          afterSpend.push((result.output as { Attributes?: Record<string, unknown> }).Attributes ?? {});
        }
        return result;
      },
      { step: 'initialize', name: 'watchSpendWrites' },
    );
    try {
      const answer = await ingest(t.key, [
        { usage: { input_tokens: 600 }, reservation_id: held.reservation_id },
      ]);
      expect(answer.results[0].reservation).toEqual({ id: held.reservation_id, status: 'settled' });
    } finally {
      client.middlewareStack.remove('watchSpendWrites');
    }
    expect(afterSpend).toHaveLength(1);
    // Before, the spend (600) landed beside the hold (700): 1,300 used for a call of 600.
    expect(afterSpend[0]).toMatchObject({ spent: '600', reserved: '0', used: '600' });
    expect(await budgetStatus(t.key, budget.id)).toMatchObject({ spent: 600, reserved: 0, remaining: 1400 });

    // A hold released before its event arrives: the spend is added on its own, nothing goes twice.
    const early = await authorize700(t.key, 'settle-2');
    const released = await tollgate.request(
      'DELETE',
      `/v1/enforcement/reservations/${early.reservation_id}`,
      {
        key: t.key,
      },
    );
    expect(released.status).toBe(204);
    const late = await ingest(t.key, [
      { usage: { input_tokens: 100 }, reservation_id: early.reservation_id },
    ]);
    expect(late.results[0].reservation).toEqual({ id: early.reservation_id, status: 'released' });
    expect(await budgetStatus(t.key, budget.id)).toMatchObject({ spent: 700, reserved: 0, remaining: 1300 });
  });

  it('authorize is idempotent, settles through a usage event, releases, and expires', async () => {
    const t = await tollgate.createTenant('Reservations');
    const budget = await createBudget(t.key, {
      name: 'acme tokens',
      scope: { customer: 'acme' },
      period: 'month',
      limit: { tokens: 10_000 },
      thresholds: [100],
      actions: { '100': { type: 'block' } },
    });
    const money = await createBudget(t.key, {
      name: 'acme usd',
      scope: { customer: 'acme' },
      period: 'month',
      limit: { amount: '10', currency: 'USD' },
    });
    const authorize = async (id: string, extra: Record<string, unknown> = {}) => {
      const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
        key: t.key,
        body: {
          id,
          dimensions: { customer: 'acme' },
          model: 'gpt-4o',
          estimated_input_tokens: 1000,
          max_output_tokens: 500,
          ...extra,
        },
      });
      expect(response.status).toBe(200);
      return response.json();
    };
    const statusOf = async (id: string) =>
      (await (await tollgate.request('GET', `/v1/budgets/${id}`, { key: t.key })).json()).status;

    const first = await authorize('req-1');
    // 1000 × $2.50/M + 500 × $10/M = $0.0075
    expect(first).toMatchObject({
      decision: 'allow',
      reserved: { cost: '0.00750000', tokens: 1500, priced: true },
    });
    expect(first.reservation_id).toMatch(/^rsv_/);
    expect(first.remaining).toEqual({ cost: '9.99250000', tokens: 8500 });
    expect(await authorize('req-1')).toEqual(first);
    expect(await statusOf(budget.id)).toMatchObject({ reserved: 1500, spent: 0 });
    expect(await statusOf(money.id)).toMatchObject({ reserved: '0.00750000' });

    // Settled by the usage event that carries it: the actual usage replaces the hold.
    await ingest(t.key, [
      {
        usage: { input_tokens: 800, output_tokens: 100 },
        dimensions: { customer: 'acme' },
        reservation_id: first.reservation_id,
      },
    ]);
    expect(await statusOf(budget.id)).toMatchObject({ reserved: 0, spent: 900 });
    expect(await statusOf(money.id)).toMatchObject({ reserved: '0.00000000', spent: '0.00300000' });
    // A release after settlement changes nothing.
    expect(
      (
        await tollgate.request('DELETE', `/v1/enforcement/reservations/${first.reservation_id}`, {
          key: t.key,
        })
      ).status,
    ).toBe(204);
    expect(await statusOf(budget.id)).toMatchObject({ reserved: 0, spent: 900 });

    const second = await authorize('req-2');
    expect(await statusOf(budget.id)).toMatchObject({ reserved: 1500 });
    for (let i = 0; i < 2; i++) {
      const released = await tollgate.request(
        'DELETE',
        `/v1/enforcement/reservations/${second.reservation_id}`,
        {
          key: t.key,
        },
      );
      expect(released.status).toBe(204);
    }
    expect(await statusOf(budget.id)).toMatchObject({ reserved: 0, spent: 900 });
    const unknown = await tollgate.request(
      'DELETE',
      '/v1/enforcement/reservations/rsv_01JDQ7Z5M2X9K3V4W6Y8A0B1C2',
      {
        key: t.key,
      },
    );
    expect(unknown.status).toBe(404);

    // Expiry: checked on read, swept by the job; a blocking budget admits again once expired.
    const big = await authorize('req-3', {
      estimated_input_tokens: 9000,
      max_output_tokens: 100,
      ttl_seconds: 60,
    });
    // It fills the budget to its block level exactly: admitted, with a warning.
    expect(big).toMatchObject({ decision: 'warn', remaining: { tokens: 0 } });
    expect((await authorize('req-4')).decision).toBe('block');
    clockOffsetMs = 61_000;
    try {
      expect(await statusOf(budget.id)).toMatchObject({ reserved: 0 });
      const after = await authorize('req-5');
      expect(after.decision).toBe('allow');
      const run = await (
        await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${t.id}`, {
          key: 'tgop_test-operator-key-0123456789abcdef',
        })
      ).json();
      expect(run.errors).toEqual([]);
      expect(await statusOf(budget.id)).toMatchObject({ reserved: 1500, spent: 900 });
    } finally {
      clockOffsetMs = 0;
    }
  });

  it("a usage event's answer tells what its reservation_id found; the usage counts in every case", async () => {
    const t = await tollgate.createTenant('Settlement answers');
    const budget = await createBudget(t.key, {
      name: 'tokens',
      period: 'month',
      limit: { tokens: 2000 },
      actions: { '100': { type: 'block' } },
    });
    const authorize = async (id: string, estimated_input_tokens: number) =>
      (
        await tollgate.request('POST', '/v1/enforcement/authorize', {
          key: t.key,
          body: { id, model: 'gpt-4o', estimated_input_tokens, max_output_tokens: 0 },
        })
      ).json();
    const held = await authorize('held', 500);
    const released = await authorize('released', 100);
    await tollgate.request('DELETE', `/v1/enforcement/reservations/${released.reservation_id}`, {
      key: t.key,
    });
    // 500 + 1600 > 2000: refused, so nothing is held for it and its id is not a reservation's.
    const refused = await authorize('refused', 1600);
    expect(refused).toMatchObject({ decision: 'block', reservation_id: null });
    const blockedId = hashedId('rsv', 'refused');
    const otherTenant = await tollgate.createTenant('Someone else');
    const foreign = await (
      await tollgate.request('POST', '/v1/enforcement/authorize', {
        key: otherTenant.key,
        body: { id: 'theirs', model: 'gpt-4o', estimated_input_tokens: 10, max_output_tokens: 0 },
      })
    ).json();

    const usage = (reservation_id: string) => ({ usage: { input_tokens: 10 }, reservation_id });
    const first = await ingest(t.key, [
      usage(held.reservation_id),
      usage(released.reservation_id),
      usage(blockedId),
      usage('rsv_01JDQ7Z5M2X9K3V4W6Y8A0B1C2'),
      usage(foreign.reservation_id),
      { usage: { input_tokens: 10 } },
    ]);
    expect(first.results.map((result: { reservation?: unknown }) => result.reservation)).toEqual([
      { id: held.reservation_id, status: 'settled' },
      { id: released.reservation_id, status: 'released' },
      { id: blockedId, status: 'blocked' },
      { id: 'rsv_01JDQ7Z5M2X9K3V4W6Y8A0B1C2', status: 'not_found' },
      { id: foreign.reservation_id, status: 'not_found' },
      undefined,
    ]);
    // Another tenant's reservation is not touched by this tenant's usage.
    expect(
      (
        await tollgate.request('DELETE', `/v1/enforcement/reservations/${foreign.reservation_id}`, {
          key: otherTenant.key,
        })
      ).status,
    ).toBe(204);
    const again = await ingest(t.key, [usage(held.reservation_id)]);
    expect(again.results[0].reservation).toEqual({ id: held.reservation_id, status: 'already_settled' });
    const { status } = await (
      await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })
    ).json();
    expect(status).toMatchObject({ spent: 70, reserved: 0 });

    // The budget step failing here leaves the settlement to the rollup: the answer says so.
    const stalled = createUsageService(tollgate.runtime.db, tollgate.runtime.services.pricing, undefined, {
      planUsage: tollgate.runtime.services.budgets.planUsage,
      applyUsage: async () => undefined,
    });
    const late = await authorize('late', 100);
    const pending = await stalled.ingest(t.id, [
      {
        index: 0,
        event: {
          id: 'stalled-1',
          provider: 'openai',
          model: 'gpt-4o',
          usage: { input_tokens: 10 },
          reservation_id: late.reservation_id,
        },
      },
    ]);
    expect(pending.results[0]?.reservation).toEqual({ id: late.reservation_id, status: 'pending' });
  });

  it('an authorization id reused for another request answers 422, a retry of the same request its reservation', async () => {
    const reuser = await tollgate.createTenant('Reuses ids');
    await createBlockingTokenBudget(reuser.key, 'tokens', 100_000);
    const authorize = (body: Record<string, unknown>) =>
      tollgate.request('POST', '/v1/enforcement/authorize', { key: reuser.key, body });
    const first = await authorize({
      id: 'call-1',
      dimensions: { feature: 'a', team: 'x' },
      model: 'gpt-4o',
      estimated_input_tokens: 10,
      max_output_tokens: 100,
    });
    expect(first.status).toBe(200);
    const reservationId = (await first.json()).reservation_id;
    // The same request, its default spelled out and its pairs in another order: a retry.
    const retry = await authorize({
      id: 'call-1',
      dimensions: { team: 'x', feature: 'a' },
      model: 'gpt-4o',
      estimated_input_tokens: 10,
      max_output_tokens: 100,
      ttl_seconds: 300,
    });
    expect(retry.status).toBe(200);
    expect((await retry.json()).reservation_id).toBe(reservationId);
    for (const other of [
      { model: 'claude-sonnet-4-5' },
      { max_output_tokens: 999_999 },
      { dimensions: { feature: 'b', team: 'x' } },
    ]) {
      const reused = await authorize({
        id: 'call-1',
        dimensions: { feature: 'a', team: 'x' },
        model: 'gpt-4o',
        estimated_input_tokens: 10,
        max_output_tokens: 100,
        ...other,
      });
      expect(reused.status, JSON.stringify(other)).toBe(422);
      expect(reused.headers.get('content-type')).toContain('application/problem+json');
      expect((await reused.json()).code).toBe('AUTHORIZATION_ID_REUSED');
    }
  });

  it('the same id racing in reserves once and every caller gets the same answer', async () => {
    const t = await tollgate.createTenant('Same id');
    const budget = await createBudget(t.key, {
      name: 'tokens',
      period: 'day',
      limit: { tokens: 100_000 },
      actions: { '100': { type: 'block' } },
    });
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
          key: t.key,
          body: { id: 'once', model: 'gpt-4o', estimated_input_tokens: 700, max_output_tokens: 300 },
        });
        expect(response.status).toBe(200);
        return response.json();
      }),
    );
    expect(answers[0].reservation_id).toMatch(/^rsv_/);
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    const status = (await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json())
      .status;
    expect(status).toMatchObject({ reserved: 1000, spent: 0 });
  });

  it('a racing retry never blocks the call it repeats, and a retry after release holds nothing', async () => {
    const t = await tollgate.createTenant('Twins near the limit');
    const budget = await createBlockingTokenBudget(t.key, 'tight', 1000);
    const authorize = (id: string) => authorize700(t.key, id);
    const statusOf = async () =>
      (await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json()).status;
    // Only one hold of 700 fits under 1000: the twins' holds must not refuse the call they repeat.
    const answers = await Promise.all(Array.from({ length: 20 }, () => authorize('twin')));
    expect(answers[0]).toMatchObject({ decision: 'allow', remaining: { tokens: 300 } });
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(await statusOf()).toMatchObject({ reserved: 700, remaining: 300 });
    expect((await authorize('another')).decision).toBe('block');

    const released = await tollgate.request(
      'DELETE',
      `/v1/enforcement/reservations/${answers[0].reservation_id}`,
      { key: t.key },
    );
    expect(released.status).toBe(204);
    expect(await statusOf()).toMatchObject({ reserved: 0, remaining: 1000 });
    // The same id again is the same reservation, released: nothing is held anew.
    const retried = await authorize('twin');
    expect(retried.reservation_id).toBe(answers[0].reservation_id);
    expect(retried.expires_at).toBe(answers[0].expires_at);
    expect(await statusOf()).toMatchObject({ reserved: 0, remaining: 1000 });
  });

  it('a retry after a first call that stopped between its claim and its holds reserves afresh, once', async () => {
    const t = await tollgate.createTenant('Abandoned claim');
    const tight = await createBlockingTokenBudget(t.key, 'tight', 1000);
    const roomy = await createBlockingTokenBudget(t.key, 'roomy', 5000);
    const statusOf = (budgetId: string) => budgetStatus(t.key, budgetId);
    const targetOf = async (budgetId: string) => {
      const status = await statusOf(budgetId);
      return { budgetId, periodStart: status.period_start, periodEnd: status.period_end };
    };
    const authorize = () => authorize700(t.key, 'abandoned');

    // As the first call left it when it stopped: its claim, and its hold on one of its two budgets.
    const db = tollgate.store.db;
    const reservationId = hashedId('rsv', 'abandoned');
    const claimedAt = now().getTime() - ABANDONED_AFTER_MS - 1_000;
    const holdId = `${reservationId}~first`;
    const [tightTarget, roomyTarget] = [await targetOf(tight.id), await targetOf(roomy.id)];
    const claimed = await writeReservation(
      db,
      t.id,
      {
        id: reservationId,
        request_id: 'abandoned',
        state: 'reserved',
        created_at: new Date(claimedAt).toISOString(),
        expires_at: claimedAt + 60_000,
        hold_id: holdId,
        holds: [tightTarget, roomyTarget].map((target) => ({
          budgetId: target.budgetId,
          periodStart: target.periodStart,
          amount: '700',
        })),
        reserved: { cost: '0', tokens: 700, priced: false },
        model: 'gpt-4o',
      },
      { claimAt: claimedAt },
    );
    expect(claimed).toBe(true);
    await ensureCounter(db, t.id, tightTarget);
    const hold = { id: holdId, amount: parseDecimal('700'), expiresAt: claimedAt + 60_000 };
    expect(await reserveOnCounter(db, t.id, tightTarget, hold, undefined)).toBeDefined();
    expect(await statusOf(tight.id)).toMatchObject({ reserved: 700, remaining: 300 });

    // The retry reserves as the first call would have (it used to answer block), and the first
    // call's hold went back: 700 is held on each budget, once. The answer of its clearing of the
    // claim is lost on the way (the SDK's retry finds nothing to delete), which changes nothing.
    const losing = loseFirstAnswer(
      db,
      (write) => write.commandName === 'DeleteItemCommand' && (write.Key?.pk?.S ?? '').includes(t.id),
    );
    let answer: Record<string, unknown>;
    try {
      answer = await authorize();
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(answer).toMatchObject({ decision: 'allow', reservation_id: reservationId });
    expect(await statusOf(tight.id)).toMatchObject({ reserved: 700, remaining: 300 });
    expect(await statusOf(roomy.id)).toMatchObject({ reserved: 700, remaining: 4300 });
    // From then on the id is that reservation.
    const again = await authorize();
    expect(again.reservation_id).toBe(reservationId);
    expect(again.expires_at).toBe(answer.expires_at);
    expect(await statusOf(tight.id)).toMatchObject({ reserved: 700 });
    const released = await tollgate.request('DELETE', `/v1/enforcement/reservations/${reservationId}`, {
      key: t.key,
    });
    expect(released.status).toBe(204);
    expect(await statusOf(tight.id)).toMatchObject({ reserved: 0, remaining: 1000 });
    expect(await statusOf(roomy.id)).toMatchObject({ reserved: 0, remaining: 5000 });
  });

  // With room for both the late hold is taken and must go back; without, it is refused and the
  // first call, about to answer block, must not turn the retry's reservation into a block.
  it.each([
    { limit: 5000, late: 'taken' },
    { limit: 1000, late: 'refused' },
  ])(
    'a first call whose hold reaches a $limit-token budget after a retry reserved afresh ($late) answers as the retry did',
    async ({ limit }) => {
      const t = await tollgate.createTenant('Late first call');
      const tight = await createBlockingTokenBudget(t.key, 'budget', limit);
      const statusOf = () => budgetStatus(t.key, tight.id);
      const authorize = (id: string) => authorize700(t.key, id);
      // The period's first hold creates the counter; this one is released at once.
      const warmUp = await authorize('late-warm-up');
      await tollgate.request('DELETE', `/v1/enforcement/reservations/${warmUp.reservation_id}`, {
        key: t.key,
      });

      // The first call's hold is held on the way while the clock passes the point where a retry
      // takes the call for stopped; the retry gives back what the first call had taken (nothing
      // yet), clears its claim and reserves afresh.
      const db = tollgate.store.db;
      const slow = delayFirstWrite(
        db,
        (write) =>
          write.commandName === 'UpdateItemCommand' &&
          (write.Key?.pk?.S ?? '').includes(t.id) &&
          (write.UpdateExpression ?? '').includes('ADD reserved'),
      );
      let retry: Record<string, unknown>;
      let late: Record<string, unknown>;
      try {
        const first = authorize('late');
        await slow.held;
        clockOffsetMs = ABANDONED_AFTER_MS + 1_000;
        retry = await authorize('late');
        expect(retry).toMatchObject({ decision: 'allow', reservation_id: hashedId('rsv', 'late') });
        // The first call's hold then reaches the counter: the call finds its claim is the retry's,
        // gives back what it took and answers the retry's reservation. 700 is held once (it was
        // 1,400 with room for both; without, the retry's record was turned into a block and its
        // hold could no longer be released).
        slow.release();
        late = await first;
      } finally {
        slow.release();
        slow.restore();
        clockOffsetMs = 0;
      }
      expect(slow.delayed()).toBe(1);
      expect(late).toMatchObject({
        decision: 'allow',
        reservation_id: retry.reservation_id,
        expires_at: retry.expires_at,
      });
      expect(await statusOf()).toMatchObject({ reserved: 700, remaining: limit - 700 });
      const released = await tollgate.request(
        'DELETE',
        `/v1/enforcement/reservations/${retry.reservation_id}`,
        {
          key: t.key,
        },
      );
      expect(released.status).toBe(204);
      expect(await statusOf()).toMatchObject({ reserved: 0, remaining: limit });
    },
  );

  it('a retry that takes a slow first call for stopped just as that call confirms its claim leaves its hold and answers its reservation', async () => {
    const t = await tollgate.createTenant('Confirmed in time');
    const budget = await createBlockingTokenBudget(t.key, 'budget', 5000);
    const warmUp = await authorize700(t.key, 'confirm-warm-up');
    await tollgate.request('DELETE', `/v1/enforcement/reservations/${warmUp.reservation_id}`, { key: t.key });
    const db = tollgate.store.db;
    const ofTenant = (write: SentWrite) => (write.Key?.pk?.S ?? '').includes(t.id);
    /** The attribute of the first call's hold on the counter. */
    let firstHold: string | undefined;
    const slowHold = delayFirstWrite(db, (write) => {
      const isHold =
        ofTenant(write) &&
        write.commandName === 'UpdateItemCommand' &&
        (write.UpdateExpression ?? '').includes('ADD reserved');
      if (isHold) firstHold = write.ExpressionAttributeNames?.['#r'];
      return isHold;
    });
    // The retry's first write once it took the first call for stopped (clearing its claim, or
    // giving back its hold) is held until the first call has taken its hold and confirmed its claim.
    let slowRetry: ReturnType<typeof delayFirstWrite> | undefined;
    let answers: Record<string, unknown>[];
    try {
      const first = authorize700(t.key, 'confirm');
      await slowHold.held;
      clockOffsetMs = ABANDONED_AFTER_MS + 1_000;
      slowRetry = delayFirstWrite(
        db,
        (write) =>
          ofTenant(write) &&
          ((write.commandName === 'DeleteItemCommand' &&
            (write.Key?.pk?.S ?? '').endsWith('#reservations')) ||
            (write.commandName === 'UpdateItemCommand' &&
              (write.UpdateExpression ?? '').startsWith('REMOVE') &&
              write.ExpressionAttributeNames?.['#r'] === firstHold)),
      );
      const retry = authorize700(t.key, 'confirm');
      await slowRetry.held;
      slowHold.release();
      const firstAnswer = await first;
      slowRetry.release();
      answers = [firstAnswer, await retry];
    } finally {
      slowHold.release();
      slowHold.restore();
      slowRetry?.release();
      slowRetry?.restore();
      clockOffsetMs = 0;
    }
    const [firstAnswer, retryAnswer] = answers;
    expect(firstAnswer).toMatchObject({ decision: 'allow', reservation_id: hashedId('rsv', 'confirm') });
    expect(retryAnswer).toMatchObject({
      decision: 'allow',
      reservation_id: firstAnswer?.reservation_id,
      expires_at: firstAnswer?.expires_at,
    });
    // Held once, and still held (the first call answered allow: its caller goes on with the call).
    expect(await budgetStatus(t.key, budget.id)).toMatchObject({ reserved: 700, remaining: 4300 });
  });

  it('a hold on a counter as full as an item can be sweeps its expired holds, else answers 429 and takes nothing', async () => {
    const t = await tollgate.createTenant('Full counter');
    const full = await createBlockingTokenBudget(t.key, 'full', 1_000_000);
    const other = await createBlockingTokenBudget(t.key, 'other', 1_000_000);
    const statusOf = (budgetId: string) => budgetStatus(t.key, budgetId);
    const authorize = (id: string, ttl_seconds = 300) =>
      tollgate.request('POST', '/v1/enforcement/authorize', {
        key: t.key,
        body: { id, model: 'gpt-4o', estimated_input_tokens: 700, max_output_tokens: 0, ttl_seconds },
      });
    // The first reservation creates both counters; it expires in a minute.
    expect((await (await authorize('short-lived', 60)).json()).decision).toBe('allow');
    const counterKey = keys.budgetCounter(t.id, full.id, (await statusOf(full.id)).period_start);
    // Fill the counter's item to within a few bytes of 400 KB, as thousands of live holds would:
    // the largest padding the engine accepts.
    const db = tollgate.store.db;
    const pad = async (bytes: number) => {
      await db.client.send(
        new UpdateCommand({
          TableName: db.tableName,
          Key: counterKey,
          UpdateExpression: 'SET padding = :padding',
          ExpressionAttributeValues: { ':padding': 'x'.repeat(bytes) },
        }),
      );
    };
    let padding = 409_600;
    for (; ; padding -= 16) {
      try {
        await pad(padding);
        break;
      } catch (error) {
        expect((error as Error).name).toBe('ValidationException');
      }
    }
    // A little slack, far less than a hold (about 75 bytes): a number's size follows its
    // significant digits, so a hold swapped for an expired one can be a byte or two larger.
    await pad(padding - 32);

    // Full of live holds: 429 with its own code, and nothing held on the other budget.
    const refused = await authorize('refused');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(await refused.json()).toMatchObject({ code: 'TOO_MANY_RESERVATIONS', status: 429 });
    expect(await statusOf(other.id)).toMatchObject({ reserved: 700 });

    // Once the short-lived hold has expired, a hold sweeps it off the full counter and fits.
    clockOffsetMs = 61_000;
    try {
      const admitted = await authorize('after-expiry');
      expect(admitted.status).toBe(200);
      expect((await admitted.json()).decision).toBe('allow');
      // The refused id was given up whole: with room again it reserves.
      await pad(1);
      const retried = await authorize('refused');
      expect(retried.status).toBe(200);
      expect((await retried.json()).decision).toBe('allow');
      expect(await statusOf(full.id)).toMatchObject({ reserved: 1400 });
      expect(await statusOf(other.id)).toMatchObject({ reserved: 1400 });
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('usage on a counter written before holds were counted, and full of them, is spent once its expired holds are swept', async () => {
    const t = await tollgate.createTenant('Full older counter');
    const budget = await createBlockingTokenBudget(t.key, 'older full', 1_000_000);
    const authorized = await tollgate.request('POST', '/v1/enforcement/authorize', {
      key: t.key,
      body: {
        id: 'expiring',
        model: 'gpt-4o',
        estimated_input_tokens: 700,
        max_output_tokens: 0,
        ttl_seconds: 60,
      },
    });
    expect(authorized.status).toBe(200);
    // As a counter written before the hold count, filled to the byte by holds (padding stands in).
    const db = tollgate.store.db;
    const Key = keys.budgetCounter(t.id, budget.id, budget.status.period_start);
    await db.client.send(new UpdateCommand({ TableName: db.tableName, Key, UpdateExpression: 'REMOVE nh' }));
    for (let padding = 409_600; ; padding -= 16) {
      try {
        await db.client.send(
          new UpdateCommand({
            TableName: db.tableName,
            Key,
            UpdateExpression: 'SET padding = :padding',
            ExpressionAttributeValues: { ':padding': 'x'.repeat(padding) },
          }),
        );
        break;
      } catch (error) {
        expect((error as Error).name).toBe('ValidationException');
      }
    }
    clockOffsetMs = 61_000;
    try {
      await ingest(t.key, [{ id: 'on-a-full-counter', usage: { input_tokens: 500, output_tokens: 0 } }]);
      expect(await budgetStatus(t.key, budget.id)).toMatchObject({ spent: 500, reserved: 0 });
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('a counter carrying as many live holds as it takes refuses one more with 429, and still counts usage', async () => {
    // On dynalite: DynamoDB Local answered InternalFailure to writing thousands of holds in bulk
    // (one PutItem of 4,000 attributes, or UpdateItems of 250 once the item had 1,000), and taking
    // them one authorization at a time takes minutes.
    const tollgate = await createTestTollgate({ engine: 'dynalite' });
    try {
      await heldToTheCap(tollgate);
    } finally {
      await tollgate.cleanup();
    }
  }, 60_000);

  async function heldToTheCap(tollgate: TestTollgate) {
    const budgetStatus = async (key: string, budgetId: string) =>
      (await (await tollgate.request('GET', `/v1/budgets/${budgetId}`, { key })).json()).status;
    const createBudget = async (key: string, body: Record<string, unknown>) => {
      const response = await tollgate.request('POST', '/v1/budgets', { key, body });
      expect(response.status).toBe(201);
      return response.json();
    };
    const t = await tollgate.createTenant('Holds at the cap');
    const capped = await createBudget(t.key, {
      name: 'capped',
      period: 'day',
      limit: { tokens: 1000 },
      thresholds: [100],
      actions: { '100': { type: 'block' } },
    });
    const other = await createBudget(t.key, {
      name: 'notify only',
      period: 'day',
      limit: { tokens: 1_000_000 },
      thresholds: [80],
      actions: { '80': { type: 'notify' } },
    });
    const statusOf = (budgetId: string) => budgetStatus(t.key, budgetId);
    // MAX_HOLDS_PER_COUNTER live holds of nothing, written as holds write them: each an attribute,
    // counted beside them. The item stays well under 400 KB, with room for usage.
    const Key = keys.budgetCounter(t.id, capped.id, capped.status.period_start);
    const expiresAt = Date.now() + 3_600_000;
    const holds = Object.fromEntries(
      Array.from({ length: MAX_HOLDS_PER_COUNTER }, (_, i) => [
        `r_rsv_${String(i).padStart(26, '0')}~${String(i).padStart(26, '0')}`,
        { a: 0, x: expiresAt },
      ]),
    );
    const db = tollgate.store.db;
    await db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...Key,
          bid: capped.id,
          ps: capped.status.period_start,
          pe: capped.status.period_end,
          entity: 'budget_counter',
          expires_at_epoch: Math.ceil(Date.parse(capped.status.period_end) / 1000) + 86_400 * 2,
          used: 0,
          reserved: 0,
          nh: MAX_HOLDS_PER_COUNTER,
        },
      }),
    );
    // In writes of a few hundred, as an engine takes them.
    const entries = Object.entries(holds);
    for (let start = 0; start < entries.length; start += 250) {
      const chunk = entries.slice(start, start + 250);
      await db.client.send(
        new UpdateCommand({
          TableName: db.tableName,
          Key,
          UpdateExpression: `SET ${chunk.map((_, i) => `#h${i} = :h${i}`).join(', ')}`,
          ExpressionAttributeNames: Object.fromEntries(chunk.map(([name], i) => [`#h${i}`, name])),
          ExpressionAttributeValues: Object.fromEntries(chunk.map(([, value], i) => [`:h${i}`, value])),
        }),
      );
    }

    const refused = await tollgate.request('POST', '/v1/enforcement/authorize', {
      key: t.key,
      body: { id: 'one-too-many', model: 'gpt-4o', estimated_input_tokens: 100, max_output_tokens: 0 },
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ code: 'TOO_MANY_RESERVATIONS', status: 429 });
    expect(await statusOf(other.id)).toMatchObject({ reserved: 0 });

    // Usage is spent whatever the holds: over the limit, the budget blocks.
    const usage = await tollgate.request('POST', '/v1/usage', {
      key: t.key,
      body: {
        events: [
          {
            id: 'past-the-cap',
            provider: 'openai',
            model: 'gpt-4o',
            usage: { input_tokens: 1500, output_tokens: 0 },
          },
        ],
      },
    });
    expect(usage.status).toBe(202);
    expect(await statusOf(capped.id)).toMatchObject({ spent: 1500, state: 'exceeded' });
    const check = await tollgate.request('POST', '/v1/enforcement/check', {
      key: t.key,
      body: { model: 'gpt-4o', estimated_tokens: 10 },
    });
    expect((await check.json()).decision).toBe('block');
  }

  it("the rollup's sweep sets right a hold count that is missing or wrong (counters written before it was kept)", async () => {
    const t = await tollgate.createTenant('Hold count repair');
    const budget = await createBlockingTokenBudget(t.key, 'repaired', 100_000);
    const db = tollgate.store.db;
    const Key = keys.budgetCounter(t.id, budget.id, budget.status.period_start);
    const holdCount = async () =>
      (await db.client.send(new GetCommand({ TableName: db.tableName, Key, ConsistentRead: true }))).Item?.nh;
    for (const id of ['kept-1', 'kept-2']) {
      const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
        key: t.key,
        body: { id, model: 'gpt-4o', estimated_input_tokens: 100, max_output_tokens: 0 },
      });
      expect(response.status).toBe(200);
    }
    const rollup = async () => {
      const response = await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${t.id}`, {
        key: OPERATOR_KEY,
      });
      expect((await response.json()).errors).toEqual([]);
    };
    // Negative, as a release before the counter's first counted hold leaves it.
    await db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key,
        UpdateExpression: 'SET nh = :wrong',
        ExpressionAttributeValues: { ':wrong': -1 },
      }),
    );
    await rollup();
    expect(await holdCount()).toBe(2);
    await db.client.send(new UpdateCommand({ TableName: db.tableName, Key, UpdateExpression: 'REMOVE nh' }));
    await rollup();
    expect(await holdCount()).toBe(2);
    expect(await budgetStatus(t.key, budget.id)).toMatchObject({ reserved: 200 });
  });

  it('a counter counts its holds as they are taken, released and settled', async () => {
    const t = await tollgate.createTenant('Hold count');
    const budget = await createBlockingTokenBudget(t.key, 'counted', 100_000);
    const db = tollgate.store.db;
    const Key = keys.budgetCounter(t.id, budget.id, budget.status.period_start);
    const holdCount = async () =>
      (await db.client.send(new GetCommand({ TableName: db.tableName, Key, ConsistentRead: true }))).Item?.nh;
    const authorize = async (id: string) => {
      const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
        key: t.key,
        body: { id, model: 'gpt-4o', estimated_input_tokens: 100, max_output_tokens: 0 },
      });
      expect(response.status).toBe(200);
      return (await response.json()).reservation_id as string;
    };
    const released = await authorize('to-release');
    const settled = await authorize('to-settle');
    expect(await holdCount()).toBe(2);
    const release = await tollgate.request('DELETE', `/v1/enforcement/reservations/${released}`, {
      key: t.key,
    });
    expect(release.status).toBe(204);
    expect(await holdCount()).toBe(1);
    await ingest(t.key, [
      {
        id: 'settling',
        provider: 'openai',
        model: 'gpt-4o',
        usage: { input_tokens: 90, output_tokens: 0 },
        reservation_id: settled,
      },
    ]);
    expect(await holdCount()).toBe(0);
    expect(await budgetStatus(t.key, budget.id)).toMatchObject({ spent: 90, reserved: 0 });
  });

  it.each([
    ['the claim of its id', 'claim'],
    ['its hold', 'hold'],
  ])(
    'an authorization whose write of %s lost its answer (the SDK retried it) reserves once',
    async (_, lose) => {
      const t = await tollgate.createTenant(`Lost answer: ${lose}`);
      const budget = await createBlockingTokenBudget(t.key, 'tight', 1000);
      const ofTenant = (write: SentWrite) => (write.Item?.pk?.S ?? write.Key?.pk?.S ?? '').includes(t.id);
      const losing = loseFirstAnswer(tollgate.store.db, (write) =>
        lose === 'claim'
          ? ofTenant(write) &&
            write.commandName === 'PutItemCommand' &&
            write.Item?.entity?.S === 'reservation'
          : ofTenant(write) &&
            write.commandName === 'UpdateItemCommand' &&
            write.UpdateExpression?.includes(':entry') === true,
      );
      let answer: Record<string, unknown>;
      try {
        const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
          key: t.key,
          body: { id: 'lost', model: 'gpt-4o', estimated_input_tokens: 700, max_output_tokens: 0 },
        });
        expect(response.status).toBe(200);
        answer = await response.json();
      } finally {
        losing.restore();
      }
      expect(losing.lost()).toBe(1);
      expect(answer).toMatchObject({ decision: 'allow', remaining: { tokens: 300 } });
      const statusOf = async () =>
        (await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json()).status;
      expect(await statusOf()).toMatchObject({ reserved: 700, remaining: 300 });
      const another = await tollgate.request('POST', '/v1/enforcement/authorize', {
        key: t.key,
        body: { id: 'another', model: 'gpt-4o', estimated_input_tokens: 700, max_output_tokens: 0 },
      });
      expect((await another.json()).decision).toBe('block');
      const released = await tollgate.request(
        'DELETE',
        `/v1/enforcement/reservations/${answer.reservation_id}`,
        { key: t.key },
      );
      expect(released.status).toBe(204);
      expect(await statusOf()).toMatchObject({ reserved: 0, remaining: 1000 });
    },
  );

  it('a usage event whose store write lost its answer (the SDK retried it) is accepted and spent once', async () => {
    const t = await tollgate.createTenant('Lost answer: usage');
    const budget = await createBlockingTokenBudget(t.key, 'tokens', 10_000);
    const losing = loseFirstAnswer(
      tollgate.store.db,
      (write) =>
        write.commandName === 'PutItemCommand' &&
        write.Item?.ing !== undefined &&
        (write.Item?.pk?.S ?? '').includes(t.id),
    );
    let body: { accepted: number; duplicates: number };
    try {
      const response = await tollgate.request('POST', '/v1/usage', {
        key: t.key,
        body: {
          events: [
            {
              id: 'lost-1',
              provider: 'openai',
              model: 'gpt-4o',
              usage: { input_tokens: 100, output_tokens: 50 },
            },
          ],
        },
      });
      expect(response.status).toBe(202);
      body = await response.json();
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(body).toMatchObject({ accepted: 1, duplicates: 0 });
    await drain();
    const status = (await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json())
      .status;
    expect(status).toMatchObject({ spent: 150 });
  });

  it('a budget notice whose write lost its answer (the SDK retried it) is still published, once', async () => {
    const t = await tollgate.createTenant('Lost answer: notice');
    const budget = await createBlockingTokenBudget(t.key, 'tokens', 1000);
    const losing = loseFirstAnswer(
      tollgate.store.db,
      (write) =>
        write.commandName === 'PutItemCommand' &&
        write.Item?.entity?.S === 'notice' &&
        (write.Item?.pk?.S ?? '').includes(t.id),
    );
    try {
      await ingest(t.key, [{ usage: { input_tokens: 1000 } }]);
      await drain();
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(
      eventsOf(budget.id)
        .map((event) => event.type)
        .sort(),
    ).toEqual(['budget.exceeded.v1', 'budget.threshold_crossed.v1']);
  });

  it('a budget spend whose write lost its answer (the SDK retried it) is counted once', async () => {
    const t = await tollgate.createTenant('Lost answer: spend');
    const budget = await createBlockingTokenBudget(t.key, 'tokens', 10_000);
    const losing = loseFirstAnswer(
      tollgate.store.db,
      (write) =>
        write.commandName === 'UpdateItemCommand' &&
        write.UpdateExpression?.includes('ADD spent') === true &&
        (write.Key?.pk?.S ?? '').includes(t.id),
    );
    try {
      await ingest(t.key, [{ usage: { input_tokens: 100, output_tokens: 50 } }]);
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    const fetched = await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json();
    expect(fetched.status).toMatchObject({ spent: 150, remaining: 9850 });
    const [firstMark, ...others] = await batchMarksOf(tollgate.store.db, t.id, fetched);
    expect(others).toEqual([]);
    // Later batches add as usual. The first batch was recorded applied well within the rollup's
    // lag, so the next spend on the counter removes its mark: only the latest batch's is left.
    await ingest(t.key, [{ usage: { input_tokens: 10 } }]);
    const after = await (await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json();
    expect(after.status).toMatchObject({ spent: 160 });
    const marks = await batchMarksOf(tollgate.store.db, t.id, after);
    expect(marks).toHaveLength(1);
    expect(marks).not.toContain(firstMark);
  });

  it('a budget delete whose answer was lost (the SDK retried it) answers 204 and deletes its counters too', async () => {
    const t = await tollgate.createTenant('Lost answer: delete');
    const budget = await createBlockingTokenBudget(t.key, 'tokens', 10_000);
    await ingest(t.key, [{ usage: { input_tokens: 100 } }]);
    const budgetItems = async () => {
      const { Items = [] } = await tollgate.store.db.client.send(
        new QueryCommand({
          TableName: tollgate.store.db.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
          ExpressionAttributeValues: {
            ':pk': keys.budgetsPartition(t.id),
            ':sk': keys.budget(t.id, budget.id).sk,
          },
          ConsistentRead: true,
        }),
      );
      return Items;
    };
    // The budget and its day's counter.
    expect(await budgetItems()).toHaveLength(2);
    const losing = loseFirstAnswer(
      tollgate.store.db,
      (write) =>
        write.commandName === 'DeleteItemCommand' && write.Key?.pk?.S === keys.budgetsPartition(t.id),
    );
    let response: Response;
    try {
      response = await tollgate.request('DELETE', `/v1/budgets/${budget.id}`, { key: t.key });
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(response.status).toBe(204);
    expect(await budgetItems()).toEqual([]);
    // A delete of what is not there is still 404.
    expect((await tollgate.request('DELETE', `/v1/budgets/${budget.id}`, { key: t.key })).status).toBe(404);
  });

  it('a budget changed through one instance: checks on another see it at once, authorizations within a second', async () => {
    const other = await createTestTollgate({ store: tollgate.store, now });
    try {
      const t = await tollgate.createTenant('Two instances');
      const budget = await createBlockingTokenBudget(t.key, 'tokens', 10_000);
      const authorizeOn = async (instance: TestTollgate, id: string, tokens: number) =>
        (
          await instance.request('POST', '/v1/enforcement/authorize', {
            key: t.key,
            body: { id, model: 'gpt-4o', estimated_input_tokens: tokens, max_output_tokens: 0 },
          })
        ).json();
      const checkOn = async (instance: TestTollgate, scope: Record<string, string> = {}) =>
        (
          await instance.request('POST', '/v1/enforcement/check', {
            key: t.key,
            body: { model: 'gpt-4o', dimensions: scope, estimated_tokens: 1 },
          })
        ).json();
      // The other instance reads the definitions and keeps them.
      expect((await authorizeOn(other, 'a', 3000)).decision).toBe('allow');

      const lowered = await tollgate.request('PATCH', `/v1/budgets/${budget.id}`, {
        key: t.key,
        body: { limit: { tokens: 5000 } },
      });
      expect(lowered.status).toBe(200);
      // Within the second its definitions were confirmed in, an authorization there uses them.
      expect((await authorizeOn(other, 'b', 3000)).decision).toBe('allow');
      clockOffsetMs = DEFINITIONS_TRUSTED_MS + 1;
      try {
        // Past it, the revision is read again: 6000 held against the new level of 5000.
        expect(await authorizeOn(other, 'c', 1)).toMatchObject({ decision: 'block', reservation_id: null });
        // A budget created through the first instance is enforced by the other's next check.
        await createBudget(t.key, {
          name: 'search',
          scope: { feature: 'search' },
          period: 'day',
          limit: { tokens: 1 },
          thresholds: [100],
          actions: { '100': { type: 'block' } },
        });
        await ingest(t.key, [
          { usage: { input_tokens: 5, output_tokens: 0 }, dimensions: { feature: 'search' } },
        ]);
        const searchCheck = await checkOn(other, { feature: 'search' });
        expect(searchCheck.budgets.map((b: { name: string }) => b.name).sort()).toEqual(['search', 'tokens']);
        expect(searchCheck.decision).toBe('block');
        // And deleting it lifts it there at once, too.
        const searchId = searchCheck.budgets.find((b: { name: string }) => b.name === 'search').id;
        expect((await tollgate.request('DELETE', `/v1/budgets/${searchId}`, { key: t.key })).status).toBe(
          204,
        );
        expect(
          (await checkOn(other, { feature: 'search' })).budgets.map((b: { name: string }) => b.name),
        ).toEqual(['tokens']);
      } finally {
        clockOffsetMs = 0;
      }
    } finally {
      await other.cleanup();
    }
  });

  it.each(['created', 'changed'])(
    'a budget %s through one instance whose write lost its answer (the SDK retried it) is enforced at once by the next check on another',
    async (how) => {
      const other = await createTestTollgate({ store: tollgate.store, now });
      try {
        const t = await tollgate.createTenant(`Lost answer: budget ${how}`);
        const tokens = await createBlockingTokenBudget(t.key, 'tokens', 10_000);
        const check = async () =>
          (
            await other.request('POST', '/v1/enforcement/check', {
              key: t.key,
              body: { model: 'gpt-4o', estimated_tokens: 150 },
            })
          ).json();
        await ingest(t.key, [{ usage: { input_tokens: 500 } }]);
        // The other instance reads the definitions and keeps them.
        expect((await check()).decision).toBe('allow');

        const losing = loseFirstAnswer(
          tollgate.store.db,
          (write) => write.commandName === 'PutItemCommand' && write.Item?.entity?.S === 'budget',
        );
        try {
          const response =
            how === 'created'
              ? await tollgate.request('POST', '/v1/budgets', {
                  key: t.key,
                  body: {
                    name: 'small',
                    period: 'day',
                    limit: { tokens: 100 },
                    thresholds: [100],
                    actions: { '100': { type: 'block' } },
                  },
                })
              : await tollgate.request('PATCH', `/v1/budgets/${tokens.id}`, {
                  key: t.key,
                  body: { limit: { tokens: 100 } },
                });
          expect(response.status).toBe(how === 'created' ? 201 : 200);
        } finally {
          losing.restore();
        }
        expect(losing.lost()).toBe(1);
        // 150 more tokens pass the limit of 100: the other instance blocks on its next check.
        expect((await check()).decision).toBe('block');
      } finally {
        await other.cleanup();
      }
    },
  );

  it("prices a reservation with the tenant's override as soon as it is set", async () => {
    const t = await tollgate.createTenant('Override');
    await createBudget(t.key, { name: 'usd', period: 'month', limit: { amount: '100', currency: 'USD' } });
    const authorize = async (id: string) =>
      (
        await tollgate.request('POST', '/v1/enforcement/authorize', {
          key: t.key,
          body: { id, model: 'gpt-4o', estimated_input_tokens: 1_000_000, max_output_tokens: 0 },
        })
      ).json();
    expect((await authorize('list')).reserved.cost).toBe('2.50000000');
    const put = await tollgate.request('PUT', '/v1/prices/overrides/openai/gpt-4o', {
      key: t.key,
      body: { discount_pct: '20', effective_from: '2020-01-01T00:00:00Z' },
    });
    expect(put.status).toBe(200);
    expect((await authorize('discounted')).reserved.cost).toBe('2.00000000');
  });

  it('a restricted key sees only the budgets of its slice', async () => {
    const t = await tollgate.createTenant('Restricted');
    const acme = await createBudget(t.key, {
      name: 'acme',
      scope: { customer: 'acme' },
      period: 'month',
      limit: { tokens: 100 },
    });
    const globex = await createBudget(t.key, {
      name: 'globex',
      scope: { customer: 'globex' },
      period: 'month',
      limit: { tokens: 100 },
    });
    await createBudget(t.key, { name: 'all', period: 'month', limit: { tokens: 100 } });
    const view = await tollgate.mintKey(t.key, {
      name: 'acme view',
      scopes: ['read'],
      restrict: { customer: 'acme' },
    });
    const list = await (await tollgate.request('GET', '/v1/budgets', { key: view.key })).json();
    expect(list.data.map((b: { id: string }) => b.id)).toEqual([acme.id]);
    const tree = await (await tollgate.request('GET', '/v1/budgets?view=tree', { key: view.key })).json();
    expect(tree.data.map((n: { budget: { id: string } }) => n.budget.id)).toEqual([acme.id]);
    expect((await tollgate.request('GET', `/v1/budgets/${globex.id}`, { key: view.key })).status).toBe(404);
    expect((await tollgate.request('GET', `/v1/budgets/${acme.id}`, { key: view.key })).status).toBe(200);
    expect((await tollgate.request('DELETE', `/v1/budgets/${acme.id}`, { key: view.key })).status).toBe(403);
    expect(
      (
        await tollgate.request('POST', '/v1/enforcement/check', {
          key: view.key,
          body: { model: 'gpt-4o' },
        })
      ).status,
    ).toBe(403);
  });
});

describe('a crash between storing usage and applying it to budgets', () => {
  it('is repaired by the rollup, once', async () => {
    const crashy = await createTestTollgate({ env: { TOLLGATE_ROLLUP_LAG_SECONDS: '0' } });
    try {
      const t = await crashy.createTenant('Crash');
      const created = await crashy.request('POST', '/v1/budgets', {
        key: t.key,
        body: { name: 'tokens', period: 'day', limit: { tokens: 1000 } },
      });
      const budget = await created.json();
      const { db, services } = crashy.runtime;
      // The process "dies" after the claims: the counters never see the events.
      const dying = createUsageService(db, services.pricing, undefined, {
        planUsage: services.budgets.planUsage,
        applyUsage: async () => undefined,
      });
      const result = await dying.ingest(t.id, [
        {
          index: 0,
          event: { id: 'lost-1', provider: 'openai', model: 'gpt-4o', usage: { input_tokens: 300 } },
        },
        {
          index: 1,
          event: { id: 'lost-2', provider: 'openai', model: 'gpt-4o', usage: { input_tokens: 200 } },
        },
      ]);
      expect(result.accepted).toBe(2);
      const spent = async () =>
        (await (await crashy.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json()).status.spent;
      expect(await spent()).toBe(0);
      for (let run = 0; run < 2; run++) {
        const summary = await (
          await crashy.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${t.id}`, {
            key: 'tgop_test-operator-key-0123456789abcdef',
          })
        ).json();
        expect(summary.errors).toEqual([]);
        expect(await spent()).toBe(500);
      }
      // Events applied on the ingest path are not applied again by the rollup.
      await crashy.request('POST', '/v1/usage', {
        key: t.key,
        body: { id: 'fine-1', provider: 'openai', model: 'gpt-4o', usage: { input_tokens: 100 } },
      });
      expect(await spent()).toBe(600);
      await crashy.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${t.id}`, {
        key: 'tgop_test-operator-key-0123456789abcdef',
      });
      expect(await spent()).toBe(600);
    } finally {
      await crashy.cleanup();
    }
  });

  it('a rollup that fails while finishing a batch leaves its window to the next run, which finishes it', async () => {
    const crashy = await createTestTollgate({ env: { TOLLGATE_ROLLUP_LAG_SECONDS: '0' } });
    try {
      const t = await crashy.createTenant('Crash twice');
      const budget = await (
        await crashy.request('POST', '/v1/budgets', {
          key: t.key,
          body: { name: 'tokens', period: 'day', limit: { tokens: 1000 } },
        })
      ).json();
      const { db, services } = crashy.runtime;
      const dying = createUsageService(db, services.pricing, undefined, {
        planUsage: services.budgets.planUsage,
        applyUsage: async () => undefined,
      });
      await dying.ingest(t.id, [
        {
          index: 0,
          event: { id: 'late-1', provider: 'openai', model: 'gpt-4o', usage: { input_tokens: 300 } },
        },
      ]);
      const spent = async () =>
        (await (await crashy.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json()).status.spent;
      const rollup = async () =>
        (
          await crashy.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${t.id}`, {
            key: 'tgop_test-operator-key-0123456789abcdef',
          })
        ).json();
      // The store refuses the rollup's spend on the counter once.
      const failing = failFirstWrite(
        db,
        (write) =>
          write.commandName === 'UpdateItemCommand' && (write.UpdateExpression ?? '').includes('ADD spent'),
      );
      try {
        expect((await rollup()).errors).toHaveLength(1);
      } finally {
        failing.restore();
      }
      expect(failing.failed()).toBe(1);
      expect(await spent()).toBe(0);
      expect((await rollup()).errors).toEqual([]);
      expect(await spent()).toBe(300);
      expect((await rollup()).errors).toEqual([]);
      expect(await spent()).toBe(300);
    } finally {
      await crashy.cleanup();
    }
  });

  it('a batch that reached some counters before ingestion stopped is finished by the rollup without counting any twice', async () => {
    let offsetMs = 0;
    const crashy = await createTestTollgate({
      env: { TOLLGATE_ROLLUP_LAG_SECONDS: '0' },
      now: () => new Date(Date.now() + offsetMs),
    });
    const rollup = async (tenantId: string) => {
      const summary = await (
        await crashy.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${tenantId}`, {
          key: 'tgop_test-operator-key-0123456789abcdef',
        })
      ).json();
      expect(summary.errors).toEqual([]);
    };
    try {
      const t = await crashy.createTenant('Part-way');
      const budgetBody = (name: string, scope: Record<string, string>) => ({
        name,
        scope,
        period: 'year',
        limit: { tokens: 100_000 },
      });
      const tenantWide = await (
        await crashy.request('POST', '/v1/budgets', { key: t.key, body: budgetBody('all', {}) })
      ).json();
      const feature = await (
        await crashy.request('POST', '/v1/budgets', {
          key: t.key,
          body: budgetBody('chat', { feature: 'chat' }),
        })
      ).json();
      const statusOf = async (budget: { id: string }) =>
        (await (await crashy.request('GET', `/v1/budgets/${budget.id}`, { key: t.key })).json()).status;

      // The feature budget's counter refuses the batch's spend: the tenant-wide one has it.
      const failing = failFirstWrite(
        crashy.runtime.db,
        (write) =>
          write.commandName === 'UpdateItemCommand' &&
          write.UpdateExpression?.includes('ADD spent') === true &&
          ((write.Key as { sk?: { S?: string } } | undefined)?.sk?.S ?? '').includes(feature.id),
      );
      try {
        const response = await crashy.request('POST', '/v1/usage', {
          key: t.key,
          body: {
            id: 'part-1',
            provider: 'openai',
            model: 'gpt-4o',
            usage: { input_tokens: 300 },
            dimensions: { feature: 'chat' },
          },
        });
        expect(response.status).toBe(202);
      } finally {
        failing.restore();
      }
      expect(failing.failed()).toBe(1);
      expect((await statusOf(tenantWide)).spent).toBe(300);
      expect((await statusOf(feature)).spent).toBe(0);

      // The rollup finishes the batch: the feature budget takes it, the tenant-wide one not again.
      for (let run = 0; run < 2; run++) {
        await rollup(t.id);
        expect((await statusOf(tenantWide)).spent).toBe(300);
        expect((await statusOf(feature)).spent).toBe(300);
      }
      // The marks stay while an applier of the batch might still run, and go after the horizon.
      const withStatus = async (budget: { id: string }) => ({
        id: budget.id,
        status: await statusOf(budget),
      });
      expect(await batchMarksOf(crashy.runtime.db, t.id, await withStatus(tenantWide))).toHaveLength(1);
      offsetMs = BATCH_MARK_HORIZON_MS + 60_000;
      await rollup(t.id);
      for (const budget of [tenantWide, feature]) {
        const current = await withStatus(budget);
        expect(await batchMarksOf(crashy.runtime.db, t.id, current)).toEqual([]);
        expect(current.status.spent).toBe(300);
      }

      // A mark of a batch never recorded applied stays (the rollup will finish that batch), unless
      // it is older than the records of applied batches are kept.
      const { db } = crashy.runtime;
      const current = await withStatus(tenantWide);
      const markAgo = async (batchId: string, ageMs: number) =>
        db.client.send(
          new UpdateCommand({
            TableName: db.tableName,
            Key: keys.budgetCounter(t.id, tenantWide.id, current.status.period_start),
            UpdateExpression: 'SET #b = :at',
            ExpressionAttributeNames: { '#b': `b_${batchId}` },
            ExpressionAttributeValues: { ':at': Date.now() + offsetMs - ageMs },
          }),
        );
      await markAgo('run_unrecorded', 3_600_000);
      await markAgo('run_forgotten', 4 * 86_400_000);
      await rollup(t.id);
      expect(await batchMarksOf(db, t.id, current)).toEqual(['b_run_unrecorded']);
      expect((await statusOf(tenantWide)).spent).toBe(300);
    } finally {
      await crashy.cleanup();
    }
  });
});
