import { randomUUID } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './client.js';
import { storedItemIs, succeeded, succeededOrOwn } from './conditional.js';

/**
 * A per-tenant count of things under a cap (webhook endpoints, budgets), kept in one item that
 * only conditional writes change: checking the cap and counting one more is a single write, so
 * concurrent creations never pass the cap. No transactions: the code also runs on dynalite.
 */
export interface CappedCount {
  key: { pk: string; sk: string };
  /** The count item's `entity`. */
  entity: string;
  /**
   * The attribute holding the number. Written into the expressions as is (not as a `#name`), so
   * stored items and what tests look for in a write stay as they were before this was shared.
   */
  countAttribute: string;
  /** Further attributes the item is first written with. */
  initialAttributes?: Record<string, unknown>;
  /** How many of the things are stored, by reading them: the first count, and the recount. */
  countStored: () => Promise<number>;
}

/**
 * How long a count must have stood still before a refusal at the cap recounts what is stored:
 * longer than the API function may run (29 s), so no creation that took a slot and is still
 * writing its item is left to be miscounted.
 */
export const COUNT_SETTLED_MS = 60_000;

/**
 * Takes one of `max` slots: a conditional increment of the count. Answers false when every slot is
 * taken. Each change of the count carries a token of its own: the SDK's retry of an increment whose
 * answer was lost meets its own token and adds nothing twice. A tenant whose things predate the
 * count gets one initialised from them on first use (a conditional put: of two racing
 * initialisations one wins, the other then increments). At the cap, a count that has not changed
 * for COUNT_SETTLED_MS is checked against what is stored and set to that: a process that stopped
 * between taking a slot and writing its item (or between deleting one and giving its slot back)
 * left one counted that is not there.
 */
export async function takeCountedSlot(
  db: Db,
  count: CappedCount,
  max: number,
  nowMs: number,
): Promise<boolean> {
  const { key, countAttribute } = count;
  let initialised = false;
  let recounted = false;
  // A few rounds: each one that does not return saw the count change under it.
  for (let round = 0; round < 5; round++) {
    const token = randomUUID();
    const taken = await succeededOrOwn(
      db.client.send(
        new UpdateCommand({
          TableName: db.tableName,
          Key: key,
          UpdateExpression: `SET changed_at = :now, last_change = :token ADD ${countAttribute} :one`,
          ConditionExpression: `attribute_exists(pk) AND ${countAttribute} < :max AND (attribute_not_exists(last_change) OR last_change <> :token)`,
          ExpressionAttributeValues: { ':one': 1, ':max': max, ':now': nowMs, ':token': token },
        }),
      ),
      storedItemIs(db, key, (item) => item.last_change === token),
    );
    if (taken) return true;
    const { Item } = await db.client.send(
      new GetCommand({ TableName: db.tableName, Key: key, ConsistentRead: true }),
    );
    if (!Item) {
      if (initialised) return false;
      initialised = true;
      const stored = await count.countStored();
      await succeeded(
        db.client.send(
          new PutCommand({
            TableName: db.tableName,
            Item: {
              ...key,
              entity: count.entity,
              ...count.initialAttributes,
              [countAttribute]: stored,
              changed_at: nowMs,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      continue;
    }
    const counted = Number(Item[countAttribute] ?? 0);
    const changedAt = typeof Item.changed_at === 'number' ? Item.changed_at : undefined;
    if (counted < max) continue; // given back since the refusal
    if (recounted) return false;
    if (changedAt !== undefined && nowMs - changedAt < COUNT_SETTLED_MS) return false;
    recounted = true;
    const stored = await count.countStored();
    if (stored >= counted) return false;
    // Only if the count is still as read: a creation or deletion since would have moved it.
    await succeeded(
      db.client.send(
        new UpdateCommand({
          TableName: db.tableName,
          Key: key,
          UpdateExpression: `SET ${countAttribute} = :stored, changed_at = :now, last_change = :token`,
          ConditionExpression: `${countAttribute} = :counted AND ${
            changedAt === undefined ? 'attribute_not_exists(changed_at)' : 'changed_at = :changedAt'
          }`,
          ExpressionAttributeValues: {
            ':stored': stored,
            ':now': nowMs,
            ':token': randomUUID(),
            ':counted': counted,
            ...(changedAt === undefined ? {} : { ':changedAt': changedAt }),
          },
        }),
      ),
    );
  }
  return false;
}

/**
 * Gives a slot back (a thing deleted, or a creation that failed after taking it). Its token keeps
 * the SDK's retry of a decrement whose answer was lost from giving back two.
 */
export async function releaseCountedSlot(
  db: Db,
  count: Pick<CappedCount, 'key' | 'countAttribute'>,
  nowMs: number,
): Promise<void> {
  const { key, countAttribute } = count;
  await succeeded(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        UpdateExpression: `SET changed_at = :now, last_change = :token ADD ${countAttribute} :minusOne`,
        ConditionExpression: `attribute_exists(pk) AND ${countAttribute} > :zero AND (attribute_not_exists(last_change) OR last_change <> :token)`,
        ExpressionAttributeValues: { ':minusOne': -1, ':zero': 0, ':now': nowMs, ':token': randomUUID() },
      }),
    ),
  );
}

/** How long the mark of a deleted thing's given-back slot is kept (ids are never reused). */
const SLOT_RELEASE_MARK_SECONDS = 2 * 86_400;

/**
 * Marks the slot of a deleted thing as given back (`markKey`: one per thing); true for the one
 * caller that marks it first, who then gives it back. Two deletes of one thing can both count as
 * done: one whose request was lost on its way, retried by the SDK after the other deleted it (see
 * `deleted()`); without the mark both would give a slot back, and the cap could be passed by one.
 * A lost answer to the mark is recognised by its token. A process that stops between the mark and
 * the give-back leaves the slot counted: the recount at the cap corrects that.
 */
export async function markCountedSlotReleased(
  db: Db,
  markKey: { pk: string; sk: string },
  entity: string,
  nowMs: number,
): Promise<boolean> {
  const token = randomUUID();
  return succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...markKey,
          entity,
          token,
          expires_at_epoch: Math.ceil(nowMs / 1000) + SLOT_RELEASE_MARK_SECONDS,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
    storedItemIs(db, markKey, (item) => item.token === token),
  );
}
