import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CredentialEnvelope } from '../billing/credentials.js';
import {
  type CappedCount,
  COUNT_SETTLED_MS,
  markCountedSlotReleased,
  releaseCountedSlot,
  takeCountedSlot,
} from '../db/capped-count.js';
import type { Db } from '../db/client.js';
import { deleted, storedItemIs, succeededOrOwn } from '../db/conditional.js';
import { keys, tenantPartition, webhookDeliveryLogPartition } from '../db/keys.js';
import { type Page, type PageRequest, queryPage } from '../db/pagination.js';
import { ConflictError } from '../errors/errors.js';
import type { DeliveryAttempt, DeliveryState } from './schema.js';
import type { StoredSecret } from './secrets.js';

/** An endpoint as stored: the public fields plus its secrets. */
export interface StoredEndpoint {
  id: string;
  tenant_id: string;
  url: string;
  description: string | null;
  event_types: string[] | null;
  status: 'enabled' | 'disabled';
  disabled_reason: string | null;
  disabled_at: string | null;
  failing_since: string | null;
  /** Sealed (`secret_envelope`); plain (`secret`) only on an endpoint stored before secrets were sealed. */
  secret: StoredSecret;
  /**
   * The secrets replaced by rotations, latest expiry first; each signs beside the current one
   * until its own expiry (checked on use: the list is pruned on writes only).
   */
  previous_secrets: PreviousSecret[];
  /** Counts rotations (0 on an endpoint stored before versions): names the secrets in the cache. */
  secret_version: number;
  created_at: string;
  updated_at: string;
}

/** A secret a rotation replaced: it keeps signing for ROTATION_OVERLAP_MS after that rotation. */
export interface PreviousSecret {
  secret: StoredSecret;
  expires_at: string;
  /**
   * The secret version it is a previous secret of: the version its rotation wrote (for one read
   * from the older single-slot shape, the endpoint's version then, as that code named it). No two
   * previous secrets of an endpoint share one, so it names the secret in the cache of opened ones.
   */
  version: number;
}

/**
 * The older shape held one previous secret (`previous_secret_envelope`, or plain `previous_secret`
 * before sealing) beside `previous_secret_expires_at`: a second rotation within the overlap
 * overwrote it. Still read; a rotation moves it into `previous_secrets` and removes these.
 */
export const SINGLE_PREVIOUS_SECRET_ATTRIBUTES = [
  'previous_secret',
  'previous_secret_envelope',
  'previous_secret_expires_at',
] as const;

/** The previous secrets that still sign at `now`, latest expiry first. */
export const unexpiredPreviousSecrets = (endpoint: StoredEndpoint, now: Date): PreviousSecret[] =>
  endpoint.previous_secrets.filter((previous) => Date.parse(previous.expires_at) > now.getTime());

/** The `previous_secrets` attribute: sealed secrets only (a plain one is never stored again). */
export const previousSecretsAttribute = (previous: readonly PreviousSecret[]) =>
  previous.map(({ secret, expires_at, version }) => ({ envelope: sealedOnly(secret), expires_at, version }));

/** A delivery as stored: one event for one endpoint, the exact body, and every attempt. */
export interface StoredDelivery {
  id: string;
  tenant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  /** The body, fixed when the delivery is made: every attempt and signature covers these bytes. */
  payload: string;
  state: DeliveryState;
  attempts: number;
  attempt_log: DeliveryAttempt[];
  status_code: number | null;
  latency_ms: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  lease_until: string | null;
  lease_token: string | null;
  replay_of: string | null;
  created_at: string;
  updated_at: string;
  /** Epoch seconds: the delivery (with its attempt log) is gone after this; DynamoDB TTL cleans up. */
  expires_at_epoch: number;
}

const orNull = <T>(value: unknown): T | null => (value === undefined ? null : (value as T));

function storedSecret(envelope: unknown, plain: unknown): StoredSecret | null {
  if (envelope === undefined && plain === undefined) return null;
  return { envelope: orNull<CredentialEnvelope>(envelope), plain: orNull<string>(plain) };
}

