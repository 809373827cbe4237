import { describe, expect, it } from 'vitest';
import { TokenBucketLimiter } from '../../../shared/http/rate-limiter.js';

describe('TokenBucketLimiter', () => {
  it('allows a burst, refuses past it, and refills at the configured rate', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ perSecond: 2, burst: 3, now: () => now });
    expect([1, 2, 3].map(() => limiter.take('ten_a').allowed)).toEqual([true, true, true]);
    const refused = limiter.take('ten_a');
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1, limit: 3 });

    now += 500; // half a second refills one token at 2/s
    expect(limiter.take('ten_a').allowed).toBe(true);
    expect(limiter.take('ten_a').allowed).toBe(false);
  });

  it('keeps one bucket per tenant', () => {
    const limiter = new TokenBucketLimiter({ perSecond: 1, burst: 1, now: () => 0 });
    expect(limiter.take('ten_a').allowed).toBe(true);
    expect(limiter.take('ten_a').allowed).toBe(false);
    expect(limiter.take('ten_b').allowed).toBe(true);
  });

  it('reports how long until the bucket is full again', () => {
    const limiter = new TokenBucketLimiter({ perSecond: 10, burst: 100, now: () => 0 });
    for (let i = 0; i < 50; i++) limiter.take('ten_a');
    expect(limiter.take('ten_a')).toMatchObject({ remaining: 49, resetSeconds: 6 });
  });
});
