import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from './client.js';

/**
 * Reads items by key, consistently, 100 per call, retrying what the store left unprocessed
 * with backoff. A read that stays unprocessed is an error, never an absent item: callers
 * decide from absence (a batch not applied, a reservation gone), so a silent gap would
 * count something twice. `exact` reads numbers as exact decimals (NumberValue), as money needs.
 */
export async function batchGetAll(
  db: Db,
  keys: { pk: string; sk: string }[],
  options: { exact?: boolean } = {},
): Promise<Record<string, unknown>[]> {
  const client = options.exact ? db.exactClient : db.client;
  const items: Record<string, unknown>[] = [];
  for (let start = 0; start < keys.length; start += 100) {
    // Only the table's key: callers may hand in richer keys (the ingestion stream's).
    let pending: Record<string, unknown>[] = keys.slice(start, start + 100).map(({ pk, sk }) => ({ pk, sk }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
      if (attempt > 10) throw new Error('the store kept leaving reads unprocessed');
      const result = await client.send(
        new BatchGetCommand({ RequestItems: { [db.tableName]: { Keys: pending, ConsistentRead: true } } }),
      );
      items.push(...(result.Responses?.[db.tableName] ?? []));
      pending = result.UnprocessedKeys?.[db.tableName]?.Keys ?? [];
    }
  }
  return items;
}
