import { describe, expect, it } from 'vitest';
import { pricedModelName } from '../../../shared/kpis/priced-model.js';

describe('pricedModelName', () => {
  it('names a model as the built-in catalog prices it, whatever its spelling', () => {
    expect(pricedModelName('gpt-4o')).toBe('gpt-4o');
    expect(pricedModelName('gpt-4o-2024-08-06')).toBe('gpt-4o');
    expect(pricedModelName('GPT-4o-2024-08-06')).toBe('gpt-4o');
    expect(pricedModelName('gpt-4o-mini-2024-07-18')).toBe('gpt-4o-mini');
    expect(pricedModelName('claude-sonnet-4-5-20250929')).toBe('claude-sonnet-4-5');
    expect(pricedModelName('anthropic.claude-3-5-sonnet-20241022-v2:0')).toBe('anthropic.claude-3-5-sonnet');
  });

  it('keeps a snapshot with a price of its own, and a name the catalog does not price, as sent', () => {
    expect(pricedModelName('gpt-4o-2024-05-13')).toBe('gpt-4o-2024-05-13');
    expect(pricedModelName('us.anthropic.claude-sonnet-4-5-20250929-v1:0')).toBe(
      'us.anthropic.claude-sonnet-4-5',
    );
    expect(pricedModelName('house-model')).toBe('house-model');
    expect(pricedModelName('House-Model-2025-01-01')).toBe('House-Model-2025-01-01');
  });
});
