import { PutCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from '../db/batch-write.js';
import type { Db } from '../db/client.js';
import { keys, tenantPartition } from '../db/keys.js';
import type { PriceOverride } from './override.js';
import { canonicalInstant, hasCanonicalInstant, type ModelPrice } from './types.js';

/** A tenant's stored override: the terms plus the model they apply to. */
export interface StoredPriceOverride extends PriceOverride {
  provider: string;
  model: string;
  created_at: string;
}

async function queryAll(
  db: Db,
  partition: string,
  sortKeyPrefix?: string,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const page of paginateQuery(
    { client: db.client },
    {
      TableName: db.tableName,
      KeyConditionExpression: sortKeyPrefix ? 'pk = :p AND begins_with(sk, :s)' : 'pk = :p',
      ExpressionAttributeValues: sortKeyPrefix
        ? { ':p': partition, ':s': sortKeyPrefix }
        : { ':p': partition },
      ConsistentRead: true,
    },
  )) {
    items.push(...(page.Items ?? []));
  }
  return items;
}

/** Writes or replaces the override in force from its `effective_from` (history at other dates is kept). */
export async function putPriceOverride(
  db: Db,
  tenantId: string,
  override: StoredPriceOverride,
): Promise<void> {
  await db.client.send(
    new PutCommand({
      TableName: db.tableName,
      Item: {
        ...keys.priceOverride(tenantId, override.provider, override.model, override.effective_from),
        entity: 'price_override',
        tenant_id: tenantId,
        override,
      },
    }),
  );
}

/** Removes stored overrides, each by the provider, model and `effective_from` it was written with. */
export async function deletePriceOverrides(
  db: Db,
  tenantId: string,
  overrides: Pick<StoredPriceOverride, 'provider' | 'model' | 'effective_from'>[],
): Promise<void> {
  await batchWriteAll(
    db,
    overrides.map((override) => ({
      DeleteRequest: {
        Key: keys.priceOverride(tenantId, override.provider, override.model, override.effective_from),
      },
    })),
  );
}

export async function listPriceOverrides(db: Db, tenantId: string): Promise<StoredPriceOverride[]> {
  const items = await queryAll(db, tenantPartition(tenantId), keys.priceOverridePrefix());
  return items.map((item) => item.override as StoredPriceOverride);
}

/** Per table, how many price files this process has stored (see `operatorPricesGeneration`). */
const operatorPriceWrites = new WeakMap<Db, number>();

/**
 * Changes each time this process stores a price file into `db`: a copy of the loaded prices read
 * under another generation predates the file (take it before reading, so a read that overlaps
 * the write counts as before it). Other processes learn of the file when their copy expires.
 */
export function operatorPricesGeneration(db: Db): number {
  return operatorPriceWrites.get(db) ?? 0;
}

/** Stores one loaded price file's prices (a batch write: 25 per call, unprocessed ones retried). */
export async function putOperatorPrices(db: Db, loadId: string, prices: ModelPrice[]): Promise<void> {
  try {
    await batchWriteAll(
      db,
      prices.map((price) => ({
        PutRequest: {
          Item: {
            ...keys.operatorPrice(loadId, price.provider, price.model),
            entity: 'operator_price',
            price,
          },
        },
      })),
    );
  } finally {
    // Part of a failed write may be stored: the copies are stale either way.
    operatorPriceWrites.set(db, operatorPricesGeneration(db) + 1);
  }
}

/**
 * Every loaded price, in load order (load ids sort by time), so later loads win ties.
 * `effective_from` is answered in UTC: prices stored before it was kept so answer in it too
 * (their key holds the load id, provider and model, not the date, so nothing else changes).
 */
export async function listOperatorPrices(db: Db): Promise<ModelPrice[]> {
  const items = await queryAll(db, keys.operatorPricesPartition());
  return items.map((item) => {
    const price = item.price as ModelPrice;
    if (!hasCanonicalInstant(price.effective_from)) return price;
    return { ...price, effective_from: canonicalInstant(price.effective_from) };
  });
}
