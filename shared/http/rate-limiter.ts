/**
 * A token bucket per tenant: `perSecond` tokens refill continuously up to `burst`.
 *
 * It lives in the process, so on Lambda each warm container holds its own buckets; API Gateway's
 * stage throttling bounds the total in front of it. Locally (one process) it is exact.
 */
export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full again (RateLimit-Reset). */
  resetSeconds: number;
  /** When refused: seconds until one token is available (Retry-After). */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class TokenBucketLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #now: () => number;

  constructor(options: { perSecond: number; burst: number; now?: () => number }) {
    this.#perSecond = options.perSecond;
    this.#burst = options.burst;
    this.#now = options.now ?? Date.now;
  }

  take(subject: string, cost = 1): RateLimitDecision {
    const now = this.#now();
    const bucket = this.#buckets.get(subject) ?? { tokens: this.#burst, updatedAt: now };
    const refilled = Math.min(
      this.#burst,
      bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.#perSecond,
    );
    const allowed = refilled >= cost;
    const tokens = allowed ? refilled - cost : refilled;
    this.#buckets.set(subject, { tokens, updatedAt: now });
    if (this.#buckets.size > 100_000) this.#evictFull(now);
    return {
      allowed,
      limit: this.#burst,
      remaining: Math.floor(tokens),
      resetSeconds: Math.ceil((this.#burst - tokens) / this.#perSecond),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((cost - tokens) / this.#perSecond)),
    };
  }

  // A full bucket carries no information; dropping it bounds memory across many tenants.
  #evictFull(now: number) {
    for (const [subject, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.#perSecond >= this.#burst) {
        this.#buckets.delete(subject);
      }
    }
  }
}
