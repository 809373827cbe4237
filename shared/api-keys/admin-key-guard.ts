import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { decodeTime } from 'ulid';
import type { Db } from '../db/client.js';
import { succeeded } from '../db/conditional.js';
import { keys } from '../db/keys.js';
import { MAX_PAGE_SIZE } from '../db/pagination.js';
import { isId } from '../ids.js';
import { listApiKeys } from './repository.js';

/**
 * The guard that keeps a tenant from revoking its last key with the `admin` scope (without one it
 * can no longer manage its keys): one item per tenant listing the ids of its admin keys.
 *
 * Revoking an admin key takes its id out of the list on the condition that another id stays: one
 * conditional update of one item, so of two revocations racing for the last two admin keys one
 * is refused (no transactions: dynalite has none). That holds because every id listed is a live
 * admin key: a key is listed only after it is written, and taken out before it is deleted. A key
 * can be live and not listed (its creation is under way, or stopped between writing and listing
 * it; its revocation stopped between unlisting and deleting it): revoking one needs only that the
 * list is not empty, since every id on it is another live admin key, and the list never empties
 * once it holds one.
 *
 * Every revoked admin key's id is remembered for a while (`revoked_admin_key_ids`): a creation
 * whose listing comes after its key was revoked (the id was read from the key list in between)
 * must not list a deleted key.
 */
const guardKey = keys.apiKeyAdmins;

/**
 * How long a revoked admin key's id is remembered: far longer than the request that creates a key
 * (and lists it) can run. Key ids are ULIDs, so an id tells when its key was created.
 */
const REVOKED_ID_RETENTION_MS = 86_400_000;

/** Rounds before giving up: each one that does not decide saw the guard change under it. */
const MAX_ROUNDS = 5;

interface AdminKeyGuard {
  adminKeyIds: Set<string>;
  revokedAdminKeyIds: Set<string>;
}

async function readGuard(db: Db, tenantId: string): Promise<AdminKeyGuard | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({ TableName: db.tableName, Key: guardKey(tenantId), ConsistentRead: true }),
  );
  if (!Item) return undefined;
  return {
    adminKeyIds: (Item.admin_key_ids as Set<string> | undefined) ?? new Set(),
    revokedAdminKeyIds: (Item.revoked_admin_key_ids as Set<string> | undefined) ?? new Set(),
  };
}

/**
 * Writes the guard of a tenant that has none (a new tenant, or one whose keys predate the guard)
 * from its admin keys, read consistently. Of two racing writes the first stands. No admin key is
 * deleted while the guard is missing (revoking one needs the guard), so what was read still holds.
 */
async function createGuard(db: Db, tenantId: string): Promise<void> {
  const adminKeyIds: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await listApiKeys(db, tenantId, { limit: MAX_PAGE_SIZE, cursor });
    for (const apiKey of page.data) if (apiKey.scopes.includes('admin')) adminKeyIds.push(apiKey.id);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  await succeeded(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...guardKey(tenantId),
          entity: 'api_key_admin_guard',
          tenant_id: tenantId,
          // A string set cannot be empty: a tenant without admin keys has no attribute.
          admin_key_ids: adminKeyIds.length > 0 ? new Set(adminKeyIds) : undefined,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
  );
}

/**
 * Lists a newly written admin key. Answers false when the key was revoked before it could be
 * listed (it stays unlisted: it is deleted). Adding to a set twice changes nothing, so the SDK's
 * retry of an update whose answer was lost is harmless.
 */
export async function listAdminKey(db: Db, tenantId: string, keyId: string): Promise<boolean> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const listed = await succeeded(
      db.client.send(
        new UpdateCommand({
          TableName: db.tableName,
          Key: guardKey(tenantId),
          UpdateExpression: 'ADD admin_key_ids :ids',
          ConditionExpression: 'attribute_exists(pk) AND NOT contains(revoked_admin_key_ids, :id)',
          ExpressionAttributeValues: { ':ids': new Set([keyId]), ':id': keyId },
        }),
      ),
    );
    if (listed) return true;
    const guard = await readGuard(db, tenantId);
    if (!guard) await createGuard(db, tenantId);
    else if (guard.revokedAdminKeyIds.has(keyId)) return false;
  }
  throw new Error(`the admin-key guard of tenant ${tenantId} kept changing while listing key ${keyId}`);
}

/**
 * Takes an admin key out of the guard before it is deleted. Answers 'last' when it is the
 * tenant's last live admin key (nothing is changed), 'unlisted' when the caller may delete it.
 */
export async function unlistAdminKey(
  db: Db,
  tenantId: string,
  keyId: string,
  nowMs: number,
): Promise<'unlisted' | 'last'> {
  const values = { ':ids': new Set([keyId]), ':id': keyId };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const unlisted = await updateIf(db, {
      TableName: db.tableName,
      Key: guardKey(tenantId),
      UpdateExpression: 'ADD revoked_admin_key_ids :ids DELETE admin_key_ids :ids',
      ConditionExpression: 'contains(admin_key_ids, :id) AND size(admin_key_ids) > :one',
      ExpressionAttributeValues: { ...values, ':one': 1 },
    });
    if (unlisted) return forgetOldRevokedIds(db, tenantId, unlisted, nowMs);
    const guard = await readGuard(db, tenantId);
    if (!guard) {
      await createGuard(db, tenantId);
      continue;
    }
    if (guard.adminKeyIds.has(keyId)) {
      if (guard.adminKeyIds.size <= 1) return 'last';
      continue; // another admin key was listed since
    }
    // Not listed (see above; or this is the SDK's retry of the update above, whose answer was
    // lost): it may go while another admin key is listed. Remembering its id keeps a creation
    // still under way from listing it.
    if (guard.adminKeyIds.size === 0) return 'last';
    const revokedUnlisted = await updateIf(db, {
      TableName: db.tableName,
      Key: guardKey(tenantId),
      UpdateExpression: 'ADD revoked_admin_key_ids :ids',
      ConditionExpression: 'attribute_exists(admin_key_ids) AND NOT contains(admin_key_ids, :id)',
      ExpressionAttributeValues: values,
    });
    if (revokedUnlisted) return forgetOldRevokedIds(db, tenantId, revokedUnlisted, nowMs);
  }
  throw new Error(`the admin-key guard of tenant ${tenantId} kept changing while revoking key ${keyId}`);
}

/** The guard as a conditional update left it, or undefined when the update's condition did not hold. */
async function updateIf(db: Db, input: UpdateCommandInput): Promise<Record<string, unknown> | undefined> {
  try {
    const { Attributes } = await db.client.send(new UpdateCommand({ ...input, ReturnValues: 'ALL_NEW' }));
    return Attributes ?? {};
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}

/**
 * Drops the ids of admin keys created longer ago than REVOKED_ID_RETENTION_MS from the revoked
 * list, so the guard item stays small however many keys a tenant rotates.
 */
async function forgetOldRevokedIds(
  db: Db,
  tenantId: string,
  guard: Record<string, unknown>,
  nowMs: number,
): Promise<'unlisted'> {
  const revoked = (guard.revoked_admin_key_ids as Set<string> | undefined) ?? new Set<string>();
  const old = [...revoked].filter(
    (id) => isId('key', id) && nowMs - decodeTime(id.slice('key_'.length)) > REVOKED_ID_RETENTION_MS,
  );
  if (old.length > 0) {
    await db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: guardKey(tenantId),
        UpdateExpression: 'DELETE revoked_admin_key_ids :old',
        ExpressionAttributeValues: { ':old': new Set(old) },
      }),
    );
  }
  return 'unlisted';
}
