import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../db/client.js';
import { deleted, storedItemIs, succeededOrOwn } from '../db/conditional.js';
import { keys, tenantPartition } from '../db/keys.js';
import { type Page, type PageRequest, queryPage } from '../db/pagination.js';
import { ConflictError } from '../errors/errors.js';
import type { ApiKey, Restrict, Scope } from './schema.js';

/** What is stored: the public fields plus the key's SHA-256, never the key. */
export interface StoredApiKey extends ApiKey {
  tenant_id: string;
  key_hash: string;
}

function toStoredApiKey(item: Record<string, unknown>): StoredApiKey {
  return {
    id: item.key_id as string,
    tenant_id: item.tenant_id as string,
    name: item.name as string,
    scopes: item.scopes as Scope[],
    restrict: (item.restrict as Restrict | undefined) ?? null,
    hint: item.hint as string,
    created_at: item.created_at as string,
    key_hash: item.key_hash as string,
  };
}

export async function putApiKey(db: Db, tenantId: string, apiKey: StoredApiKey): Promise<void> {
  const stored = await succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...keys.apiKey(tenantId, apiKey.id),
          entity: 'api_key',
          tenant_id: tenantId,
          key_id: apiKey.id,
          name: apiKey.name,
          scopes: apiKey.scopes,
          restrict: apiKey.restrict ?? undefined,
          hint: apiKey.hint,
          created_at: apiKey.created_at,
          key_hash: apiKey.key_hash,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
    // This key as written (its hash is unique): the SDK retried the write after its answer was lost.
    storedItemIs(db, keys.apiKey(tenantId, apiKey.id), (item) => item.key_hash === apiKey.key_hash),
  );
  if (!stored) throw new ConflictError(`API key ${apiKey.id} exists.`);
}

/** A strongly consistent read: a revoked key must stop working at once. */
export async function getApiKey(db: Db, tenantId: string, keyId: string): Promise<StoredApiKey | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({ TableName: db.tableName, Key: keys.apiKey(tenantId, keyId), ConsistentRead: true }),
  );
  return Item ? toStoredApiKey(Item) : undefined;
}

export function listApiKeys(db: Db, tenantId: string, page: PageRequest): Promise<Page<StoredApiKey>> {
  return queryPage(
    db,
    { partition: tenantPartition(tenantId), sortKeyPrefix: keys.apiKeyPrefix() },
    page,
    toStoredApiKey,
  );
}

/** Deletes the key; answers whether there was one to delete. */
export async function deleteApiKey(db: Db, tenantId: string, keyId: string): Promise<boolean> {
  return deleted(
    db.client.send(
      new DeleteCommand({
        TableName: db.tableName,
        Key: keys.apiKey(tenantId, keyId),
        ConditionExpression: 'attribute_exists(pk)',
      }),
    ),
  );
}
