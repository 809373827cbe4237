import { createHash, randomUUID } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../db/client.js';
import { storedItemIs, succeeded, succeededOrOwn } from '../db/conditional.js';
import { keys } from '../db/keys.js';
import { TTL_ATTRIBUTE } from '../db/table.js';

/**
 * Requests sent with an `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header):
 * the first one with a key runs and its answer is kept for IDEMPOTENCY_WINDOW_MS; a retry with the
 * same key and the same request gets that answer again instead of running again (a second budget,
 * a second endpoint).
 */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60_000;

/**
 * A request still marked running this long after it started is taken to have stopped (a crash):
 * longer than the API function may run (29 s), so a retry then runs it again.
 */
export const IDEMPOTENCY_STALE_AFTER_MS = 60_000;

/** A kept answer is at most this large (DynamoDB's item limit is 400 KB); a larger one is not kept. */
export const MAX_KEPT_BODY_BYTES = 256 * 1024;

/** Who owns a key's namespace: one tenant, or the operator. */
export type IdempotencyOwner = { kind: 'tenant'; tenantId: string } | { kind: 'operator' };

export interface KeptResponse {
  status: number;
  body: string;
  /** The headers a replay carries again (content type, location). */
  headers: Record<string, string>;
}

/**
 * What every run of one request under a key shares, however often it runs (a run that stopped
 * or failed is run again by a retry): objects it creates take ids drawn from it (`seededId`), so
 * a rerun finds what an earlier run created instead of creating a twin.
 */
export interface RunSeed {
  seed: string;
  /** When the first run claimed the key (the time part of seeded ids). */
  firstRunAt: number;
}

export type IdempotencyClaim =
  /** This request runs; `attempt` names it for completing or giving up the key. */
  | { kind: 'run'; attempt: string; seed: RunSeed }
  | { kind: 'replay'; response: KeptResponse }
  /** The first request with the key is still running. */
  | { kind: 'in-progress' }
  /** The key was used for another request (another method, path or body). */
  | { kind: 'mismatch' };

interface StoredKey {
  /** `open`: given back after an error answer, for a retry to run again. */
  state: 'running' | 'done' | 'open';
  attempt: string;
  fingerprint: string;
  started_at: number;
  /** Absent on keys claimed before seeds were kept. */
  seed?: string;
  seeded_at?: number;
  response?: KeptResponse;
}

/** What makes two requests the same: method, path (with query) and body. */
export function requestFingerprint(method: string, pathWithQuery: string, body: string): string {
  return createHash('sha256').update(`${method} ${pathWithQuery}\n`).update(body).digest('base64url');
}

const keyOf = (owner: IdempotencyOwner, idempotencyKey: string) =>
  keys.idempotencyKey(
    owner.kind === 'tenant' ? owner.tenantId : undefined,
    createHash('sha256').update(idempotencyKey).digest('base64url'),
  );

