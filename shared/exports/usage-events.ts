import type { Db } from '../db/client.js';
import { RAW_EVENT_SHARDS } from '../db/keys.js';
import { MAX_AGE_MS, MAX_FUTURE_MS } from '../ingest/pipeline.js';
import { getRawEvents, ingestedKeyPages } from '../ingest/raw-event-repository.js';

/** Index entries per query page: one BatchGetItem (100 keys) fetches a page's events. */
const PAGE_SIZE = 100;

/** Shards read at once; each holds at most one page ahead of the reader. */
const SHARD_CONCURRENCY = 4;

// Re-price corrections share the usage stream under this dedupe-key prefix (see pricing/reprice.ts);
// skipping them at the index saves their reads. The `kind` check below stays the authority.
const CORRECTION_KEY_PREFIX = 'corr:';

// Another process's clock may run a little ahead: an event it acknowledged just before the export
// began may carry an ingestion time just after this process's `now`.
const CLOCK_SLACK_MS = 1000;

export interface EventTimeRange {
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
}

export interface UsageEventPagesOptions {
  /** Events ingested after this instant (give or take a second of clock skew) are left out. */
  now: Date;
  pageSize?: number;
  concurrency?: number;
}

/**
 * The ingestion window that holds every event whose own time is in [from, to): an event is
 * accepted at most 5 minutes before its timestamp and at most 35 days after it.
 */
export function ingestionWindow(range: EventTimeRange, now: Date): { from: Date; to: Date } {
  return {
    from: new Date(range.from.getTime() - MAX_FUTURE_MS),
    to: new Date(Math.min(now.getTime() + CLOCK_SLACK_MS, range.to.getTime() + MAX_AGE_MS)),
  };
}

/**
 * A tenant's stored usage events (not re-price corrections) whose timestamp is in [from, to), a
 * page at a time. Pages come from the ingestion index shard by shard, a few shards at once, so
 * memory holds a handful of pages whatever the range; events are in no global order.
 */
export async function* usageEventPages(
  db: Db,
  tenantId: string,
  range: EventTimeRange,
  options: UsageEventPagesOptions,
): AsyncGenerator<Record<string, unknown>[]> {
  const window = ingestionWindow(range, options.now);
  if (window.to < window.from) return;
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const fromMs = range.from.getTime();
  const toMs = range.to.getTime();
  const inRange = (item: Record<string, unknown>) => {
    if (item.kind !== 'usage' || typeof item.ts !== 'string') return false;
    const ts = Date.parse(item.ts);
    return ts >= fromMs && ts < toMs;
  };
  const shards = Array.from(
    { length: RAW_EVENT_SHARDS },
    (_, shard) => () => shardPages(db, tenantId, shard, window, pageSize, inRange),
  );
  yield* interleave(shards, options.concurrency ?? SHARD_CONCURRENCY);
}

async function* shardPages(
  db: Db,
  tenantId: string,
  shard: number,
  window: { from: Date; to: Date },
  pageSize: number,
  keep: (item: Record<string, unknown>) => boolean,
): AsyncGenerator<Record<string, unknown>[]> {
  // The window's end is inclusive here; the index reader's is exclusive.
  const toExclusive = new Date(window.to.getTime() + 1).toISOString();
  for await (const page of ingestedKeyPages(
    db,
    tenantId,
    'usage',
    shard,
    window.from.toISOString(),
    toExclusive,
    pageSize,
  )) {
    const eventKeys = page.filter((key) => !key.sk.startsWith(CORRECTION_KEY_PREFIX));
    if (eventKeys.length === 0) continue;
    const events = (await getRawEvents(db, eventKeys)).filter(keep);
    if (events.length > 0) yield events;
  }
}

type Settled<T> = { index: number; result: IteratorResult<T> } | { index: number; error: unknown };

/**
 * Runs up to `concurrency` of the sources at once and yields their values as they come, starting
 * the next source when one ends. Each running source is asked for its next value while the
 * reader handles the current one, and no further: the reader's pace bounds what is held.
 */
export async function* interleave<T>(
  sources: (() => AsyncIterator<T>)[],
  concurrency: number,
): AsyncGenerator<T> {
  const running = new Map<number, AsyncIterator<T>>();
  const pending = new Map<number, Promise<Settled<T>>>();
  let started = 0;
  // A failure is kept as a value until the reader gets to it: a rejection nobody awaits yet
  // would be an unhandled rejection and take the process down.
  const pull = (index: number, iterator: AsyncIterator<T>) =>
    pending.set(
      index,
      iterator.next().then(
        (result) => ({ index, result }),
        (error: unknown) => ({ index, error }),
      ),
    );
  const startNext = () => {
    const source = sources[started];
    if (!source) return;
    const index = started++;
    const iterator = source();
    running.set(index, iterator);
    pull(index, iterator);
  };
  try {
    while (started < sources.length && pending.size < concurrency) startNext();
    while (pending.size > 0) {
      const settled = await Promise.race(pending.values());
      pending.delete(settled.index);
      if ('error' in settled) throw settled.error;
      const iterator = running.get(settled.index);
      if (settled.result.done || !iterator) {
        running.delete(settled.index);
        startNext();
        continue;
      }
      pull(settled.index, iterator);
      yield settled.result.value;
    }
  } finally {
    // The reader stopped early or a source failed: let the reads in flight settle, then close
    // every source that has not ended so none keeps reading.
    await Promise.all(pending.values());
    for (const iterator of running.values()) await iterator.return?.();
  }
}