function previousSecretsOf(item: Record<string, unknown>, secretVersion: number): PreviousSecret[] {
  const listed: PreviousSecret[] = (
    (item.previous_secrets as
      | Array<{ envelope: CredentialEnvelope; expires_at: string; version: number }>
      | undefined) ?? []
  ).map(({ envelope, expires_at, version }) => ({
    secret: { envelope, plain: null },
    expires_at,
    version,
  }));
  // An item of the older shape, or one its code rotated during a deployment of this one.
  const single = storedSecret(item.previous_secret_envelope, item.previous_secret);
  const singleExpiresAt = item.previous_secret_expires_at;
  // Without an expiry it never signed, and does not now.
  if (single && typeof singleExpiresAt === 'string')
    listed.push({ secret: single, expires_at: singleExpiresAt, version: secretVersion });
  return listed.sort((a, b) => Date.parse(b.expires_at) - Date.parse(a.expires_at));
}

function toEndpoint(item: Record<string, unknown>): StoredEndpoint {
  const secretVersion = (item.secret_version as number | undefined) ?? 0;
  return {
    id: item.endpoint_id as string,
    tenant_id: item.tenant_id as string,
    url: item.url as string,
    description: orNull(item.description),
    event_types: orNull(item.event_types),
    status: item.status as StoredEndpoint['status'],
    disabled_reason: orNull(item.disabled_reason),
    disabled_at: orNull(item.disabled_at),
    failing_since: orNull(item.failing_since),
    secret: storedSecret(item.secret_envelope, item.secret) ?? { envelope: null, plain: null },
    previous_secrets: previousSecretsOf(item, secretVersion),
    secret_version: secretVersion,
    created_at: item.created_at as string,
    updated_at: item.updated_at as string,
  };
}

function toDelivery(item: Record<string, unknown>): StoredDelivery {
  return {
    id: item.delivery_id as string,
    tenant_id: item.tenant_id as string,
    endpoint_id: item.endpoint_id as string,
    event_id: item.event_id as string,
    event_type: item.event_type as string,
    payload: item.payload as string,
    state: item.state as DeliveryState,
    attempts: item.attempts as number,
    attempt_log: (item.attempt_log as DeliveryAttempt[] | undefined) ?? [],
    status_code: orNull(item.status_code),
    latency_ms: orNull(item.latency_ms),
    last_error: orNull(item.last_error),
    next_attempt_at: orNull(item.next_attempt_at),
    lease_until: orNull(item.lease_until),
    lease_token: orNull(item.lease_token),
    replay_of: orNull(item.replay_of),
    created_at: item.created_at as string,
    updated_at: item.updated_at as string,
    // A delivery written before retention had no expiry: it is kept (nothing to clean it up either).
    expires_at_epoch: (item.expires_at_epoch as number | undefined) ?? Number.POSITIVE_INFINITY,
  };
}

/** Expiry is checked on read: TTL deletes an item up to days late. */
const unexpired = (delivery: StoredDelivery, now: Date) => delivery.expires_at_epoch * 1000 > now.getTime();

const isConflict = (error: unknown) => error instanceof ConditionalCheckFailedException;

// ── endpoints ────────────────────────────────────────────────────────────────────────────────

export async function putEndpoint(db: Db, tenantId: string, endpoint: StoredEndpoint): Promise<void> {
  const key = keys.webhookEndpoint(tenantId, endpoint.id);
  const attributes = endpointAttributes(endpoint);
  const stored = await succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: { ...key, entity: 'webhook_endpoint', ...attributes, tenant_id: tenantId },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
    // This endpoint as written (its sealed secret is unique): the SDK retried the write.
    storedItemIs(
      db,
      key,
      (item) =>
        (item.secret_envelope as CredentialEnvelope | undefined)?.ciphertext ===
        attributes.secret_envelope.ciphertext,
    ),
  );
  if (!stored) throw new ConflictError(`Webhook endpoint ${endpoint.id} exists.`);
}

