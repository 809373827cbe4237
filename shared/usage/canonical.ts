import type { FieldError } from '../errors/errors.js';

/**
 * Tollgate's token counts for one request. The buckets are disjoint (nothing is counted twice)
 * and each maps to one price, whatever the provider's own totals include.
 */
export interface CanonicalUsage {
  /** Uncached input: never includes cache reads or writes. */
  input_tokens: number;
  /** Input read from the prompt cache. */
  cached_input_tokens: number;
  /** Cache writes with the 5-minute TTL; providers without a TTL choice (OpenAI, Bedrock 5m) land here. */
  cache_write_tokens: number;
  /** Anthropic (and Bedrock) 1-hour cache writes. */
  cache_write_1h_tokens: number;
  /** Billed output, reasoning/thinking tokens included. */
  output_tokens: number;
  /** Informational subset of `output_tokens` (≤ output_tokens); never added to totals again. */
  reasoning_tokens: number;
}

export const SERVICE_TIERS = ['standard', 'batch', 'flex', 'priority'] as const;
export type ServiceTier = (typeof SERVICE_TIERS)[number];

/** The count fields of CanonicalUsage, in a stable order. */
export const USAGE_FIELDS = [
  'input_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'output_tokens',
  'reasoning_tokens',
] as const satisfies readonly (keyof CanonicalUsage)[];

/** Usage with every bucket at zero. */
export function emptyUsage(): CanonicalUsage {
  return {
    input_tokens: 0,
    cached_input_tokens: 0,
    cache_write_tokens: 0,
    cache_write_1h_tokens: 0,
    output_tokens: 0,
    reasoning_tokens: 0,
  };
}

/** All tokens of the request; reasoning is already inside output, so it is not added again. */
export function totalTokens(u: CanonicalUsage): number {
  return (
    u.input_tokens + u.cached_input_tokens + u.cache_write_tokens + u.cache_write_1h_tokens + u.output_tokens
  );
}

/** Every input-side token (uncached, cache reads, both cache writes): what long-context thresholds compare against. */
export function promptTokens(u: CanonicalUsage): number {
  return u.input_tokens + u.cached_input_tokens + u.cache_write_tokens + u.cache_write_1h_tokens;
}

/** Field-level problems of a usage object: counts must be safe non-negative integers and reasoning ≤ output. */
export function usageErrors(u: CanonicalUsage, pathPrefix = ''): FieldError[] {
  const errors: FieldError[] = [];
  for (const field of USAGE_FIELDS) {
    const value = u[field];
    if (!Number.isSafeInteger(value) || value < 0) {
      errors.push({ path: `${pathPrefix}${field}`, message: 'must be a non-negative integer' });
    }
  }
  if (errors.length === 0 && u.reasoning_tokens > u.output_tokens) {
    errors.push({
      path: `${pathPrefix}reasoning_tokens`,
      message: `reasoning_tokens (${u.reasoning_tokens}) cannot exceed output_tokens (${u.output_tokens}): reasoning is part of output`,
    });
  }
  return errors;
}

/** Adds two usages bucket by bucket (for batches and rollups). */
export function addUsage(a: CanonicalUsage, b: CanonicalUsage): CanonicalUsage {
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    cached_input_tokens: a.cached_input_tokens + b.cached_input_tokens,
    cache_write_tokens: a.cache_write_tokens + b.cache_write_tokens,
    cache_write_1h_tokens: a.cache_write_1h_tokens + b.cache_write_1h_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
  };
}
