import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The one table's shape. The CDK stack, the local runner and the tests all build the table from
 * this definition, so code and infrastructure cannot drift.
 *
 * Single-table discipline: generic key attributes, every partition key starts with the tenant
 * (or, for the operator's own lists, a fixed operator segment); nothing mutable is part of a key.
 */
export const TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
} as const;

export interface IndexDefinition {
  indexName: string;
  partitionKey: string;
  sortKey: string;
  /** ALL copies the item; KEYS_ONLY keeps the index entry small (and its write cost at 1 WRU). */
  projection: 'ALL' | 'KEYS_ONLY';
}

/** gsi1: secondary access patterns (the operator's tenant list). */
export const GSI1: IndexDefinition = {
  indexName: 'gsi1',
  partitionKey: 'gsi1pk',
  sortKey: 'gsi1sk',
  projection: 'ALL',
};

/**
 * gsi2: raw events in the order they were ingested, per tenant and shard. Keys only: readers
 * (the rollup, re-pricing) fetch the events themselves, so each event costs one small index write.
 */
export const GSI2: IndexDefinition = {
  indexName: 'gsi2',
  partitionKey: 'gsi2pk',
  sortKey: 'gsi2sk',
  projection: 'KEYS_ONLY',
};

export const GLOBAL_SECONDARY_INDEXES: readonly IndexDefinition[] = [GSI1, GSI2];

/**
 * Epoch seconds after which an item may be deleted by DynamoDB's TTL. TTL deletes lazily, so
 * readers still check expiry themselves; TTL only cleans up.
 */
export const TTL_ATTRIBUTE = 'expires_at_epoch';

/** The CreateTable request for a table of this shape (on-demand capacity). */
export function createTableInput(tableName: string): CreateTableCommandInput {
  const keyAttributes = new Set<string>([TABLE_KEYS.partitionKey, TABLE_KEYS.sortKey]);
  for (const index of GLOBAL_SECONDARY_INDEXES) {
    keyAttributes.add(index.partitionKey);
    keyAttributes.add(index.sortKey);
  }
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...keyAttributes].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: TABLE_KEYS.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE_KEYS.sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: GLOBAL_SECONDARY_INDEXES.map((index) => ({
      IndexName: index.indexName,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: index.projection },
    })),
  };
}
