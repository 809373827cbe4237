import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { DeleteCommand, GetCommand, PutCommand, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll, type WriteRequest } from '../db/batch-write.js';
import type { Db } from '../db/client.js';
import { deleted, storedItemIs, succeeded, succeededOrOwn } from '../db/conditional.js';
import { billedLinesPartition, keys, tenantPartition } from '../db/keys.js';
import { type Page, type PageRequest, queryPage } from '../db/pagination.js';
import { ConflictError } from '../errors/errors.js';
import { type Decimal, parseDecimal, toDecimalString } from '../money/money.js';
import type { CredentialEnvelope } from './credentials.js';
import {
  type BilledLine,
  type BillingProvider,
  type DayLines,
  identityHash,
  type LineSource,
  type TokenType,
} from './lines.js';
import {
  type BillingSettings,
  DEFAULT_DRIFT_THRESHOLD_PCT,
  type ProviderConnection,
  type SyncSummary,
} from './schema.js';

/** A connection as stored: the public fields, the sealed credential and the sync lease. */
export interface StoredConnection extends ProviderConnection {
  tenant_id: string;
  credential: CredentialEnvelope;
  lease_until: string | null;
  /** The key's fingerprint, which names its claim (null for connections made before claims). */
  key_fingerprint: string | null;
}

function toConnection(item: Record<string, unknown>): StoredConnection {
  return {
    id: item.connection_id as string,
    tenant_id: item.tenant_id as string,
    provider: item.provider as BillingProvider,
    name: (item.name as string | undefined) ?? null,
    key_hint: item.key_hint as string,
    key_fingerprint: (item.key_fingerprint as string | undefined) ?? null,
    created_at: item.created_at as string,
    status: (item.status as ProviderConnection['status'] | undefined) ?? 'pending',
    synced_through: (item.synced_through as string | undefined) ?? null,
    last_success_at: (item.last_success_at as string | undefined) ?? null,
    last_error: (item.last_error as ProviderConnection['last_error'] | undefined) ?? null,
    last_sync: (item.last_sync as SyncSummary | undefined) ?? null,
    credential: item.credential as CredentialEnvelope,
    lease_until: (item.lease_until as string | undefined) ?? null,
  };
}

/** The public view: never the credential. */
export function publicConnection(stored: StoredConnection): ProviderConnection {
  const {
    credential: _credential,
    tenant_id: _tenant,
    lease_until: _lease,
    key_fingerprint: _fingerprint,
    ...visible
  } = stored;
  return visible;
}

export async function putConnection(db: Db, tenantId: string, connection: StoredConnection): Promise<void> {
  const stored = await succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...keys.providerConnection(tenantId, connection.id),
          entity: 'provider_connection',
          tenant_id: tenantId,
          connection_id: connection.id,
          provider: connection.provider,
          name: connection.name ?? undefined,
          key_hint: connection.key_hint,
          key_fingerprint: connection.key_fingerprint ?? undefined,
          created_at: connection.created_at,
          status: connection.status,
          credential: connection.credential,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
    // This connection as written (its sealed credential is unique): the SDK retried the write.
    storedItemIs(
      db,
      keys.providerConnection(tenantId, connection.id),
      (item) =>
        (item.credential as CredentialEnvelope | undefined)?.ciphertext === connection.credential.ciphertext,
    ),
  );
  if (!stored) throw new ConflictError(`Provider connection ${connection.id} exists.`);
}

export async function getConnection(
  db: Db,
  tenantId: string,
  connectionId: string,
): Promise<StoredConnection | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({
      TableName: db.tableName,
      Key: keys.providerConnection(tenantId, connectionId),
      ConsistentRead: true,
    }),
  );
  return Item ? toConnection(Item) : undefined;
}

export function listConnections(
  db: Db,
  tenantId: string,
  page: PageRequest,
): Promise<Page<StoredConnection>> {
  return queryPage(
    db,
    { partition: tenantPartition(tenantId), sortKeyPrefix: keys.providerConnectionPrefix() },
    page,
    toConnection,
  );
}

