import { createHash, randomUUID } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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

export type IdempotencyClaim =
  /** This request runs; `attempt` names it for completing or giving up the key. */
  | { kind: 'run'; attempt: string }
  | { kind: 'replay'; response: KeptResponse }
  /** The first request with the key is still running. */
  | { kind: 'in-progress' }
  /** The key was used for another request (another method, path or body). */
  | { kind: 'mismatch' };

interface StoredKey {
  state: 'running' | 'done';
  attempt: string;
  fingerprint: string;
  started_at: number;
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
    for (let round = 0; round < 3; round++) {
      const attempt = randomUUID();
      const item: StoredKey & Record<string, unknown> = {
        ...key,
        state: 'running',
        attempt,
        fingerprint,
        started_at: nowMs,
        [TTL_ATTRIBUTE]: Math.ceil((nowMs + IDEMPOTENCY_WINDOW_MS) / 1000),
      };
      const claimed = await succeededOrOwn(
        db.client.send(
          new PutCommand({
            TableName: db.tableName,
            Item: item,
            // TTL deletes lazily: a key past its window is free whether or not it was deleted yet.
            ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :now',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ':now': Math.floor(nowMs / 1000) },
          }),
        ),
        storedItemIs(db, key, (stored) => stored.attempt === attempt),
      );
      if (claimed) return { kind: 'run', attempt };

      const { Item } = await db.client.send(
        new GetCommand({ TableName: db.tableName, Key: key, ConsistentRead: true }),
      );
      if (!Item) continue; // given up in between: claim it again
      const stored = Item as unknown as StoredKey;
      if (stored.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (stored.state === 'done' && stored.response) return { kind: 'replay', response: stored.response };
      if (nowMs - stored.started_at < IDEMPOTENCY_STALE_AFTER_MS) return { kind: 'in-progress' };
      // The first request stopped without an answer: this one takes the key over and runs.
      const takenOver = await succeeded(
        db.client.send(
          new UpdateCommand({
            TableName: db.tableName,
            Key: key,
            UpdateExpression: 'SET attempt = :attempt, started_at = :now',
            ConditionExpression: '#state = :running AND attempt = :stale',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':attempt': attempt,
              ':now': nowMs,
              ':running': 'running',
              ':stale': stored.attempt,
            },
          }),
        ),
      );
      if (takenOver) return { kind: 'run', attempt };
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

  /** Frees the key after a request that did not finish (a 5xx): a retry then runs it again. */
  async function release(owner: IdempotencyOwner, idempotencyKey: string, attempt: string): Promise<void> {
    await succeeded(
      db.client.send(
        new DeleteCommand({
          TableName: db.tableName,
          Key: keyOf(owner, idempotencyKey),
          ConditionExpression: 'attempt = :attempt',
          ExpressionAttributeValues: { ':attempt': attempt },
        }),
      ),
    );
  }

  return { claim, keep, release };
}