/** Idempotency keys on one table, with the clock that dates claims. */
export function createIdempotencyService(db: Db, now: () => Date = () => new Date()) {
  /**
   * Claims `idempotencyKey` for this request, or answers what a request that claimed it before
   * answered (or that it is still running, or was another request).
   */
  async function claim(
    owner: IdempotencyOwner,
    idempotencyKey: string,
    fingerprint: string,
  ): Promise<IdempotencyClaim> {
    const nowMs = now().getTime();
    const key = keyOf(owner, idempotencyKey);
    const read = async () =>
      (await db.client.send(new GetCommand({ TableName: db.tableName, Key: key, ConsistentRead: true })))
        .Item as StoredKey | undefined;
    /** Writes a claim of the key if `condition` holds (or the write was this one's, retried). */
    const claimWith = (
      item: StoredKey,
      condition: { expression: string; names: Record<string, string>; values: Record<string, unknown> },
    ) =>
      succeededOrOwn(
        db.client.send(
          new PutCommand({
            TableName: db.tableName,
            Item: { ...key, ...item, [TTL_ATTRIBUTE]: Math.ceil((nowMs + IDEMPOTENCY_WINDOW_MS) / 1000) },
            ConditionExpression: condition.expression,
            ExpressionAttributeNames: condition.names,
            ExpressionAttributeValues: condition.values,
          }),
        ),
        storedItemIs(db, key, (stored) => stored.attempt === item.attempt),
      );
    const run = (attempt: string, seed: string, firstRunAt: number): IdempotencyClaim => ({
      kind: 'run',
      attempt,
      seed: { seed, firstRunAt },
    });

    for (let round = 0; round < 3; round++) {
      const attempt = randomUUID();
      const freshSeed = randomUUID();
      const fresh: StoredKey = {
        state: 'running',
        attempt,
        fingerprint,
        started_at: nowMs,
        seed: freshSeed,
        seeded_at: nowMs,
      };
      // TTL deletes lazily: a key past its window is free whether or not it was deleted yet.
      if (
        await claimWith(fresh, {
          expression: 'attribute_not_exists(pk) OR #ttl < :now',
          names: { '#ttl': TTL_ATTRIBUTE },
          values: { ':now': Math.floor(nowMs / 1000) },
        })
      )
        return run(attempt, freshSeed, nowMs);

      const stored = await read();
      if (!stored) continue; // its window ended in between: claim it again
      if (stored.fingerprint !== fingerprint) {
        if (stored.state !== 'open') return { kind: 'mismatch' };
        // Given back after an error answer, and now sent with another request (a corrected
        // body): a claim of its own.
        if (
          await claimWith(fresh, {
            expression: '#state = :open AND attempt = :given',
            names: { '#state': 'state' },
            values: { ':open': 'open', ':given': stored.attempt },
          })
        )
          return run(attempt, freshSeed, nowMs);
        continue;
      }
      if (stored.state === 'done' && stored.response) return { kind: 'replay', response: stored.response };
      if (stored.state === 'running' && nowMs - stored.started_at < IDEMPOTENCY_STALE_AFTER_MS)
        return { kind: 'in-progress' };
      // Given back after an error answer, or its request stopped without one: this request runs
      // again as the same request, with the same seed.
      const seed = stored.seed ?? freshSeed;
      const firstRunAt = stored.seeded_at ?? nowMs;
      const takenOver = await succeededOrOwn(
        db.client.send(
          new UpdateCommand({
            TableName: db.tableName,
            Key: key,
            UpdateExpression:
              'SET #state = :running, attempt = :attempt, started_at = :now, seed = :seed, seeded_at = :at',
            ConditionExpression: '#state = :was AND attempt = :stale',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':attempt': attempt,
              ':now': nowMs,
              ':running': 'running',
              ':was': stored.state,
              ':stale': stored.attempt,
              ':seed': seed,
              ':at': firstRunAt,
            },
          }),
        ),
        storedItemIs(db, key, (item) => item.attempt === attempt),
      );
      if (takenOver) return run(attempt, seed, firstRunAt);
    }
    return { kind: 'in-progress' };
  }

  /** Keeps the answer of the request that claimed the key (only while the claim is still its own). */
  async function keep(
    owner: IdempotencyOwner,
    idempotencyKey: string,
    attempt: string,
    response: KeptResponse,
  ): Promise<void> {
    await succeeded(
      db.client.send(
        new UpdateCommand({
          TableName: db.tableName,
          Key: keyOf(owner, idempotencyKey),
          UpdateExpression: 'SET #state = :done, #response = :response',
          // Setting it again is harmless: an SDK retry after a lost answer passes too.
          ConditionExpression: 'attempt = :attempt',
          ExpressionAttributeNames: { '#state': 'state', '#response': 'response' },
          ExpressionAttributeValues: { ':done': 'done', ':response': response, ':attempt': attempt },
        }),
      ),
    );
  }

  /**
   * Gives the key back after an error answer: a retry of the same request runs again, with the
   * same seed (a 5xx may have created something it then finds); another request may take the key.
   */
  async function release(owner: IdempotencyOwner, idempotencyKey: string, attempt: string): Promise<void> {
    await succeeded(
      db.client.send(
        new UpdateCommand({
          TableName: db.tableName,
          Key: keyOf(owner, idempotencyKey),
          UpdateExpression: 'SET #state = :open',
          ConditionExpression: 'attempt = :attempt',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':open': 'open', ':attempt': attempt },
        }),
      ),
    );
  }

  return { claim, keep, release };
}
