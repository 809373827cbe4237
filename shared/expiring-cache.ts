/**
 * A small in-process cache whose entries live `ttlMs` and whose size is bounded (the oldest entry
 * goes first: a Map iterates in insertion order). For values read from the store or a key service
 * that may be a few seconds or minutes stale: tenant keys, opened webhook secrets.
 */
export class ExpiringCache<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get(key: string, nowMs: number): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.until > nowMs) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  /** Keeps `value` until nowMs + ttlMs; with a ttl of 0 nothing is kept. */
  set(key: string, value: V, nowMs: number): void {
    if (this.ttlMs <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, until: nowMs + this.ttlMs });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  /** Forgets `key`; with `only`, just while it still holds that value (a newer one stays). */
  delete(key: string, only?: V): void {
    if (only !== undefined && this.#entries.get(key)?.value !== only) return;
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
