import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { BusEvent, EventBus } from '../bus/bus.js';
import type { Db } from '../db/client.js';
import { seededId } from '../ids.js';
import { flushOutbox, recordNotice } from '../kpis/notices.js';
import type { Logger } from '../observability/logger.js';
import { checkedAddresses, type Resolver } from './address-guard.js';
import { postWebhook } from './http-sender.js';
import {
  allEndpoints,
  disableEndpoint,
  failDeliveryWithoutAttempt,
  getDelivery,
  getEndpoint,
  leaseDelivery,
  markEndpointFailing,
  markEndpointHealthy,
  putDelivery,
  recordAttempt,
  type StoredDelivery,
  type StoredEndpoint,
  unexpiredPreviousSecrets,
} from './repository.js';
import { nextAttemptAt } from './retry-policy.js';
import type { RetryScheduler } from './retry-scheduler.js';
import type { WebhookPayload } from './schema.js';
import type { WebhookSecrets } from './secrets.js';
import { signatureHeaders } from './signing.js';

export interface DelivererOptions {
  /** Seconds to wait before attempt 1, 2, 3…: config `webhookRetrySchedule`. */
  retrySchedule: readonly number[];
  /** Per attempt, up to the response's status (15 s in production). */
  timeoutMs: number;
  /** When false, every attempt resolves and checks the URL's host first (address-guard.ts). */
  allowPrivateUrls: boolean;
  resolve: Resolver;
  /** The most a receiver's `Retry-After` may stretch one wait. */
  retryAfterCapSeconds: number;
  /** An endpoint whose every attempt failed for this long is disabled. */
  disableAfterFailingMs: number;
  /** A delivery is kept this long after its last attempt (or its creation, before any). */
  retentionMs: number;
  /** Opens the endpoint's sealed signing secrets (cached per process). */
  secrets: WebhookSecrets;
  now: () => Date;
}

/** Bus events are versioned `x.y.v1`; the webhook type is the contract's `x.y`. */
const BUS_VERSION_SUFFIX = '.v1';

/** A wake-up for a delivery not written yet may come first (the schedule is written before it). */
const MISSING_DELIVERY_GRACE_MS = 60_000;

export type DeliverResult = 'delivered' | 'retrying' | 'failed' | 'not-due' | 'busy' | 'settled' | 'missing';

/**
 * The secrets that sign at `now`: the current one, then every previous one whose rotation's
 * overlap has not ended (several rotations within a day each keep theirs signing).
 */
export async function signingSecrets(
  secrets: WebhookSecrets,
  endpoint: StoredEndpoint,
  now: Date,
): Promise<string[]> {
  const { tenant_id: tenantId, id, secret_version: version } = endpoint;
  return Promise.all([
    secrets.open(tenantId, id, `${version}:current`, endpoint.secret),
    ...unexpiredPreviousSecrets(endpoint, now).map((previous) =>
      secrets.open(tenantId, id, `${previous.version}:previous`, previous.secret),
    ),
  ]);
}

/**
 * The delivery step: turns events into persisted deliveries and makes attempts. Every entry point
 * (the in-process bus, the retry job, an API call, a Lambda handler) calls `fromBusEvent` with one
 * event or `deliver` with one delivery id.
 */
