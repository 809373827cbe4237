import { describe, expect, it } from 'vitest';
import { decideBudget, matches, strictest } from '../../../shared/budgets/evaluate.js';
import type { BudgetDefinition } from '../../../shared/budgets/schema.js';
import { Decimal } from '../../../shared/money/money.js';

const budget: BudgetDefinition = {
  id: 'bud_1',
  name: 'b',
  scope: { feature: 'chat', model: 'gpt-4o' },
  period: 'month',
  timezone: 'UTC',
  limit: { tokens: 1000 },
  thresholds: [50, 80, 100],
  forecast_alert: false,
  actions: {
    '80': { type: 'downgrade', model_map: { 'gpt-4o': 'gpt-4o-mini' } },
    '100': { type: 'block' },
  },
  revision: 1,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
};
const d = (n: number) => new Decimal(n);

describe('budget decisions', () => {
  it('takes the strictest action among the thresholds reached', () => {
    expect(decideBudget(budget, d(100), d(0), 'gpt-4o')).toEqual({ decision: 'allow' });
    expect(decideBudget(budget, d(500), d(0), 'gpt-4o')).toEqual({ decision: 'warn' });
    expect(decideBudget(budget, d(800), d(0), 'gpt-4o-2024-08-06')).toEqual({
      decision: 'downgrade',
      model: 'gpt-4o-mini',
    });
    // A model the map does not name cannot be downgraded: a warning.
    expect(decideBudget(budget, d(800), d(0), 'o3')).toEqual({ decision: 'warn' });
    expect(decideBudget(budget, d(1000), d(0), 'gpt-4o').decision).toBe('block');
  });

  it('blocks a call whose estimate would pass the block level, not one that fills it exactly', () => {
    expect(decideBudget(budget, d(900), d(100), 'gpt-4o').decision).toBe('downgrade');
    expect(decideBudget(budget, d(900), d(101), 'gpt-4o').decision).toBe('block');
    // An admitted reservation that filled the budget exactly warns instead of blocking.
    expect(decideBudget(budget, d(1000), d(0), 'gpt-4o', { admitted: true }).decision).toBe('downgrade');
  });

  it('answers a check whose estimate fills a block level exactly as authorize admits it: warn', () => {
    const blockOnly: BudgetDefinition = {
      ...budget,
      thresholds: [100],
      actions: { '100': { type: 'block' } },
    };
    expect(decideBudget(blockOnly, d(0), d(1000), 'gpt-4o').decision).toBe('warn');
    expect(decideBudget(blockOnly, d(0), d(1000), 'gpt-4o', { admitted: true }).decision).toBe('warn');
    expect(decideBudget(blockOnly, d(0), d(999), 'gpt-4o').decision).toBe('allow');
    expect(decideBudget(blockOnly, d(0), d(1001), 'gpt-4o').decision).toBe('block');
    expect(decideBudget(blockOnly, d(1000), d(0), 'gpt-4o').decision).toBe('block');
  });

  it('downgrades a Bedrock model id by the name a map gives the model, after its Bedrock spellings', () => {
    const claude: BudgetDefinition = {
      ...budget,
      scope: {},
      thresholds: [80],
      actions: { '80': { type: 'downgrade', model_map: { 'claude-sonnet-4-5': 'claude-haiku-4-5' } } },
    };
    for (const model of [
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
      'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      'claude-sonnet-4-5-20250929',
    ]) {
      expect(decideBudget(claude, d(800), d(0), model), model).toEqual({
        decision: 'downgrade',
        model: 'claude-haiku-4-5',
      });
    }
    const bedrockMap: BudgetDefinition = {
      ...claude,
      actions: {
        '80': {
          type: 'downgrade',
          model_map: {
            'claude-sonnet-4-5': 'claude-haiku-4-5',
            'anthropic.claude-sonnet-4-5-20250929-v1:0': 'anthropic.claude-haiku-4-5-20251001-v1:0',
          },
        },
      },
    };
    expect(decideBudget(bedrockMap, d(800), d(0), 'anthropic.claude-sonnet-4-5-20250929-v1:0').model).toBe(
      'anthropic.claude-haiku-4-5-20251001-v1:0',
    );
    // A dotted model name is not a Bedrock vendor prefix.
    expect(decideBudget(claude, d(800), d(0), 'gpt-4.1').decision).toBe('warn');
  });

  it('orders decisions allow < warn < downgrade < throttle < block', () => {
    expect(strictest(['warn', 'throttle', 'downgrade'])).toBe('throttle');
    expect(strictest([])).toBe('allow');
  });

  it('matches scopes by dimension pairs, model names and provider', () => {
    const subject = { dimensions: { feature: 'chat', customer: 'acme' }, model: 'gpt-4o-2024-08-06' };
    expect(matches(budget.scope, subject)).toBe(true);
    expect(matches(budget.scope, { ...subject, model: 'gpt-4o-mini' })).toBe(false);
    expect(matches({ feature: 'search' }, subject)).toBe(false);
    expect(matches({ provider: 'openai' }, { ...subject, provider: 'anthropic' })).toBe(false);
    // A caller that does not say which provider is held to provider-scoped budgets.
    expect(matches({ provider: 'openai' }, subject)).toBe(true);
    expect(matches({}, subject)).toBe(true);
  });
});