function sealedOnly(secret: StoredSecret): CredentialEnvelope {
  if (!secret.envelope) throw new Error('a webhook secret is stored sealed only');
  return secret.envelope;
}

function endpointAttributes(endpoint: StoredEndpoint) {
  return {
    endpoint_id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description ?? undefined,
    event_types: endpoint.event_types ?? undefined,
    status: endpoint.status,
    disabled_reason: endpoint.disabled_reason ?? undefined,
    disabled_at: endpoint.disabled_at ?? undefined,
    failing_since: endpoint.failing_since ?? undefined,
    // Only envelopes are written: a plain secret is never stored again.
    secret_envelope: sealedOnly(endpoint.secret),
    previous_secrets: endpoint.previous_secrets.length
      ? previousSecretsAttribute(endpoint.previous_secrets)
      : undefined,
    secret_version: endpoint.secret_version,
    created_at: endpoint.created_at,
    updated_at: endpoint.updated_at,
  };
}

export async function getEndpoint(
  db: Db,
  tenantId: string,
  endpointId: string,
): Promise<StoredEndpoint | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({
      TableName: db.tableName,
      Key: keys.webhookEndpoint(tenantId, endpointId),
      ConsistentRead: true,
    }),
  );
  return Item ? toEndpoint(Item) : undefined;
}

export function listEndpoints(db: Db, tenantId: string, page: PageRequest): Promise<Page<StoredEndpoint>> {
  return queryPage(
    db,
    { partition: tenantPartition(tenantId), sortKeyPrefix: keys.webhookEndpointPrefix() },
    page,
    toEndpoint,
  );
}

