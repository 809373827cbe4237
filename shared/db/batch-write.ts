import { BatchWriteCommand, type BatchWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Db } from './client.js';

/** One put or delete of a batch write, on the table. */
export type WriteRequest = NonNullable<BatchWriteCommandInput['RequestItems']>[string][number];

/**
 * Writes puts and deletes, 25 per call, retrying what the store left unprocessed with backoff
 * (the writes of a batch are not conditional, so a retried one changes nothing). One that stays
 * unprocessed is an error, never a write silently dropped.
 */
export async function batchWriteAll(db: Db, requests: WriteRequest[]): Promise<void> {
  for (let start = 0; start < requests.length; start += 25) {
    let pending = requests.slice(start, start + 25);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
      if (attempt > 8) throw new Error('the store kept leaving writes unprocessed');
      const result = await db.client.send(
        new BatchWriteCommand({ RequestItems: { [db.tableName]: pending } }),
      );
      pending = result.UnprocessedItems?.[db.tableName] ?? [];
    }
  }
}
