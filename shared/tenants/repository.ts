import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../db/client.js';
import { storedItemIs, succeededOrOwn } from '../db/conditional.js';
import { keys } from '../db/keys.js';
import { type Page, type PageRequest, queryPage } from '../db/pagination.js';
import { ConflictError } from '../errors/errors.js';
import type { Tenant } from './schema.js';

function toTenant(item: Record<string, unknown>): Tenant {
  return { id: item.tenant_id as string, name: item.name as string, created_at: item.created_at as string };
}

export async function putTenant(db: Db, tenant: Tenant): Promise<void> {
  const stored = await succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...keys.tenant(tenant.id),
          ...keys.tenantListing(tenant.id),
          entity: 'tenant',
          tenant_id: tenant.id,
          name: tenant.name,
          created_at: tenant.created_at,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
    // This tenant as written: the SDK retried the write after its answer was lost.
    storedItemIs(
      db,
      keys.tenant(tenant.id),
      (item) => item.name === tenant.name && item.created_at === tenant.created_at,
    ),
  );
  if (!stored) throw new ConflictError(`Tenant ${tenant.id} exists.`);
}

export async function getTenant(db: Db, tenantId: string): Promise<Tenant | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({ TableName: db.tableName, Key: keys.tenant(tenantId), ConsistentRead: true }),
  );
  return Item ? toTenant(Item) : undefined;
}

/** Only to undo a half-made tenant; tenants are not deleted through the API. */
export async function deleteTenant(db: Db, tenantId: string): Promise<void> {
  await db.client.send(new DeleteCommand({ TableName: db.tableName, Key: keys.tenant(tenantId) }));
}

/** The operator's list, oldest first (ids are time-sortable). */
export function listTenants(db: Db, page: PageRequest): Promise<Page<Tenant>> {
  return queryPage(db, { partition: keys.tenantListingPartition(), onGsi1: true }, page, toTenant);
}
