import { randomBytes } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { batchGetAll } from '../db/batch-get.js';
import type { Db } from '../db/client.js';
import { storedItemIs, succeeded, succeededOrOwn } from '../db/conditional.js';
import {
  keys,
  RAW_EVENT_SHARDS,
  type RawEventKind,
  rawEventIngestedPartition,
  tenantPartition,
} from '../db/keys.js';
import { GSI2 } from '../db/table.js';

export type ClaimOutcome = 'accepted' | 'duplicate';

/**
 * Stores a raw event if, and only if, no event with its dedupe key exists for the tenant: one
 * conditional PutItem claims the id and keeps the event, so a retry, a concurrent copy or a copy
 * days later is refused by the store itself and the first version wins.
 */
export async function claimRawEvent(
  db: Db,
  tenantId: string,
  kind: RawEventKind,
  dedupeKey: string,
  ingestedAt: string,
  attributes: Record<string, unknown>,
): Promise<ClaimOutcome> {
  // Unique to this write: a refusal that finds it stored was this write retried by the SDK.
  const claim = randomBytes(9).toString('base64url');
  const stored = await succeededOrOwn(
    db.client
      .send(
        new PutCommand({
          TableName: db.tableName,
          Item: {
            ...attributes,
            ...keys.rawEvent(tenantId, kind, dedupeKey),
            ...keys.rawEventIngested(tenantId, kind, dedupeKey, ingestedAt),
            ing: ingestedAt,
            clm: claim,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
          ...(db.meter ? { ReturnConsumedCapacity: 'INDEXES' } : {}),
        }),
      )
      .then((result) => db.meter?.(result.ConsumedCapacity)),
    async () => (await getRawEvent(db, tenantId, kind, dedupeKey))?.clm === claim,
  );
  return stored ? 'accepted' : 'duplicate';
}

export async function getRawEvent(
  db: Db,
  tenantId: string,
  kind: RawEventKind,
  dedupeKey: string,
): Promise<Record<string, unknown> | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({
      TableName: db.tableName,
      Key: keys.rawEvent(tenantId, kind, dedupeKey),
      ConsistentRead: true,
    }),
  );
  return Item;
}

/** Where an event is stored, and when it was ingested (`<ingested_at>#<dedupe key>`). */
export interface IngestedKey {
  pk: string;
  sk: string;
  ingested: string;
}

/**
 * One shard's keys of events ingested in [fromIso, toIso), oldest first, a query page at a time:
 * the one reader of the ingestion index (the rollup, re-pricing and exports all page through it).
 */
export async function* ingestedKeyPages(
  db: Db,
  tenantId: string,
  kind: RawEventKind,
  shard: number,
  fromIso: string,
  toIso: string,
  pageSize?: number,
): AsyncGenerator<IngestedKey[]> {
  for await (const page of paginateQuery(
    { client: db.client },
    {
      TableName: db.tableName,
      IndexName: GSI2.indexName,
      KeyConditionExpression: '#p = :p AND #s BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#p': GSI2.partitionKey, '#s': GSI2.sortKey },
      ExpressionAttributeValues: {
        ':p': rawEventIngestedPartition(tenantId, kind, shard),
        ':from': fromIso,
        // '#' sorts before every character of an ISO timestamp's continuation: [from, to) exactly.
        ':to': `${toIso}#`,
      },
      ...(pageSize ? { Limit: pageSize } : {}),
    },
  )) {
    const keys: IngestedKey[] = [];
    for (const item of page.Items ?? []) {
      const ingested = item[GSI2.sortKey] as string;
      if (ingested < toIso) keys.push({ pk: item.pk as string, sk: item.sk as string, ingested });
    }
    yield keys;
  }
}

export interface IngestedKeyListing {
  keys: IngestedKey[];
  /**
   * With `maxPerShard`: the earliest ingestion instant (24-character ISO timestamp) from which
   * some shard was not read to the end. Every event ingested before it is in `keys`.
   */
  completeBefore?: string;
}

/**
 * The keys of events ingested in [fromIso, toIso), across all shards, oldest first per shard.
 * `maxPerShard` bounds the work when a backlog is larger than the caller will take at once.
 */
