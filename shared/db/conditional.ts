import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './client.js';

/**
 * A conditional write's outcome as a boolean: true when it was made, false when its condition
 * did not hold (the claim was taken, the state moved on). Every other error is thrown.
 */
export async function succeeded(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * A conditional delete's outcome, for a delete whose condition is that the item is there
 * (`attribute_exists(pk)`): true when the item was deleted, false when there was none. When the
 * SDK retried the delete (after an attempt whose answer was lost, or one that failed), a refusal
 * meets the item gone: deleted by that very attempt, by a delete racing it, or never there when
 * the first attempt failed before the store applied it. Which one cannot be told; the caller's goal
 * stands in each, so it counts as deleted (and the caller finishes what follows a delete) rather
 * than as "not found".
 */
export async function deleted(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return (error.$metadata.attempts ?? 1) > 1;
    throw error;
  }
}

/**
 * A conditional write's outcome when its refusal may be the write itself. The SDK retries a write
 * whose answer was lost (a reset connection, a timeout, a 500), and the retry then fails its
 * condition against the first attempt, which was applied. `isOwn` reads what is stored and
 * answers whether it carries a mark unique to this write; only a refusal pays that read.
 */
export async function succeededOrOwn(
  write: Promise<unknown>,
  isOwn: () => Promise<boolean>,
): Promise<boolean> {
  return (await succeeded(write)) || isOwn();
}

/**
 * The usual `isOwn` of succeededOrOwn: reads the item at `key` (consistently) and answers whether
 * it is there and `test` recognises this write in it.
 */
export function storedItemIs(
  db: Db,
  key: { pk: string; sk: string },
  test: (item: Record<string, unknown>) => boolean,
): () => Promise<boolean> {
  return async () => {
    const { Item } = await db.client.send(
      new GetCommand({ TableName: db.tableName, Key: key, ConsistentRead: true }),
    );
    return Item !== undefined && test(Item);
  };
}
