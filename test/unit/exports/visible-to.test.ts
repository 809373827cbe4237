import { describe, expect, it } from 'vitest';
import { type StoredUsageEvent, visibleTo } from '../../../shared/exports/focus.js';

const event = (model: string, dims: Record<string, string> = {}): StoredUsageEvent => ({
  id: 'e',
  ts: '2026-12-01T00:00:00.000Z',
  prov: 'openai',
  model,
  tier: 'standard',
  dims,
});

describe("a restricted key's slice of an export", () => {
  it('takes a model by its priced name, as the KPIs do: every spelling of it, no other model', () => {
    const restrict = { model: 'gpt-4o' };
    expect(visibleTo(event('gpt-4o'), restrict)).toBe(true);
    expect(visibleTo(event('gpt-4o-2024-08-06'), restrict)).toBe(true);
    // A snapshot with a price of its own is its own model; and gpt-4o-mini is another.
    expect(visibleTo(event('gpt-4o-2024-05-13'), restrict)).toBe(false);
    expect(visibleTo(event('gpt-4o-mini'), restrict)).toBe(false);
    expect(visibleTo(event('gpt-4o-2024-08-06'), { model: 'gpt-4o-2024-08-06' })).toBe(true);
  });

  it('takes dimensions and the provider exactly, all pairs together', () => {
    expect(visibleTo(event('o3', { customer: 'acme' }), { customer: 'acme', provider: 'openai' })).toBe(true);
    expect(visibleTo(event('o3', { customer: 'acme' }), { customer: 'acme', provider: 'azure' })).toBe(false);
    expect(visibleTo(event('o3', { customer: 'beta' }), { customer: 'acme' })).toBe(false);
    expect(visibleTo(event('o3'), null)).toBe(true);
  });
});
