import { describe, expect, it } from 'vitest';
import { CreateBudgetSchema, UpdateBudgetSchema } from '../../../shared/budgets/schema.js';

type Issue = { path: string; message: string };
const issuesOf = (result: { error?: { issues: { path: PropertyKey[]; message: string }[] } }): Issue[] =>
  (result.error?.issues ?? []).map((issue) => ({ path: issue.path.join('.'), message: issue.message }));

const create = (body: Record<string, unknown>) =>
  issuesOf(CreateBudgetSchema.safeParse({ name: 'x', period: 'day', ...body }));
const update = (body: Record<string, unknown>) => issuesOf(UpdateBudgetSchema.safeParse(body));

describe('budget validation messages', () => {
  it('says what is wrong with a limit of one kind, at the field', () => {
    const [amount] = create({ limit: { amount: 5, currency: 'USD' } });
    expect(amount?.path).toBe('limit.amount');
    expect(amount?.message).toMatch(/decimal string/);
    expect(amount?.message).toMatch(/not a JSON number/);

    for (const tokens of [1.5, 0, -3]) {
      const [issue] = create({ limit: { tokens } });
      expect(issue?.path, String(tokens)).toBe('limit.tokens');
      expect(issue?.message, String(tokens)).toMatch(/whole number of tokens, at least 1/);
    }
    const [quoted] = create({ limit: { tokens: '100' } });
    expect(quoted).toEqual({
      path: 'limit.tokens',
      message: expect.stringMatching(/JSON number \(not in quotes\)/),
    });

    expect(create({ limit: { amount: '5' } })).toEqual([
      { path: 'limit.currency', message: expect.stringMatching(/^required: "USD"/) },
    ]);
    expect(create({ limit: { currency: 'USD' } })).toEqual([
      { path: 'limit.amount', message: expect.stringMatching(/^required: a positive amount/) },
    ]);
    expect(create({ limit: { amount: '1e3', currency: 'USD' } })).toEqual([
      { path: 'limit.amount', message: expect.stringMatching(/plain digits, at most 12 before the point/) },
    ]);
    // The same on a change.
    expect(update({ limit: { tokens: 2.5 } })).toEqual([
      { path: 'limit.tokens', message: expect.stringMatching(/whole number of tokens/) },
    ]);
  });

  it('says which two kinds a limit may be when it is neither, or both', () => {
    const both = create({ limit: { amount: '5', currency: 'USD', tokens: 5 } });
    expect(both).toEqual([{ path: 'limit', message: expect.stringMatching(/, not both$/) }]);
    const euro = create({ limit: { amount: '5', currency: 'EUR' } });
    expect(euro).toEqual([{ path: 'limit', message: expect.stringContaining('USD only') }]);
    for (const limit of [{}, 'lots', [5], null]) {
      const [issue] = create({ limit });
      expect(issue?.path, JSON.stringify(limit)).toBe('limit');
      expect(issue?.message).toMatch(/^a money limit .* or a token limit/);
    }
    expect(create({})).toEqual([
      { path: 'limit', message: expect.stringMatching(/^required: a money limit/) },
    ]);
  });

  it('still takes both kinds of limit', () => {
    expect(create({ limit: { amount: '500.00', currency: 'USD' } })).toEqual([]);
    expect(create({ limit: { tokens: 50_000_000 } })).toEqual([]);
    expect(CreateBudgetSchema.parse({ name: 'x', period: 'day', limit: { tokens: 7 } }).limit).toEqual({
      tokens: 7,
    });
  });

  it('says action keys are thresholds as written in thresholds', () => {
    const actions = { '080': { type: 'block' } };
    expect(create({ limit: { tokens: 10 }, thresholds: [80], actions })).toEqual([
      { path: 'actions.080', message: 'a threshold as written in "thresholds": "80", not "080"' },
    ]);
    expect(update({ thresholds: [80], actions })).toEqual([
      { path: 'actions.080', message: 'a threshold as written in "thresholds": "80", not "080"' },
    ]);
    for (const key of ['eighty', '80%', '0', '00']) {
      expect(create({ limit: { tokens: 10 }, actions: { [key]: { type: 'block' } } }), key).toEqual([
        { path: `actions.${key}`, message: 'a threshold as written in "thresholds", such as "80"' },
      ]);
    }
  });

  it('says a change cannot move a budget to another scope, period or zone', () => {
    for (const field of ['scope', 'period', 'week_start', 'timezone']) {
      const [issue, ...more] = update({ [field]: 'x', name: 'renamed' });
      expect(more, field).toEqual([]);
      expect(issue?.message, field).toMatch(new RegExp(`^"${field}" cannot be changed: `));
      expect(issue?.message, field).toMatch(/is a new budget \(create one with POST \/v1\/budgets/);
    }
    const [mixed] = update({ scope: {}, period: 'day', colour: 'red' });
    expect(mixed?.message).toMatch(/^"scope", "period" cannot be changed: .*; unrecognized: "colour"$/);
    // A key that is no field at all is answered as before.
    expect(update({ colour: 'red' })).toEqual([{ path: '', message: 'Unrecognized key: "colour"' }]);
    expect(update({ name: 'renamed', forecast_alert: true })).toEqual([]);
  });
});
