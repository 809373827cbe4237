import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBudgetPartition, putBudgetDefinition } from '../../shared/budgets/repository.js';
import { createTestTollgate, type TestResponse, type TestTollgate } from '../helpers/tollgate.js';

let tollgate: TestTollgate;
let tenant: { id: string; key: string };

beforeAll(async () => {
  tollgate = await createTestTollgate();
  tenant = await tollgate.createTenant('Budget validation');
});
afterAll(() => tollgate.cleanup());

const post = (body: Record<string, unknown>) =>
  tollgate.request('POST', '/v1/budgets', { key: tenant.key, body: { name: 'x', period: 'day', ...body } });

const createBudget = async (body: Record<string, unknown>) => {
  const response = await post(body);
  if (response.status !== 201) throw new Error(`budget: ${response.status} ${await response.text()}`);
  return response.json();
};

/** The field errors of a 400 VALIDATION_FAILED problem, which it must be. */
async function fieldErrors(
  response: TestResponse,
  what: string,
): Promise<{ path: string; message: string }[]> {
  expect(response.status, what).toBe(400);
  expect(response.headers.get('content-type'), what).toBe('application/problem+json');
  const problem = await response.json();
  expect(problem.code, what).toBe('VALIDATION_FAILED');
  return problem.errors;
}

describe('budget time zones', () => {
  it('keeps a zone sent by its IANA canonical name, where the runtime calls it by an older one', async () => {
    for (const zone of [
      'Asia/Kolkata',
      'Europe/Kyiv',
      'Asia/Kathmandu',
      'Asia/Ho_Chi_Minh',
      'America/Argentina/Buenos_Aires',
      'Atlantic/Faroe',
      'Asia/Yangon',
      'America/Nuuk',
      'Pacific/Kanton',
    ]) {
      const budget = await createBudget({ name: zone, timezone: zone, limit: { tokens: 5 } });
      expect(budget.timezone).toBe(zone);
      const read = await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: tenant.key });
      expect((await read.json()).timezone).toBe(zone);
    }
  });

  it('stores a link, old spellings included, as the zone it names, and a name in any case as IANA spells it', async () => {
    for (const [given, stored] of [
      ['Asia/Calcutta', 'Asia/Kolkata'],
      ['Europe/Kiev', 'Europe/Kyiv'],
      ['asia/saigon', 'Asia/Ho_Chi_Minh'],
      ['America/Buenos_Aires', 'America/Argentina/Buenos_Aires'],
      ['europe/kyiv', 'Europe/Kyiv'],
      ['europe/berlin', 'Europe/Berlin'],
      ['US/Pacific', 'America/Los_Angeles'],
      ['Etc/UTC', 'UTC'],
    ]) {
      const budget = await createBudget({ name: given, timezone: given, limit: { tokens: 5 } });
      expect(budget.timezone, given).toBe(stored);
    }
  });

  it('keeps counting a budget stored under an old name, in the same periods as under the new one', async () => {
    const kolkata = await createBudget({
      name: 'kolkata',
      period: 'week',
      timezone: 'Asia/Kolkata',
      limit: { tokens: 5 },
    });
    const legacy = await createBudget({
      name: 'stored before',
      period: 'week',
      timezone: 'Asia/Kolkata',
      limit: { tokens: 5 },
      scope: { feature: 'legacy' },
    });
    // As an earlier version stored it: under the runtime's older name.
    const partition = await loadBudgetPartition(tollgate.store.db, tenant.id);
    const definition = partition.definitions.find((d) => d.id === legacy.id);
    if (!definition) throw new Error('the budget is not stored');
    expect(
      await putBudgetDefinition(
        tollgate.store.db,
        tenant.id,
        { ...definition, timezone: 'Asia/Calcutta' },
        definition.updated_at,
      ),
    ).toBe(true);

    const read = await (
      await tollgate.request('GET', `/v1/budgets/${legacy.id}`, { key: tenant.key })
    ).json();
    expect(read.timezone).toBe('Asia/Calcutta');
    expect([read.status.period_start, read.status.period_end]).toEqual([
      kolkata.status.period_start,
      kolkata.status.period_end,
    ]);
    const renamed = await tollgate.request('PATCH', `/v1/budgets/${legacy.id}`, {
      key: tenant.key,
      body: { name: 'still counting', actions: { '100': { type: 'block' } }, thresholds: [100] },
    });
    expect(renamed.status).toBe(200);
    expect((await renamed.json()).timezone).toBe('Asia/Calcutta');
    const check = await tollgate.request('POST', '/v1/enforcement/check', {
      key: tenant.key,
      body: { dimensions: { feature: 'legacy' }, model: 'gpt-4o', estimated_tokens: 10 },
    });
    expect(check.status).toBe(200);
    const decision = await check.json();
    expect(decision.decision).toBe('block');
    expect(decision.budgets.map((b: { id: string }) => b.id)).toContain(legacy.id);
  });

  it('rolls a child stored under an old zone name up into a parent under the new one', async () => {
    const own = await tollgate.createTenant('Zone names in the tree');
    const create = async (body: Record<string, unknown>) => {
      const response = await tollgate.request('POST', '/v1/budgets', {
        key: own.key,
        body: { period: 'week', timezone: 'Asia/Kolkata', limit: { tokens: 100 }, ...body },
      });
      expect(response.status).toBe(201);
      return response.json();
    };
    const parent = await create({ name: 'all' });
    const child = await create({ name: 'chat', scope: { feature: 'chat' } });
    const partition = await loadBudgetPartition(tollgate.store.db, own.id);
    const definition = partition.definitions.find((d) => d.id === child.id);
    if (!definition) throw new Error('child not stored');
    await putBudgetDefinition(
      tollgate.store.db,
      own.id,
      { ...definition, timezone: 'Asia/Calcutta' },
      definition.updated_at,
    );
    const tree = await (await tollgate.request('GET', '/v1/budgets?view=tree', { key: own.key })).json();
    expect(tree.data).toHaveLength(1);
    expect(tree.data[0].budget.id).toBe(parent.id);
    expect(tree.data[0].children.map((node: { budget: { id: string } }) => node.budget.id)).toEqual([
      child.id,
    ]);
    // The same weeks under either name: the child's limit is part of the parent's roll-up.
    expect(tree.data[0].rollup).toMatchObject({ unit: 'tokens', children: 1, children_limit: 100 });
  });
});