/** Every connection of the tenant, following the pages to the end (jobs, reconciliation). */
export async function allConnections(db: Db, tenantId: string): Promise<StoredConnection[]> {
  const all: StoredConnection[] = [];
  let cursor: string | undefined;
  do {
    const page = await listConnections(db, tenantId, { limit: 500, cursor });
    all.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return all;
}

/**
 * Claims a provider key for a connection: the key's fingerprint names one item per tenant and
 * provider, written only where none is, or where it names this connection (a retry). Answers the
 * connection that holds the key instead, when another does.
 */
export async function claimProviderKey(
  db: Db,
  tenantId: string,
  claim: { provider: string; fingerprint: string; connectionId: string; claimedAt: string },
  ifHeldBy?: string,
): Promise<{ heldBy: string; claimedAt: string } | undefined> {
  const key = keys.providerKeyClaim(tenantId, claim.provider, claim.fingerprint);
  const written = await succeeded(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...key,
          entity: 'provider_key_claim',
          connection_id: claim.connectionId,
          claimed_at: claim.claimedAt,
        },
        ConditionExpression: ifHeldBy
          ? 'connection_id = :held'
          : 'attribute_not_exists(pk) OR connection_id = :id',
        ExpressionAttributeValues: ifHeldBy ? { ':held': ifHeldBy } : { ':id': claim.connectionId },
      }),
    ),
  );
  if (written) return undefined;
  const { Item } = await db.client.send(
    new GetCommand({ TableName: db.tableName, Key: key, ConsistentRead: true }),
  );
  // Gone meanwhile (its connection was deleted): held by no one, the caller tries again.
  return {
    heldBy: (Item?.connection_id as string | undefined) ?? '',
    claimedAt: (Item?.claimed_at as string | undefined) ?? '',
  };
}

/** Gives a provider key's claim up, if this connection still holds it. */
export async function releaseProviderKey(
  db: Db,
  tenantId: string,
  claim: { provider: string; fingerprint: string; connectionId: string },
): Promise<void> {
  await succeeded(
    db.client.send(
      new DeleteCommand({
        TableName: db.tableName,
        Key: keys.providerKeyClaim(tenantId, claim.provider, claim.fingerprint),
        ConditionExpression: 'connection_id = :id',
        ExpressionAttributeValues: { ':id': claim.connectionId },
      }),
    ),
  );
}

export async function deleteConnection(db: Db, tenantId: string, connectionId: string): Promise<boolean> {
  return deleted(
    db.client.send(
      new DeleteCommand({
        TableName: db.tableName,
        Key: keys.providerConnection(tenantId, connectionId),
        ConditionExpression: 'attribute_exists(pk)',
      }),
    ),
  );
}

/**
 * Takes the connection's sync lease until `until`, unless another sync holds an unexpired one.
 * The lease's expiry is compared on every take, so a crashed sync blocks nobody past it. Answers
 * the lease's token (the sync gives it to `recordSyncOutcome`), undefined when refused.
 */
export async function acquireSyncLease(
  db: Db,
  tenantId: string,
  connectionId: string,
  now: Date,
  until: Date,
): Promise<string | undefined> {
  // Unique to this take: a refusal that finds it stored is this take, retried by the SDK after its
  // answer was lost; the lease is ours, not another sync's.
  const leaseToken = randomUUID();
  const key = keys.providerConnection(tenantId, connectionId);
  const taken = await succeededOrOwn(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        UpdateExpression: 'SET lease_until = :until, lease_token = :token',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until <= :now)',
        ExpressionAttributeValues: {
          ':until': until.toISOString(),
          ':token': leaseToken,
          ':now': now.toISOString(),
        },
      }),
    ),
    storedItemIs(db, key, (item) => item.lease_token === leaseToken),
  );
  return taken ? leaseToken : undefined;
}

/**
 * Records a sync's outcome and releases its lease, only while the sync still holds it: a sync
 * that outlived its lease (another took over once it expired) leaves the connection to the newer
 * sync, whose outcome is the one to show. A deleted connection stays deleted. False when not
 * recorded (the lease was taken over, or the connection deleted).
 */