export function createWebhookDeliverer(
  db: Db,
  logger: Logger,
  scheduler: RetryScheduler,
  bus: EventBus,
  options: DelivererOptions,
) {
  const { now } = options;

  /**
   * Tells the tenant an endpoint was disabled: the endpoint shows it (status, reason), the log
   * gets a line, and a `webhook.endpoint_disabled` event goes to the tenant's other endpoints
   * that take it. The event is recorded once per disabling and published at once; one the bus
   * refuses stays in the outbox, which the next kpi-rollup run publishes.
   */
  async function reportDisabled(endpoint: StoredEndpoint, reason: string, disabledAt: string) {
    const tenantId = endpoint.tenant_id;
    logger.warn(
      // Not the URL: receivers often carry a token in it.
      { tenant_id: tenantId, endpoint_id: endpoint.id, reason },
      'webhook endpoint disabled',
    );
    try {
      const event = await recordNotice(
        db,
        tenantId,
        `v1#notice#webhook-endpoint-disabled#${endpoint.id}#${disabledAt}`,
        'webhook.endpoint_disabled.v1',
        {
          endpoint: {
            id: endpoint.id,
            description: endpoint.description,
            // Where it pointed, without the path or query a token may be in.
            url_origin: new URL(endpoint.url).origin,
          },
          reason,
          disabled_at: disabledAt,
        },
        now(),
      );
      if (!event) return;
    } catch (error) {
      // The attempt is recorded and the endpoint disabled; failing here would only fail the
      // delivery run, whose retry finds the endpoint disabled already and records nothing new.
      logger.error(
        { err: error, tenant_id: tenantId, endpoint_id: endpoint.id },
        'could not record the endpoint-disabled notice; the endpoint shows it disabled',
      );
      return;
    }
    try {
      await flushOutbox(db, tenantId, bus);
    } catch (error) {
      logger.warn({ err: error, tenant_id: tenantId }, 'endpoint-disabled notice left for the next rollup');
    }
  }

  /** How long an attempt may hold its delivery: the timeout and a margin for the writes around it. */
  const retainedUntil = (from: Date) => Math.ceil((from.getTime() + options.retentionMs) / 1000);

  const leaseEnd = (from: Date) => new Date(from.getTime() + options.timeoutMs + 60_000).toISOString();

  /** The first attempt is immediate when the schedule says so; otherwise the retry job makes it. */
  const firstAttemptIsImmediate = () => (options.retrySchedule[0] ?? 0) === 0;

  /**
   * Persists a delivery before any attempt: its wake-up first, then the delivery itself, so a
   * crash in between leaves a wake-up for nothing (ignored) rather than a delivery nobody wakes.
   * When the caller makes the first attempt at once, the delivery is written already leased to
   * it (one write fewer; should the caller die, the retry job takes over when the lease ends).
   * Answers undefined when the delivery exists already.
   */
  async function enqueue(
    tenantId: string,
    endpointId: string,
    deliveryId: string,
    payload: WebhookPayload,
    replayOf: string | null,
  ): Promise<StoredDelivery | undefined> {
    const createdAt = now();
    const dueAt = new Date(createdAt.getTime() + (options.retrySchedule[0] ?? 0) * 1000).toISOString();
    const delivery: StoredDelivery = {
      id: deliveryId,
      tenant_id: tenantId,
      endpoint_id: endpointId,
      event_id: payload.id,
      event_type: payload.type,
      payload: JSON.stringify(payload),
      state: 'pending',
      attempts: 0,
      attempt_log: [],
      status_code: null,
      latency_ms: null,
      last_error: null,
      next_attempt_at: dueAt,
      lease_until: firstAttemptIsImmediate() ? leaseEnd(createdAt) : null,
      lease_token: firstAttemptIsImmediate() ? randomUUID() : null,
      replay_of: replayOf,
      created_at: createdAt.toISOString(),
      updated_at: createdAt.toISOString(),
      expires_at_epoch: retainedUntil(createdAt),
    };
    await scheduler.schedule(tenantId, deliveryId, dueAt);
    return (await putDelivery(db, tenantId, delivery)) ? delivery : undefined;
  }

  /**
   * Makes the delivery's attempt if it is due. `wakeUpAt` names the wake-up that led here (settled
   * once handled); `known` spares the reads when the caller has just written the delivery and
   * read the endpoint (the lease still checks the delivery is unchanged).
   */
  async function deliver(
    tenantId: string,
    deliveryId: string,
    wakeUpAt?: string,
    known?: { delivery: StoredDelivery; endpoint: StoredEndpoint },
  ): Promise<DeliverResult> {
    const started = now();
    const delivery = known?.delivery ?? (await getDelivery(db, tenantId, deliveryId, started));
    if (!delivery) {
      if (wakeUpAt && started.getTime() - Date.parse(wakeUpAt) > MISSING_DELIVERY_GRACE_MS)
        await scheduler.settle(tenantId, deliveryId, wakeUpAt);
      return 'missing';
    }
    const dueAt = delivery.next_attempt_at;
    if (delivery.state !== 'pending' || !dueAt) {
      if (wakeUpAt) await scheduler.settle(tenantId, deliveryId, wakeUpAt);
      return 'settled';
    }
    if (dueAt > started.toISOString()) {
      // A wake-up older than the delivery's own due time belongs to an attempt already made.
      if (wakeUpAt && wakeUpAt < dueAt) await scheduler.settle(tenantId, deliveryId, wakeUpAt);
      return 'not-due';
    }
    /**
     * Someone else holds the attempt, or crashed holding it: the wake-up that led here moves to
     * just after that lease has surely ended (a lease taken up to now ends by leaseEnd), to find
     * the attempt made or to make it. Dropping it would lose the delivery where a consumed
     * wake-up is the only one (the SQS queue on AWS).
     */
    const busy = async (): Promise<DeliverResult> => {
      if (wakeUpAt) {
        const leaseOver = new Date(Date.parse(leaseEnd(started)) + 1000).toISOString();
        await scheduler.schedule(tenantId, deliveryId, leaseOver);
        await scheduler.settle(tenantId, deliveryId, wakeUpAt);
      }
      return 'busy';
    };
    // A delivery the caller just wrote leased to itself needs no second lease.
    const heldToken = known?.delivery.lease_token;
    let token: string;
    if (heldToken) token = heldToken;
    else {
      if (delivery.lease_until && delivery.lease_until > started.toISOString()) return busy();
      token = randomUUID();
      const leased = await leaseDelivery(
        db,
        tenantId,
        deliveryId,
        delivery.attempts,
        token,
        started.toISOString(),
        leaseEnd(started),
      );
      if (!leased) return busy();
    }
    const settleWakeUps = async () => {
      await scheduler.settle(tenantId, deliveryId, dueAt);
      if (wakeUpAt && wakeUpAt !== dueAt) await scheduler.settle(tenantId, deliveryId, wakeUpAt);
    };

    const endpoint = known?.endpoint ?? (await getEndpoint(db, tenantId, delivery.endpoint_id));
    if (endpoint?.status !== 'enabled') {
      const reason = endpoint ? 'the endpoint is disabled' : 'the endpoint was deleted';
      await failDeliveryWithoutAttempt(
        db,
        tenantId,
        deliveryId,
        token,
        reason,
        started.toISOString(),
        retainedUntil(started),
      );
      await settleWakeUps();
      return 'failed';
    }

    const sentAt = now();
    const secrets = await signingSecrets(options.secrets, endpoint, sentAt);
    const outcome = await postWebhook(
      endpoint.url,
      delivery.payload,
      signatureHeaders(delivery.event_id, sentAt, delivery.payload, secrets),
      {
        timeoutMs: options.timeoutMs,
        addresses: options.allowPrivateUrls ? undefined : (url) => checkedAddresses(url, options.resolve),
        now,
      },
    );
    const finished = now();
    const attempt = delivery.attempts + 1;
    const succeeded = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    const gone = outcome.statusCode === 410;
    const next =
      succeeded || gone
        ? undefined
        : nextAttemptAt(
            options.retrySchedule,
            attempt,
            finished,
            outcome.retryAfterSeconds,
            options.retryAfterCapSeconds,
          );
    const state = succeeded ? 'delivered' : next ? 'pending' : 'failed';
    const error =
      outcome.error ??
      (succeeded
        ? null
        : outcome.statusCode !== null && outcome.statusCode < 400 && outcome.statusCode >= 300
          ? `redirect (${outcome.statusCode}) not followed`
          : `HTTP ${outcome.statusCode}`);
    if (next) await scheduler.schedule(tenantId, deliveryId, next.toISOString());
    const recorded = await recordAttempt(db, tenantId, deliveryId, token, {
      attempt: {
        attempt,
        at: sentAt.toISOString(),
        status_code: outcome.statusCode,
        latency_ms: outcome.latencyMs,
        error,
      },
      state,
      nextAttemptAt: next?.toISOString() ?? null,
      at: finished.toISOString(),
      expiresAtEpoch: retainedUntil(sentAt),
    });
    if (recorded) await settleWakeUps();
    await updateEndpointHealth(endpoint, succeeded, gone, finished);
    logger.debug(
      { tenant_id: tenantId, delivery_id: deliveryId, attempt, status_code: outcome.statusCode, state },
      'webhook attempt',
    );
    return succeeded ? 'delivered' : state === 'pending' ? 'retrying' : 'failed';
  }

  async function updateEndpointHealth(endpoint: StoredEndpoint, succeeded: boolean, gone: boolean, at: Date) {
    const tenantId = endpoint.tenant_id;
    if (succeeded) {
      if (endpoint.failing_since) await markEndpointHealthy(db, tenantId, endpoint.id);
      return;
    }
    if (gone) {
      const reason = 'the endpoint answered 410 Gone';
      if (await disableEndpoint(db, tenantId, endpoint.id, reason, at.toISOString()))
        await reportDisabled(endpoint, reason, at.toISOString());
      return;
    }
    const failingSince = await markEndpointFailing(db, tenantId, endpoint.id, at.toISOString());
    if (failingSince && at.getTime() - Date.parse(failingSince) >= options.disableAfterFailingMs) {
      const days = Math.round(options.disableAfterFailingMs / 86_400_000);
      const reason = `every delivery attempt failed for ${days} days (since ${failingSince})`;
      if (await disableEndpoint(db, tenantId, endpoint.id, reason, at.toISOString()))
        await reportDisabled(endpoint, reason, at.toISOString());
    }
  }

  /**
   * The bus consumer: one delivery per enabled endpoint whose filter takes the event, each
   * persisted before its first attempt. Idempotent: the delivery id is derived from the event id
   * and the endpoint, so a redelivered event finds its deliveries made and makes nothing new.
   */
  async function fromBusEvent(event: BusEvent): Promise<{ created: string[] }> {
    if (!event.type.endsWith(BUS_VERSION_SUFFIX)) {
      logger.debug({ type: event.type }, 'bus event of another version: not a webhook');
      return { created: [] };
    }
    const type = event.type.slice(0, -BUS_VERSION_SUFFIX.length);
    const payload: WebhookPayload = {
      id: event.id,
      type,
      created_at: event.time,
      tenant_id: event.tenant_id,
      data: event.data,
    };
    const endpoints = (await allEndpoints(db, event.tenant_id)).filter(
      (endpoint) =>
        endpoint.status === 'enabled' && (!endpoint.event_types || endpoint.event_types.includes(type)),
    );
    const created: { delivery: StoredDelivery; endpoint: StoredEndpoint }[] = [];
    for (const endpoint of endpoints) {
      const deliveryId = seededId('del', Date.parse(event.time) || 0, `${event.id}#${endpoint.id}`);
      const delivery = await enqueue(event.tenant_id, endpoint.id, deliveryId, payload, null);
      if (delivery) created.push({ delivery, endpoint });
    }
    if (firstAttemptIsImmediate()) {
      const limit = pLimit(4);
      await Promise.all(
        created.map((known) => limit(() => deliver(event.tenant_id, known.delivery.id, undefined, known))),
      );
    }
    return { created: created.map(({ delivery }) => delivery.id) };
  }

  /** A new delivery of `payload` to one endpoint (test events, replays), attempted now. */
  async function deliverNow(
    tenantId: string,
    endpoint: StoredEndpoint,
    deliveryId: string,
    payload: WebhookPayload,
    replayOf: string | null,
  ): Promise<StoredDelivery> {
    const delivery = await enqueue(tenantId, endpoint.id, deliveryId, payload, replayOf);
    if (!delivery) throw new Error(`delivery ${deliveryId} exists already`);
    if (firstAttemptIsImmediate()) await deliver(tenantId, deliveryId, undefined, { delivery, endpoint });
    return (await getDelivery(db, tenantId, deliveryId, now())) ?? delivery;
  }

  return { fromBusEvent, deliver, deliverNow };
}

export type WebhookDeliverer = ReturnType<typeof createWebhookDeliverer>;