export async function listIngestedKeys(
  db: Db,
  tenantId: string,
  kind: RawEventKind,
  fromIso: string,
  toIso: string,
  options: { maxPerShard?: number } = {},
): Promise<IngestedKeyListing> {
  let completeBefore: string | undefined;
  const perShard = await Promise.all(
    Array.from({ length: RAW_EVENT_SHARDS }, async (_, shard) => {
      const found: IngestedKey[] = [];
      for await (const page of ingestedKeyPages(db, tenantId, kind, shard, fromIso, toIso)) {
        found.push(...page);
        if (options.maxPerShard !== undefined && found.length >= options.maxPerShard) {
          const last = (found[found.length - 1] as IngestedKey).ingested.slice(0, 24);
          if (completeBefore === undefined || last < completeBefore) completeBefore = last;
          break;
        }
      }
      return found;
    }),
  );
  const keys = perShard.flat();
  return completeBefore === undefined ? { keys } : { keys, completeBefore };
}

/** Reads events by key, 100 per BatchGetItem, retrying what the engine leaves unprocessed. */
export function getRawEvents(
  db: Db,
  eventKeys: { pk: string; sk: string }[],
): Promise<Record<string, unknown>[]> {
  return batchGetAll(db, eventKeys);
}

/**
 * A usage event's price as the rollup counts it: as it was ingested. A re-price rewrites the
 * event's `cost` and `sav` and writes a correction of the difference into the stream; the first
 * re-price keeps the ingested figures in `orig` (`ing` is the ingestion time), so whether the
 * rollup takes the event before or after a re-price, event + corrections count the current price
 * once.
 */
export interface IngestedPrice {
  /** Absent: the event was unpriced when ingested. */
  cost?: string;
  sav?: string;
}

/**
 * Re-prices one stored usage event, only if it still carries the price it was read with: a
 * concurrent re-price cannot be overwritten by a stale one.
 */
export async function updateUsagePrice(
  db: Db,
  key: { pk: string; sk: string },
  expectedPriceId: string | undefined,
  next: {
    cost: string | undefined;
    priceId: string | undefined;
    savings: string | undefined;
    breakdown: Record<string, string> | undefined;
    repricedAt: string;
  },
  /** The price the event carries now: kept as its ingested price by the first re-price (see `IngestedPrice`). */
  previous: IngestedPrice,
): Promise<boolean> {
  const sets = ['repriced_at = :at', 'orig = if_not_exists(orig, :orig)'];
  const removes: string[] = [];
  const values: Record<string, unknown> = { ':at': next.repricedAt, ':orig': previous };
  if (next.cost !== undefined && next.priceId !== undefined) {
    sets.push('cost = :cost', 'price = :price');
    values[':cost'] = next.cost;
    values[':price'] = next.priceId;
  } else {
    removes.push('cost', 'price');
  }
  if (next.savings !== undefined) {
    sets.push('sav = :sav');
    values[':sav'] = next.savings;
  } else {
    removes.push('sav');
  }
  if (next.breakdown !== undefined) {
    sets.push('cb = :cb');
    values[':cb'] = next.breakdown;
  } else {
    removes.push('cb');
  }
  const condition = expectedPriceId === undefined ? 'attribute_not_exists(price)' : 'price = :expected';
  if (expectedPriceId !== undefined) values[':expected'] = expectedPriceId;
  return succeeded(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: `attribute_exists(pk) AND ${condition}`,
        ExpressionAttributeValues: values,
      }),
    ),
  );
}

/**
 * A lock per tenant and purpose, held until `expiresAt` at the latest (a crashed holder frees it
 * by expiring; it is checked on read, TTL only cleans up).
 */
export async function acquireLock(
  db: Db,
  tenantId: string,
  purpose: string,
  holder: string,
  now: Date,
  ttlMs: number,
): Promise<boolean> {
  const key = { pk: tenantPartition(tenantId), sk: `v1#lock#${purpose}` };
  return succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...key,
          holder,
          expires_at: now.getTime() + ttlMs,
          expires_at_epoch: Math.ceil((now.getTime() + ttlMs) / 1000),
        },
        ConditionExpression: 'attribute_not_exists(pk) OR expires_at < :now',
        ExpressionAttributeValues: { ':now': now.getTime() },
      }),
    ),
    // The lock naming this holder (unique to it) is this write, retried by the SDK: it is held.
    storedItemIs(db, key, (item) => item.holder === holder),
  );
}

export async function releaseLock(db: Db, tenantId: string, purpose: string, holder: string): Promise<void> {
  try {
    await db.client.send(
      new DeleteCommand({
        TableName: db.tableName,
        Key: { pk: tenantPartition(tenantId), sk: `v1#lock#${purpose}` },
        ConditionExpression: 'holder = :holder',
        ExpressionAttributeValues: { ':holder': holder },
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
}
