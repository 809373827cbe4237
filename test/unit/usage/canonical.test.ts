import { describe, expect, it } from 'vitest';
import {
  addUsage,
  type CanonicalUsage,
  emptyUsage,
  promptTokens,
  totalTokens,
  usageErrors,
} from '../../../shared/usage/canonical.js';

const usage: CanonicalUsage = {
  input_tokens: 100,
  cached_input_tokens: 2000,
  cache_write_tokens: 30,
  cache_write_1h_tokens: 4,
  output_tokens: 500,
  reasoning_tokens: 200,
};

describe('canonical usage', () => {
  it('counts every bucket once in the total, reasoning being inside output', () => {
    expect(totalTokens(usage)).toBe(100 + 2000 + 30 + 4 + 500);
  });

  it('counts uncached input, cache reads and both cache writes as prompt tokens', () => {
    expect(promptTokens(usage)).toBe(2134);
  });

  it('starts empty', () => {
    expect(totalTokens(emptyUsage())).toBe(0);
    expect(usageErrors(emptyUsage())).toEqual([]);
  });

  it('adds bucket by bucket', () => {
    expect(addUsage(usage, usage)).toEqual({
      input_tokens: 200,
      cached_input_tokens: 4000,
      cache_write_tokens: 60,
      cache_write_1h_tokens: 8,
      output_tokens: 1000,
      reasoning_tokens: 400,
    });
  });

  it('finds invalid counts and reasoning above output', () => {
    expect(usageErrors({ ...usage, cache_write_tokens: -1, output_tokens: 1.5 }, 'usage.')).toEqual([
      { path: 'usage.cache_write_tokens', message: 'must be a non-negative integer' },
      { path: 'usage.output_tokens', message: 'must be a non-negative integer' },
    ]);
    expect(usageErrors({ ...usage, reasoning_tokens: 501 })).toEqual([
      {
        path: 'reasoning_tokens',
        message: 'reasoning_tokens (501) cannot exceed output_tokens (500): reasoning is part of output',
      },
    ]);
  });
});
