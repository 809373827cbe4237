/**
 * Key builders, one per entity: the only place that knows how keys are spelled. Every partition
 * key starts with the tenant; segments are prefixed and versioned so the layout can evolve.
 */
const V = 'v1';

export const tenantPartition = (tenantId: string) => `${V}#tenant#${tenantId}`;

export const keys = {
  tenant: (tenantId: string) => ({ pk: tenantPartition(tenantId), sk: `${V}#profile` }),
  /** The operator's list of tenants, on gsi1. */
  tenantListing: (tenantId: string) => ({ gsi1pk: `${V}#operator#tenants`, gsi1sk: tenantId }),
  tenantListingPartition: () => `${V}#operator#tenants`,
  apiKey: (tenantId: string, keyId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#api-key#${keyId}`,
  }),
  apiKeyPrefix: () => `${V}#api-key#`,

  /** A tenant's negotiated price for one model, one item per effective date (history is kept). */
  priceOverride: (tenantId: string, provider: string, model: string, effectiveFrom: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#price-override#${provider}/${model}#${effectiveFrom}`,
  }),
  priceOverridePrefix: () => `${V}#price-override#`,

  /** Prices the operator loaded from price files: one item per model price, in load order. */
  operatorPricesPartition: () => `${V}#operator#prices`,
  operatorPrice: (loadId: string, provider: string, model: string) => ({
    pk: `${V}#operator#prices`,
    sk: `${loadId}#${provider}/${model}`,
  }),
  /**
   * The revision of the operator's loaded prices, raised after every price file is stored, so a
   * process can confirm its copy with one GetItem instead of reading every file again. Outside
   * the prices partition: `listOperatorPrices` reads that partition whole and takes every item
   * in it for a price.
   */
  operatorPricesRevision: () => ({ pk: `${V}#operator#prices-revision`, sk: `${V}#revision` }),

  /** A webhook endpoint: its URL, filters, status and signing secrets. */
  webhookEndpoint: (tenantId: string, endpointId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#webhook-endpoint#${endpointId}`,
  }),
  webhookEndpointPrefix: () => `${V}#webhook-endpoint#`,
  /**
   * A request sent with an Idempotency-Key, by the key's hash: the tenant's, or (no tenant) the
   * operator's.
   */
  idempotencyKey: (tenantId: string | undefined, keyHash: string) => ({
    pk: tenantId === undefined ? `${V}#operator#idempotency` : tenantPartition(tenantId),
    sk: `${V}#idempotency#${keyHash}`,
  }),
  /** The ids of the tenant's live admin keys: the guard that keeps its last one from being revoked. */
  apiKeyAdmins: (tenantId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#api-key-admins`,
  }),
  /** How many endpoints the tenant has: the conditional counter behind the endpoint cap. */
  webhookEndpointCount: (tenantId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#webhook-endpoint-count`,
  }),
  /** Marks a deleted endpoint's slot given back, so that two deletes of it give back one. */
  webhookEndpointSlotReleased: (tenantId: string, endpointId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#webhook-endpoint-slot-released#${endpointId}`,
  }),
  /** One event to deliver to one endpoint, with its attempts. */
  webhookDelivery: (tenantId: string, deliveryId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#webhook-delivery#${deliveryId}`,
  }),
  /** gsi1: an endpoint's deliveries, newest last (ids sort by time): the delivery log. */
  webhookDeliveryLog: (tenantId: string, endpointId: string, deliveryId: string) => ({
    gsi1pk: webhookDeliveryLogPartition(tenantId, endpointId),
    gsi1sk: deliveryId,
  }),
  /**
   * A delivery attempt that is due at `dueAt`, for the local `webhook-retry` job. One operator
   * partition for every tenant rather than one per tenant: the job runs every second, and one
   * Query with `sk <= now` costs the same with ten tenants or ten thousand, where a per-tenant
   * layout would cost a Query per tenant per second even when nothing is due. The partition only
   * holds attempts waiting for their time (written when an attempt is scheduled, deleted when it
   * is made), and on AWS the SQS delay queue takes this role, so it never becomes a hot spot.
   */
  webhookDue: (dueAt: string, tenantId: string, deliveryId: string) => ({
    pk: `${V}#operator#webhook-due`,
    sk: `${dueAt}#${tenantId}#${deliveryId}`,
  }),
  webhookDuePartition: () => `${V}#operator#webhook-due`,

  /**
   * Budgets live in a partition of their own: each definition (`v1#budget#<id>`), the counters of
   * its current and previous period (`v1#budget#<id>#period#<start>`) and the set's revision, so
   * one consistent Query reads them all (an instance's copy of the definitions).
   */
  budgetsPartition: (tenantId: string) => `${tenantPartition(tenantId)}#budgets`,
  budget: (tenantId: string, budgetId: string) => ({
    pk: `${tenantPartition(tenantId)}#budgets`,
    sk: `${V}#budget#${budgetId}`,
  }),
  /**
   * The revision of the tenant's set of budget definitions, raised by every change to one, so an
   * instance can keep the definitions and check in the same request that they are still current.
   * `!` sorts before `#`: a Query of the partition reads it before any definition.
   */
  budgetSet: (tenantId: string) => ({
    pk: `${tenantPartition(tenantId)}#budgets`,
    sk: `${V}#budget!set`,
  }),
  budgetCounter: (tenantId: string, budgetId: string, periodStart: string) => ({
    pk: `${tenantPartition(tenantId)}#budgets`,
    sk: `${V}#budget#${budgetId}#period#${periodStart}`,
  }),
  /** A reservation, by its id (derived from the caller's authorization id, its idempotency key). */
  reservation: (tenantId: string, reservationId: string) => ({
    pk: `${tenantPartition(tenantId)}#reservations`,
    sk: `${V}#reservation#${reservationId}`,
  }),
  /**
   * How many budgets the tenant has: the conditional counter behind the budget cap. Outside the
   * budgets partition, which every enforcement instance reads whole.
   */
  budgetCount: (tenantId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#budget-count`,
  }),
  /** Marks a deleted budget's slot given back, so that two deletes of it give back one. */
  budgetSlotReleased: (tenantId: string, budgetId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#budget-slot-released#${budgetId}`,
  }),
  /** Marks one ingest request's usage as applied to the budget counters. */
  budgetBatch: (tenantId: string, batchId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#budget-batch#${batchId}`,
  }),

  /** A provider billing connection (its encrypted credential, sync cursor and last outcome). */
  providerConnection: (tenantId: string, connectionId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#provider-connection#${connectionId}`,
  }),
  providerConnectionPrefix: () => `${V}#provider-connection#`,
  /** Which connection holds a provider key (by the key's fingerprint): one connection per key. */
  providerKeyClaim: (tenantId: string, provider: string, fingerprint: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#provider-key#${provider}#${fingerprint}`,
  }),
  /** The tenant's billing settings (drift threshold). */
  billingSettings: (tenantId: string) => ({ pk: tenantPartition(tenantId), sk: `${V}#billing-settings` }),

  /**
   * One billed line (a cost or usage row of a provider's bill), keyed by day, connection, source
   * and the line's identity: a re-pull overwrites it in place, and a day reads as one range.
   */
  billedLine: (
    tenantId: string,
    day: string,
    connectionId: string,
    source: string,
    identityHash: string,
  ) => ({
    pk: billedLinesPartition(tenantId),
    sk: `${V}#billed#${day}#${connectionId}#${source}#${identityHash}`,
  }),
  /** The sort-key prefix of one connection's lines of one source and day: what a re-pull replaces. */
  billedDaySourcePrefix: (day: string, connectionId: string, source: string) =>
    `${V}#billed#${day}#${connectionId}#${source}#`,
  /** Sort keys from `day` on (a range's bounds: the upper bound is exclusive since every key continues with '#'). */
  billedDayBound: (day: string) => `${V}#billed#${day}`,

  /**
   * A raw event, stored under the key that makes it unique per tenant (its dedupe key), in one
   * of SHARDS partitions so a busy tenant's writes spread out.
   */
  rawEvent: (tenantId: string, kind: RawEventKind, dedupeKey: string) => {
    const shard = shardOf(dedupeKey);
    return { pk: `${tenantPartition(tenantId)}#${kind}#${shard}`, sk: dedupeKey };
  },
  /** gsi2: the same events in ingestion order, per shard; the rollup and re-pricing read them from here. */
  rawEventIngested: (tenantId: string, kind: RawEventKind, dedupeKey: string, ingestedAt: string) => ({
    gsi2pk: rawEventIngestedPartition(tenantId, kind, shardOf(dedupeKey)),
    gsi2sk: `${ingestedAt}#${dedupeKey}`,
  }),
};

export function webhookDeliveryLogPartition(tenantId: string, endpointId: string): string {
  return `${tenantPartition(tenantId)}#webhook-deliveries#${endpointId}`;
}

export function billedLinesPartition(tenantId: string): string {
  return `${tenantPartition(tenantId)}#billed`;
}

export type RawEventKind = 'usage' | 'outcome';

/** Partitions per tenant and event kind. */
export const RAW_EVENT_SHARDS = 16;

export function rawEventIngestedPartition(tenantId: string, kind: RawEventKind, shard: number): string {
  return `${tenantPartition(tenantId)}#${kind}-ingested#${shard}`;
}

/** FNV-1a: a stable, cheap spread of dedupe keys over the shards. */
export function shardOf(dedupeKey: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < dedupeKey.length; i++) {
    hash ^= dedupeKey.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % RAW_EVENT_SHARDS;
}
