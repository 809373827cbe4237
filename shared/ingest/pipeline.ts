import pLimit from 'p-limit';
import type { z } from 'zod';
import type { Db } from '../db/client.js';
import type { RawEventKind } from '../db/keys.js';
import { type FieldError, ServiceUnavailableError } from '../errors/errors.js';
import type { IngestResult } from '../usage/schema.js';
import { dedupeKeyOf, type EnvelopeItem } from './envelope.js';
import { claimRawEvent } from './raw-event-repository.js';

/** Events may be at most this far ahead of the server's clock… */
export const MAX_FUTURE_MS = 5 * 60 * 1000;
/** …and at most this old: late enough for retries and backfills, early enough for rollups to settle. */
export const MAX_AGE_MS = 35 * 24 * 60 * 60 * 1000;

/** Conditional puts in flight per request. */
const WRITE_CONCURRENCY = 32;

export interface ValidEvent {
  id: string;
  timestamp?: string | undefined;
}

/** What the response tells about an accepted event (usage: its cost, or that it is unpriced). */
export interface Answer {
  cost?: string;
  priced: boolean;
  /** The price (id and effective date) the cost was computed with. */
  price_id?: string;
  /** What the event's `reservation_id` found (usage events that name one). */
  reservation?: IngestResult['results'][number]['reservation'];
}

/** What a kind of event makes of one valid event: the attributes to store and what to answer. */
export type Prepared = { attributes: Record<string, unknown>; answer?: Answer } | { errors: FieldError[] };

export interface IngestOptions<S extends z.ZodType<ValidEvent>> {
  db: Db;
  tenantId: string;
  kind: RawEventKind;
  items: EnvelopeItem[];
  now: Date;
  schema: S;
  prepare(event: z.infer<S>, timestamp: Date): Prepared;
  /**
   * Runs once the claims have settled, with the attributes of the events this request stored;
   * may answer more of each one's answer, in the same order.
   */
  onAccepted?(stored: Record<string, unknown>[]): Promise<(Partial<Answer> | undefined)[] | undefined>;
}

const issuesToErrors = (issues: z.core.$ZodIssue[]): FieldError[] =>
  issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(root)', message: issue.message }));

function idOf(event: unknown): string | null {
  return typeof event === 'object' && event !== null && typeof (event as { id?: unknown }).id === 'string'
    ? (event as { id: string }).id
    : null;
}

function windowError(timestamp: Date, now: Date): FieldError | undefined {
  if (timestamp.getTime() > now.getTime() + MAX_FUTURE_MS) {
    return { path: 'timestamp', message: 'is more than 5 minutes in the future' };
  }
  if (timestamp.getTime() < now.getTime() - MAX_AGE_MS) {
    return { path: 'timestamp', message: 'is more than 35 days old' };
  }
  return undefined;
}

/**
 * The ingestion rules shared by usage and outcome events: each event is validated on its own
 * (valid events of a batch are kept when others are rejected), an id repeated within the batch
 * is a duplicate of its first occurrence, and each event is claimed in the store exactly once.
 *
 * If the store fails for some events, the whole request fails with 503 after every write has
 * settled: retrying the batch is then safe, the events already stored come back as duplicates.
 */
/**
 * A store error that says the event itself cannot be kept: DynamoDB's validation of the item
 * (over 400 KB, nested too deep) or the encoder running out of stack on it. Anything else (throttling,
 * a network error) is transient, and answered 503 so the batch is retried.
 */
function isRefusalOfTheEvent(error: unknown): boolean {
  return (
    (error instanceof RangeError && /call stack/i.test(error.message)) ||
    (error instanceof Error && error.name === 'ValidationException')
  );
}

function refusalOf(error: unknown): string {
  if (error instanceof RangeError && /call stack/i.test(error.message)) return 'nested too deep';
  return /size/i.test((error as Error).message)
    ? 'larger than the store keeps in one item (400 KB)'
    : 'the store refused it';
}