describe('budget validation messages', () => {
  it('says what is wrong with a money or token limit, at its field', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [
        { amount: 5, currency: 'USD' },
        'limit.amount',
        /^a decimal string such as "500.00" \(in quotes, not a JSON number\)/,
      ],
      [{ amount: '5' }, 'limit.currency', /^required: "USD"/],
      [{ tokens: 1.5 }, 'limit.tokens', /^a whole number of tokens, at least 1/],
      [{ tokens: '100' }, 'limit.tokens', /as a JSON number \(not in quotes\)$/],
      [{ tokens: 0 }, 'limit.tokens', /^a whole number of tokens, at least 1/],
      [{ amount: '5', currency: 'USD', tokens: 5 }, 'limit', /, not both$/],
      [{ amount: '5', currency: 'EUR' }, 'limit', /USD only/],
    ];
    for (const [limit, path, message] of cases) {
      const errors = await fieldErrors(await post({ limit }), JSON.stringify(limit));
      expect(errors, JSON.stringify(limit)).toEqual([{ path, message: expect.stringMatching(message) }]);
    }
    const patched = await createBudget({ limit: { tokens: 5 } });
    const errors = await fieldErrors(
      await tollgate.request('PATCH', `/v1/budgets/${patched.id}`, {
        key: tenant.key,
        body: { limit: { tokens: '100' } },
      }),
      'PATCH tokens "100"',
    );
    expect(errors).toEqual([{ path: 'limit.tokens', message: expect.stringMatching(/not in quotes/) }]);
  });

  it('says action keys are thresholds as written in thresholds', async () => {
    const errors = await fieldErrors(
      await post({ limit: { tokens: 5 }, thresholds: [80], actions: { '080': { type: 'block' } } }),
      'action 080',
    );
    expect(errors).toEqual([
      { path: 'actions.080', message: 'a threshold as written in "thresholds": "80", not "080"' },
    ]);
  });

  it('says scope, period and zone cannot be changed: another one is a new budget', async () => {
    const budget = await createBudget({ limit: { tokens: 5 } });
    for (const body of [
      { scope: { feature: 'chat' } },
      { period: 'month' },
      { timezone: 'Europe/Berlin' },
      { week_start: 'sunday' },
    ]) {
      const [field] = Object.keys(body);
      const errors = await fieldErrors(
        await tollgate.request('PATCH', `/v1/budgets/${budget.id}`, { key: tenant.key, body }),
        `PATCH ${field}`,
      );
      expect(errors).toEqual([
        {
          path: '(root)',
          message: expect.stringMatching(
            new RegExp(
              `^"${field}" cannot be changed: .* is a new budget \\(create one with POST /v1/budgets`,
            ),
          ),
        },
      ]);
    }
    const unchanged = await tollgate.request('GET', `/v1/budgets/${budget.id}`, { key: tenant.key });
    expect(await unchanged.json()).toMatchObject({ scope: {}, period: 'day', timezone: 'UTC' });
  });
});