export async function recordSyncOutcome(
  db: Db,
  tenantId: string,
  connectionId: string,
  leaseToken: string,
  summary: SyncSummary,
  syncedThrough: string | undefined,
): Promise<boolean> {
  const ok = summary.outcome === 'ok';
  const values: Record<string, unknown> = {
    ':summary': summary,
    ':status': summary.outcome,
    ':token': leaseToken,
  };
  let update = 'SET last_sync = :summary, #status = :status';
  if (ok) {
    update += ', last_success_at = :finished, last_error = :none';
    values[':finished'] = summary.finished_at;
    values[':none'] = null;
    if (syncedThrough) {
      update += ', synced_through = :through';
      values[':through'] = syncedThrough;
    }
  } else {
    update += ', last_error = :error';
    values[':error'] = { at: summary.finished_at, message: summary.error ?? 'sync failed' };
  }
  const key = keys.providerConnection(tenantId, connectionId);
  return succeededOrOwn(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        UpdateExpression: `${update} REMOVE lease_until, lease_token`,
        ConditionExpression: 'lease_token = :token',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: values,
      }),
    ),
    // A retry after a lost answer finds the lease gone and this outcome stored.
    storedItemIs(db, key, (item) => isDeepStrictEqual(item.last_sync, summary)),
  );
}

// Billed lines ------------------------------------------------------------------------------

/** A billed line as read back. */
export interface StoredBilledLine {
  connection_id: string;
  provider: BillingProvider;
  source: LineSource;
  day: string;
  kind: 'cost' | 'usage';
  model: string | null;
  token_type: TokenType | null;
  line_item: string | null;
  project: string | null;
  amount: Decimal | null;
  currency: string | null;
  tokens: Record<TokenType, number> | null;
  requests: number | null;
}

/** What a line stores besides its keys; its JSON is the fingerprint a re-pull compares. */
function lineAttributes(line: BilledLine) {
  return line.kind === 'cost'
    ? {
        kind: line.kind,
        identity: line.identity,
        model: line.model,
        token_type: line.token_type,
        line_item: line.line_item,
        project: line.project,
        amount: toDecimalString(line.amount),
        currency: line.currency,
        quantity: line.quantity,
        quantity_unit: line.quantity_unit,
      }
    : {
        kind: line.kind,
        identity: line.identity,
        model: line.model,
        project: line.project,
        tokens: line.tokens,
        requests: line.requests,
      };
}

function toBilledLine(item: Record<string, unknown>): StoredBilledLine {
  const kind = item.kind as 'cost' | 'usage';
  return {
    connection_id: item.connection_id as string,
    provider: item.provider as BillingProvider,
    source: item.source as LineSource,
    day: item.day as string,
    kind,
    model: (item.model as string | null | undefined) ?? null,
    token_type: (item.token_type as TokenType | null | undefined) ?? null,
    line_item: (item.line_item as string | null | undefined) ?? null,
    project: (item.project as string | null | undefined) ?? null,
    amount: kind === 'cost' ? parseDecimal(item.amount as string) : null,
    currency: (item.currency as string | undefined) ?? null,
    tokens: (item.tokens as Record<TokenType, number> | undefined) ?? null,
    requests: (item.requests as number | undefined) ?? null,
  };
}

export interface ReplaceCounts {
  lines: number;
  added: number;
  updated: number;
  removed: number;
}

/**
 * Replaces what is stored for one connection, source and day with what the provider now reports.
 * Each line lives under its identity, so a re-pull overwrites rather than adds: a line whose
 * figures changed is rewritten, an unchanged one is left alone, and one the provider dropped is
 * deleted (after the writes, so an interrupted replace never loses a line the provider still has;
 * the next pull finishes it).
 */
