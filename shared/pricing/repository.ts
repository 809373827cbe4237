import { GetCommand, PutCommand, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
 * the write counts as before it). Other processes learn of the file from the stored revision
 * (`readOperatorPricesRevision`).
 */
export function operatorPricesGeneration(db: Db): number {
  return operatorPriceWrites.get(db) ?? 0;
}

/**
 * Raised after the prices are written, never before: whoever reads the raised revision then
 * reads the file's prices. An `ADD` is safe to repeat (a retried write whose answer was lost
 * raises it twice, which only costs every process one more read of the files).
 */
async function raiseOperatorPricesRevision(db: Db): Promise<void> {
  await db.client.send(
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.operatorPricesRevision(),
      UpdateExpression: 'SET entity = :entity ADD rev :one',
      ExpressionAttributeValues: { ':entity': 'operator_prices_revision', ':one': 1 },
    }),
  );
}

/**
 * The stored revision of the operator's loaded prices (0 before any file was loaded): a copy
 * read under the same revision still holds every loaded price. Consistent, as the prices are
 * read: an eventually consistent read could answer the revision from before a load.
 */
export async function readOperatorPricesRevision(db: Db): Promise<number> {
  const { Item } = await db.client.send(
    new GetCommand({
      TableName: db.tableName,
      Key: keys.operatorPricesRevision(),
      ProjectionExpression: 'rev',
      ConsistentRead: true,
    }),
  );
  return Item?.rev === undefined ? 0 : Number(String(Item.rev));
}

/**
 * Stores one loaded price file's prices (a batch write: 25 per call, unprocessed ones retried),
 * then raises the stored revision. Should raising it fail, the load answers an error and is to
 * be loaded again: until then other processes keep their copies without the file.
 */
export async function putOperatorPrices(db: Db, loadId: string, prices: ModelPrice[]): Promise<void> {
  let writeFailed = false;
  let writeError: unknown;
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
  } catch (error) {
    writeFailed = true;
    writeError = error;
  }
  // Part of a failed write may be stored: the copies are stale either way, here and elsewhere.
  operatorPriceWrites.set(db, operatorPricesGeneration(db) + 1);
  try {
    await raiseOperatorPricesRevision(db);
  } catch (error) {
    // The write's own failure says more about what went wrong.
    if (!writeFailed) throw error;
  }
  if (writeFailed) throw writeError;
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