export async function ingestEvents<S extends z.ZodType<ValidEvent>>(
  options: IngestOptions<S>,
): Promise<IngestResult> {
  const { db, tenantId, kind, items, now } = options;
  const ingestedAt = now.toISOString();
  const results: IngestResult['results'] = [];
  const rejected: IngestResult['rejected'] = [];
  const firstIndexOfKey = new Map<string, number>();
  const toClaim: {
    index: number;
    id: string;
    dedupeKey: string;
    attributes: Record<string, unknown>;
    answer?: Answer;
  }[] = [];

  const reject = (index: number, id: string | null, errors: FieldError[]) => {
    rejected.push({ index, id, errors });
    results[index] = { index, id, status: 'rejected' };
  };

  for (const item of items) {
    if (item.errors) {
      reject(item.index, idOf(item.event), item.errors);
      continue;
    }
    const parsed = options.schema.safeParse(item.event);
    if (!parsed.success) {
      reject(item.index, idOf(item.event), issuesToErrors(parsed.error.issues));
      continue;
    }
    const event = parsed.data;
    const timestamp = event.timestamp ? new Date(event.timestamp) : now;
    const outOfWindow = windowError(timestamp, now);
    if (outOfWindow) {
      reject(item.index, event.id, [outOfWindow]);
      continue;
    }
    const prepared = options.prepare(event, timestamp);
    if ('errors' in prepared) {
      reject(item.index, event.id, prepared.errors);
      continue;
    }
    const dedupeKey = dedupeKeyOf(event.id, item.source);
    if (firstIndexOfKey.has(dedupeKey)) {
      results[item.index] = { index: item.index, id: event.id, status: 'duplicate' };
      continue;
    }
    firstIndexOfKey.set(dedupeKey, item.index);
    toClaim.push({
      index: item.index,
      id: event.id,
      dedupeKey,
      attributes: {
        kind,
        id: event.id,
        ...(item.source ? { src: item.source } : {}),
        ts: timestamp.toISOString(),
        ...prepared.attributes,
      },
      ...(prepared.answer ? { answer: prepared.answer } : {}),
    });
  }

  const limit = pLimit(WRITE_CONCURRENCY);
  const outcomes = await Promise.allSettled(
    toClaim.map((event) =>
      limit(() => claimRawEvent(db, tenantId, kind, event.dedupeKey, ingestedAt, event.attributes)),
    ),
  );
  // An event the store refuses for what it is (too large, too deep to encode) is refused by itself,
  // as an invalid one is: retrying the batch could never store it.
  const refused = new Set<number>();
  outcomes.forEach((outcome, position) => {
    const event = toClaim[position];
    if (outcome.status !== 'rejected' || !event || !isRefusalOfTheEvent(outcome.reason)) return;
    reject(event.index, event.id, [
      { path: '(root)', message: `cannot be stored: ${refusalOf(outcome.reason)}` },
    ]);
    refused.add(position);
  });
  const failed = outcomes.filter(
    (outcome, position) => outcome.status === 'rejected' && !refused.has(position),
  );
  if (failed.length > 0) {
    throw new ServiceUnavailableError(
      `${failed.length} of ${toClaim.length} events could not be stored. Retry the whole batch: events already stored are reported as duplicates and counted once.`,
      'STORE_UNAVAILABLE',
      { cause: (failed[0] as PromiseRejectedResult).reason },
    );
  }
  const stored = toClaim.filter((_, position) => {
    const outcome = outcomes[position];
    return outcome?.status === 'fulfilled' && outcome.value === 'accepted';
  });
  const more = options.onAccepted
    ? await options.onAccepted(stored.map((event) => event.attributes))
    : undefined;
  const moreOf = new Map(stored.map((event, position) => [event, more?.[position]]));
  outcomes.forEach((outcome, position) => {
    const event = toClaim[position];
    if (!event || outcome.status !== 'fulfilled') return;
    results[event.index] =
      outcome.value === 'accepted'
        ? {
            index: event.index,
            id: event.id,
            status: 'accepted',
            ...(event.answer ?? {}),
            ...(moreOf.get(event) ?? {}),
          }
        : { index: event.index, id: event.id, status: 'duplicate' };
  });

  const dense = results.filter((result) => result !== undefined);
  return {
    accepted: dense.filter((result) => result.status === 'accepted').length,
    duplicates: dense.filter((result) => result.status === 'duplicate').length,
    rejected: rejected.sort((a, b) => a.index - b.index),
    results: dense,
  };
}