export async function replaceDayLines(
  db: Db,
  tenantId: string,
  connection: { id: string; provider: BillingProvider },
  day: DayLines,
  pulledAt: string,
): Promise<ReplaceCounts> {
  const prefix = keys.billedDaySourcePrefix(day.day, connection.id, day.source);
  const existing = new Map<string, string>();
  for await (const page of paginateQuery(
    { client: db.client },
    {
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': billedLinesPartition(tenantId), ':prefix': prefix },
      ProjectionExpression: 'sk, fingerprint',
      ConsistentRead: true,
    },
  )) {
    for (const item of page.Items ?? []) existing.set(item.sk as string, item.fingerprint as string);
  }

  const counts: ReplaceCounts = { lines: day.lines.length, added: 0, updated: 0, removed: 0 };
  const puts: WriteRequest[] = [];
  const kept = new Set<string>();
  for (const line of day.lines) {
    const key = keys.billedLine(tenantId, day.day, connection.id, day.source, identityHash(line.identity));
    const attributes = lineAttributes(line);
    const fingerprint = JSON.stringify(attributes);
    kept.add(key.sk);
    const before = existing.get(key.sk);
    if (before === fingerprint) continue;
    if (before === undefined) counts.added++;
    else counts.updated++;
    puts.push({
      PutRequest: {
        Item: {
          ...key,
          entity: 'billed_line',
          connection_id: connection.id,
          provider: connection.provider,
          source: day.source,
          day: day.day,
          ...attributes,
          fingerprint,
          pulled_at: pulledAt,
        },
      },
    });
  }
  await batchWriteAll(db, puts);
  const deletes = [...existing.keys()]
    .filter((sk) => !kept.has(sk))
    .map((sk) => ({ DeleteRequest: { Key: { pk: billedLinesPartition(tenantId), sk } } }));
  counts.removed = deletes.length;
  await batchWriteAll(db, deletes);
  return counts;
}

/** The billed lines of days in [fromDay, toDay), every connection. */
export async function queryBilledLines(
  db: Db,
  tenantId: string,
  fromDay: string,
  toDay: string,
): Promise<StoredBilledLine[]> {
  const lines: StoredBilledLine[] = [];
  for await (const page of paginateQuery(
    { client: db.client },
    {
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': billedLinesPartition(tenantId),
        ':from': keys.billedDayBound(fromDay),
        ':to': keys.billedDayBound(toDay),
      },
    },
  )) {
    for (const item of page.Items ?? []) lines.push(toBilledLine(item));
  }
  return lines;
}

/** Removes a deleted connection's lines (a Query of the tenant's billed partition, filtered). */
export async function purgeConnectionLines(db: Db, tenantId: string, connectionId: string): Promise<number> {
  let removed = 0;
  for await (const page of paginateQuery(
    { client: db.client },
    {
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk',
      FilterExpression: 'connection_id = :connection',
      ExpressionAttributeValues: { ':pk': billedLinesPartition(tenantId), ':connection': connectionId },
      ProjectionExpression: 'pk, sk',
    },
  )) {
    const deletes = (page.Items ?? []).map((item) => ({
      DeleteRequest: { Key: { pk: item.pk, sk: item.sk } },
    }));
    await batchWriteAll(db, deletes);
    removed += deletes.length;
  }
  return removed;
}

// Settings ----------------------------------------------------------------------------------

export async function getBillingSettings(db: Db, tenantId: string): Promise<BillingSettings> {
  const { Item } = await db.client.send(
    new GetCommand({ TableName: db.tableName, Key: keys.billingSettings(tenantId), ConsistentRead: true }),
  );
  return {
    drift_threshold_pct: (Item?.drift_threshold_pct as string | undefined) ?? DEFAULT_DRIFT_THRESHOLD_PCT,
    updated_at: (Item?.updated_at as string | undefined) ?? null,
  };
}

export async function putBillingSettings(
  db: Db,
  tenantId: string,
  settings: { drift_threshold_pct: string },
  now: Date,
): Promise<BillingSettings> {
  const stored = { drift_threshold_pct: settings.drift_threshold_pct, updated_at: now.toISOString() };
  await db.client.send(
    new PutCommand({
      TableName: db.tableName,
      Item: { ...keys.billingSettings(tenantId), entity: 'billing_settings', ...stored },
    }),
  );
  return stored;
}