/** Every endpoint of the tenant (the consumer matches an event against all of them). */
export async function allEndpoints(db: Db, tenantId: string): Promise<StoredEndpoint[]> {
  const endpoints: StoredEndpoint[] = [];
  let cursor: string | undefined;
  do {
    const page = await listEndpoints(db, tenantId, { limit: 500, cursor });
    endpoints.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return endpoints;
}

/**
 * Sets and removes some of an endpoint's attributes, if it exists (and `condition` holds);
 * answers the endpoint after the change, or undefined when it does not exist or the condition
 * failed. Field-wise, so a concurrent failure-streak update or rotation is never overwritten.
 */
export async function updateEndpoint(
  db: Db,
  tenantId: string,
  endpointId: string,
  change: { set: Record<string, unknown>; remove?: string[] },
  condition?: { expression: string; names?: Record<string, string>; values: Record<string, unknown> },
): Promise<StoredEndpoint | undefined> {
  const names: Record<string, string> = { ...condition?.names };
  const values: Record<string, unknown> = { ...condition?.values };
  const sets = Object.entries(change.set).map(([name, value], index) => {
    names[`#s${index}`] = name;
    values[`:s${index}`] = value;
    return `#s${index} = :s${index}`;
  });
  const removes = (change.remove ?? []).map((name, index) => {
    names[`#r${index}`] = name;
    return `#r${index}`;
  });
  const expression = [
    sets.length ? `SET ${sets.join(', ')}` : '',
    removes.length ? `REMOVE ${removes.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  try {
    const { Attributes } = await db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.webhookEndpoint(tenantId, endpointId),
        UpdateExpression: expression,
        ConditionExpression: condition
          ? `attribute_exists(pk) AND (${condition.expression})`
          : 'attribute_exists(pk)',
        ExpressionAttributeNames: names,
        ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes ? toEndpoint(Attributes) : undefined;
  } catch (error) {
    if (isConflict(error)) return undefined;
    throw error;
  }
}

export async function deleteEndpoint(db: Db, tenantId: string, endpointId: string): Promise<boolean> {
  return deleted(
    db.client.send(
      new DeleteCommand({
        TableName: db.tableName,
        Key: keys.webhookEndpoint(tenantId, endpointId),
        ConditionExpression: 'attribute_exists(pk)',
      }),
    ),
  );
}

/**
 * The tenant's endpoint count: the conditional counter behind the endpoint cap (see
 * shared/db/capped-count.ts). A tenant whose endpoints predate it gets one counted from them.
 */
function endpointCount(db: Db, tenantId: string): CappedCount {
  return {
    key: keys.webhookEndpointCount(tenantId),
    entity: 'webhook_endpoint_count',
    countAttribute: 'endpoint_count',
    initialAttributes: { tenant_id: tenantId },
    countStored: async () => (await allEndpoints(db, tenantId)).length,
  };
}

/** How long the endpoint counter must have stood still before a refusal at the cap recounts. */
export const ENDPOINT_COUNT_SETTLED_MS = COUNT_SETTLED_MS;

/**
 * Takes one of the tenant's `max` endpoint slots; false when every slot is taken (see
 * takeCountedSlot: concurrent creations never pass the cap, a lost answer counts once, a slot
 * left by a creation that stopped is recounted at the cap).
 */
export function takeEndpointSlot(db: Db, tenantId: string, max: number, nowMs: number): Promise<boolean> {
  return takeCountedSlot(db, endpointCount(db, tenantId), max, nowMs);
}

/** Gives a slot back (an endpoint deleted, or a creation that failed after taking it). */
export function releaseEndpointSlot(db: Db, tenantId: string, nowMs: number): Promise<void> {
  return releaseCountedSlot(db, endpointCount(db, tenantId), nowMs);
}

/**
 * Marks the slot of a deleted endpoint as given back; true for the one caller that marks it
 * first, who then gives it back (two deletes of one endpoint can both count as done).
 */
export function markSlotReleased(
  db: Db,
  tenantId: string,
  endpointId: string,
  nowMs: number,
): Promise<boolean> {
  return markCountedSlotReleased(
    db,
    keys.webhookEndpointSlotReleased(tenantId, endpointId),
    'webhook_endpoint_slot_released',
    nowMs,
  );
}

/** Records a failed attempt; answers when the current failure streak began. */
export async function markEndpointFailing(
  db: Db,
  tenantId: string,
  endpointId: string,
  at: string,
): Promise<string | undefined> {
  try {
    const { Attributes } = await db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.webhookEndpoint(tenantId, endpointId),
        UpdateExpression: 'SET failing_since = if_not_exists(failing_since, :at)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':at': at },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes?.failing_since as string | undefined;
  } catch (error) {
    if (isConflict(error)) return undefined;
    throw error;
  }
}

/** A success ends the failure streak. */
export async function markEndpointHealthy(db: Db, tenantId: string, endpointId: string): Promise<void> {
  try {
    await db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.webhookEndpoint(tenantId, endpointId),
        UpdateExpression: 'REMOVE failing_since',
        ConditionExpression: 'attribute_exists(pk)',
      }),
    );
  } catch (error) {
    if (!isConflict(error)) throw error;
  }
}

/** Disables an enabled endpoint; answers whether this call did it (so it is reported once). */
export async function disableEndpoint(
  db: Db,
  tenantId: string,
  endpointId: string,
  reason: string,
  at: string,
): Promise<boolean> {
  const key = keys.webhookEndpoint(tenantId, endpointId);
  return succeededOrOwn(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        UpdateExpression:
          'SET #status = :disabled, disabled_reason = :reason, disabled_at = :at, updated_at = :at',
        ConditionExpression: 'attribute_exists(pk) AND #status = :enabled',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':disabled': 'disabled',
          ':enabled': 'enabled',
          ':reason': reason,
          ':at': at,
        },
      }),
    ),
    // Disabled by this call, its answer lost: still reported.
    storedItemIs(
      db,
      key,
      (item) => item.status === 'disabled' && item.disabled_at === at && item.disabled_reason === reason,
    ),
  );
}

// ── deliveries ───────────────────────────────────────────────────────────────────────────────

/** Stores a new delivery; answers false when one with this id exists already (a redelivered event). */
export async function putDelivery(db: Db, tenantId: string, delivery: StoredDelivery): Promise<boolean> {
  const key = keys.webhookDelivery(tenantId, delivery.id);
  // Unique to this write: the SDK's retry after a lost answer meets it and is still this write,
  // not a redelivered event (whose delivery has the same id).
  const writeMark = randomUUID();
  return succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...key,
          ...keys.webhookDeliveryLog(tenantId, delivery.endpoint_id, delivery.id),
          write_mark: writeMark,
          entity: 'webhook_delivery',
          delivery_id: delivery.id,
          tenant_id: tenantId,
          endpoint_id: delivery.endpoint_id,
          event_id: delivery.event_id,
          event_type: delivery.event_type,
          payload: delivery.payload,
          state: delivery.state,
          attempts: delivery.attempts,
          attempt_log: delivery.attempt_log,
          next_attempt_at: delivery.next_attempt_at ?? undefined,
          lease_until: delivery.lease_until ?? undefined,
          lease_token: delivery.lease_token ?? undefined,
          replay_of: delivery.replay_of ?? undefined,
          created_at: delivery.created_at,
          updated_at: delivery.updated_at,
          expires_at_epoch: delivery.expires_at_epoch,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
    storedItemIs(db, key, (item) => item.write_mark === writeMark),
  );
}

/** A delivery, unless it does not exist or its retention ended before `now`. */
export async function getDelivery(
  db: Db,
  tenantId: string,
  deliveryId: string,
  now: Date,
): Promise<StoredDelivery | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({
      TableName: db.tableName,
      Key: keys.webhookDelivery(tenantId, deliveryId),
      ConsistentRead: true,
    }),
  );
  const delivery = Item ? toDelivery(Item) : undefined;
  return delivery && unexpired(delivery, now) ? delivery : undefined;
}

/**
 * An endpoint's deliveries, newest first, without those whose retention ended before `now` (a
 * page may then hold fewer than `limit`; the cursor still goes on). The log is on gsi1, so it may
 * trail by a moment.
 */
export async function listDeliveries(
  db: Db,
  tenantId: string,
  endpointId: string,
  page: PageRequest,
  now: Date,
): Promise<Page<StoredDelivery>> {
  const result = await queryPage(
    db,
    { partition: webhookDeliveryLogPartition(tenantId, endpointId), onGsi1: true, descending: true },
    page,
    toDelivery,
  );
  return { ...result, data: result.data.filter((delivery) => unexpired(delivery, now)) };
}

/**
 * Takes the right to make the delivery's next attempt: only while it is pending, still at
 * `attempts`, and nobody else holds an unexpired lease. Two runners (the consumer's immediate
 * attempt and the retry job, or two job runs) never send the same attempt twice.
 */
export async function leaseDelivery(
  db: Db,
  tenantId: string,
  deliveryId: string,
  attempts: number,
  token: string,
  now: string,
  until: string,
): Promise<boolean> {
  const key = keys.webhookDelivery(tenantId, deliveryId);
  // The SDK's retry after a lost answer meets this very lease: still ours (else the attempt would
  // be taken for someone else's, and on AWS its only wake-up dropped).
  return succeededOrOwn(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        UpdateExpression: 'SET lease_until = :until, lease_token = :token',
        ConditionExpression:
          '#state = :pending AND attempts = :attempts AND (attribute_not_exists(lease_until) OR lease_until < :now)',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':until': until,
          ':token': token,
          ':pending': 'pending',
          ':attempts': attempts,
          ':now': now,
        },
      }),
    ),
    storedItemIs(db, key, (item) => item.lease_token === token),
  );
}

export interface AttemptRecord {
  attempt: DeliveryAttempt;
  state: DeliveryState;
  nextAttemptAt: string | null;
  at: string;
  /** The new end of retention: counted from this attempt. */
  expiresAtEpoch: number;
}

/** Writes an attempt's outcome and releases the lease, if the lease is still ours. */
export async function recordAttempt(
  db: Db,
  tenantId: string,
  deliveryId: string,
  token: string,
  record: AttemptRecord,
): Promise<boolean> {
  const { attempt } = record;
  const sets = [
    'attempts = attempts + :one',
    'attempt_log = list_append(if_not_exists(attempt_log, :empty), :entry)',
    '#state = :state',
    'status_code = :status',
    'latency_ms = :latency',
    'last_error = :error',
    'updated_at = :at',
    'expires_at_epoch = :expires',
  ];
  const values: Record<string, unknown> = {
    ':one': 1,
    ':empty': [],
    ':entry': [attempt],
    ':state': record.state,
    ':status': attempt.status_code,
    ':latency': attempt.latency_ms,
    ':error': attempt.error,
    ':at': record.at,
    ':token': token,
    ':expires': record.expiresAtEpoch,
  };
  const removes = ['lease_until', 'lease_token'];
  if (record.nextAttemptAt) {
    sets.push('next_attempt_at = :next');
    values[':next'] = record.nextAttemptAt;
  } else removes.push('next_attempt_at');
  try {
    await db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.webhookDelivery(tenantId, deliveryId),
        UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
        ConditionExpression: 'lease_token = :token',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (error) {
    if (isConflict(error)) return false;
    throw error;
  }
}

/** Ends a pending delivery without an attempt (its endpoint is gone or disabled): dead-lettered. */
export async function failDeliveryWithoutAttempt(
  db: Db,
  tenantId: string,
  deliveryId: string,
  token: string,
  reason: string,
  at: string,
  expiresAtEpoch: number,
): Promise<void> {
  try {
    await db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.webhookDelivery(tenantId, deliveryId),
        UpdateExpression:
          'SET #state = :failed, last_error = :reason, updated_at = :at, expires_at_epoch = :expires REMOVE lease_until, lease_token, next_attempt_at',
        ConditionExpression: 'lease_token = :token',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':reason': reason,
          ':at': at,
          ':token': token,
          ':expires': expiresAtEpoch,
        },
      }),
    );
  } catch (error) {
    if (!isConflict(error)) throw error;
  }
}

// ── due markers (the local retry scheduler) ─────────────────────────────────────────────────

export interface DueMarker {
  dueAt: string;
  tenantId: string;
  deliveryId: string;
}

export async function putDueMarker(db: Db, marker: DueMarker): Promise<void> {
  await db.client.send(
    new PutCommand({
      TableName: db.tableName,
      Item: {
        ...keys.webhookDue(marker.dueAt, marker.tenantId, marker.deliveryId),
        entity: 'webhook_due',
        due_at: marker.dueAt,
        tenant_id: marker.tenantId,
        delivery_id: marker.deliveryId,
      },
    }),
  );
}

export async function deleteDueMarker(db: Db, marker: DueMarker): Promise<void> {
  await db.client.send(
    new DeleteCommand({
      TableName: db.tableName,
      Key: keys.webhookDue(marker.dueAt, marker.tenantId, marker.deliveryId),
    }),
  );
}

/** The markers due at or before `now`, oldest first, at most `limit`. */
export async function dueMarkers(
  db: Db,
  now: string,
  limit: number,
  tenantId?: string,
): Promise<DueMarker[]> {
  const markers: DueMarker[] = [];
  for await (const page of paginateQuery(
    { client: db.client },
    {
      TableName: db.tableName,
      // ISO instants have one length, so `<= "<now>#~"` takes every marker due up to now ('~'
      // sorts after any tenant id).
      KeyConditionExpression: 'pk = :pk AND sk <= :upTo',
      ...(tenantId
        ? {
            FilterExpression: 'tenant_id = :tenant',
            ExpressionAttributeValues: {
              ':pk': keys.webhookDuePartition(),
              ':upTo': `${now}#~`,
              ':tenant': tenantId,
            },
          }
        : { ExpressionAttributeValues: { ':pk': keys.webhookDuePartition(), ':upTo': `${now}#~` } }),
      ConsistentRead: true,
      Limit: limit,
    },
  )) {
    for (const item of page.Items ?? []) {
      markers.push({
        dueAt: item.due_at as string,
        tenantId: item.tenant_id as string,
        deliveryId: item.delivery_id as string,
      });
    }
    if (markers.length >= limit) break;
  }
  return markers.slice(0, limit);
}
