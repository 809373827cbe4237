import type { Db } from '../db/client.js';
import type { Page, PageRequest } from '../db/pagination.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors/errors.js';
import { newId } from '../ids.js';
import { checkedAddresses, RefusedUrlError, type Resolver } from './address-guard.js';
import type { WebhookDeliverer } from './deliverer.js';
import {
  deleteEndpoint,
  getDelivery,
  getEndpoint,
  listDeliveries,
  listEndpoints,
  markSlotReleased,
  type PreviousSecret,
  previousSecretsAttribute,
  putEndpoint,
  releaseEndpointSlot,
  SINGLE_PREVIOUS_SECRET_ATTRIBUTES,
  type StoredDelivery,
  type StoredEndpoint,
  takeEndpointSlot,
  unexpiredPreviousSecrets,
  updateEndpoint,
} from './repository.js';
import type {
  CreateWebhookEndpoint,
  UpdateWebhookEndpoint,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookPayload,
} from './schema.js';
import type { StoredSecret, WebhookSecrets } from './secrets.js';
import { newWebhookSecret } from './signing.js';

/** How long the secret a rotation replaces keeps signing after that rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

/**
 * At most this many previous secrets sign beside the current one: it bounds the item and the
 * signature header. Rotations are rarely that close together; one past it stops the previous
 * secret with the earliest expiry early.
 */
export const MAX_PREVIOUS_SECRETS = 5;

export interface WebhookServiceOptions {
  allowPrivateUrls: boolean;
  resolve: Resolver;
  secrets: WebhookSecrets;
  /** At most this many endpoints per tenant (config `webhookMaxEndpoints`). */
  maxEndpoints: number;
  now: () => Date;
}

function toPublicEndpoint(endpoint: StoredEndpoint, now: Date): WebhookEndpoint {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    event_types: endpoint.event_types as WebhookEndpoint['event_types'],
    status: endpoint.status,
    disabled_reason: endpoint.disabled_reason,
    disabled_at: endpoint.disabled_at,
    failing_since: endpoint.failing_since,
    // Until then some previous secret still signs (the latest overlap's end); expiry is checked on
    // read, so an overlap that ended is no longer reported.
    previous_secret_expires_at: unexpiredPreviousSecrets(endpoint, now)[0]?.expires_at ?? null,
    created_at: endpoint.created_at,
    updated_at: endpoint.updated_at,
  };
}

/**
 * When the next attempt is made: the due time, or, while an attempt holds the delivery (in flight,
 * or its worker stopped), the end of its lease, when a retry takes over should it never finish.
 */
function nextRetryAt(delivery: StoredDelivery): string | null {
  const { next_attempt_at: due, lease_until: lease } = delivery;
  return lease && (!due || lease > due) ? lease : due;
}

export function toPublicDelivery(delivery: StoredDelivery): WebhookDelivery {
  return {
    id: delivery.id,
    endpoint_id: delivery.endpoint_id,
    event_id: delivery.event_id,
    event_type: delivery.event_type,
    state: delivery.state,
    attempts: delivery.attempts,
    status_code: delivery.status_code,
    latency_ms: delivery.latency_ms,
    last_error: delivery.last_error,
    next_retry_at: delivery.state === 'pending' ? nextRetryAt(delivery) : null,
    replay_of: delivery.replay_of,
    created_at: delivery.created_at,
    updated_at: delivery.updated_at,
    attempt_log: delivery.attempt_log,
  };
}

const endpointNotFound = (id: string) =>
  new NotFoundError(`No webhook endpoint ${id}.`, 'WEBHOOK_ENDPOINT_NOT_FOUND');

/** Endpoints (CRUD, rotation), test events, the delivery log and replays, for one tenant at a time. */
export function createWebhookService(db: Db, deliverer: WebhookDeliverer, options: WebhookServiceOptions) {
  const { now, secrets } = options;

  /** The version condition of a secret change: of two concurrent ones, only one applies. */
  const atVersion = (version: number) =>
    version === 0
      ? { expression: 'attribute_not_exists(secret_version)', values: {} }
      : { expression: 'secret_version = :version', values: { ':version': version } };

  /** An envelope for a stored secret: kept as it is when sealed already, sealed when plain (legacy). */
  async function envelopeOf(tenantId: string, endpointId: string, stored: StoredSecret) {
    if (stored.envelope) return stored.envelope;
    if (stored.plain === null) throw new Error(`webhook endpoint ${endpointId} has no secret`);
    return secrets.seal(tenantId, endpointId, stored.plain);
  }

  /** The previous secrets still signing at `at`, each sealed (now, if it was still plain). */
  async function sealedPreviousSecrets(tenantId: string, endpoint: StoredEndpoint, at: Date) {
    return Promise.all(
      unexpiredPreviousSecrets(endpoint, at).map(
        async (previous): Promise<PreviousSecret> => ({
          ...previous,
          secret: { envelope: await envelopeOf(tenantId, endpoint.id, previous.secret), plain: null },
        }),
      ),
    );
  }

  /**
   * An endpoint stored before secrets were sealed keeps its plain secrets until its next write
   * (a PATCH or a rotation): then they are sealed and the plain attributes removed. Previous
   * secrets whose overlap ended are dropped then too. Conditional on the version, so a rotation
   * racing it wins and nothing it wrote is overwritten.
   */
  async function sealAndPrune(tenantId: string, endpoint: StoredEndpoint): Promise<StoredEndpoint> {
    const at = now();
    const stillSigning = unexpiredPreviousSecrets(endpoint, at);
    const untidy =
      !endpoint.secret.envelope ||
      stillSigning.length < endpoint.previous_secrets.length ||
      stillSigning.some((previous) => !previous.secret.envelope);
    if (!untidy) return endpoint;
    const previous = await sealedPreviousSecrets(tenantId, endpoint, at);
    const set: Record<string, unknown> = {
      secret_envelope: await envelopeOf(tenantId, endpoint.id, endpoint.secret),
      secret_version: endpoint.secret_version + 1,
    };
    // A previous secret of the older single-slot shape moves into the list (its attributes go).
    const remove: string[] = ['secret', ...SINGLE_PREVIOUS_SECRET_ATTRIBUTES];
    if (previous.length) set.previous_secrets = previousSecretsAttribute(previous);
    else remove.push('previous_secrets');
    const tidied = await updateEndpoint(
      db,
      tenantId,
      endpoint.id,
      { set, remove },
      atVersion(endpoint.secret_version),
    );
    return tidied ?? endpoint;
  }

  /**
   * The URL policy: http(s) only; https unless private URLs are allowed (plain http is only for
   * local receivers); no credentials in the URL; and, unless private URLs are allowed, a host
   * whose every address is public. Checked here and again before every attempt.
   */
  async function checkUrl(url: string, path = 'url'): Promise<void> {
    const refuse = (message: string) =>
      new ValidationError('The webhook URL is refused.', [{ path, message }], 'WEBHOOK_URL_REFUSED');
    const parsed = new URL(url);
    if (parsed.username || parsed.password) throw refuse('credentials in the URL are not accepted');
    if (options.allowPrivateUrls) return;
    if (parsed.protocol !== 'https:') throw refuse('must be an https URL');
    try {
      await checkedAddresses(parsed, options.resolve);
    } catch (error) {
      if (error instanceof RefusedUrlError) throw refuse(error.message);
      throw error;
    }
  }

  async function load(tenantId: string, endpointId: string): Promise<StoredEndpoint> {
    const endpoint = await getEndpoint(db, tenantId, endpointId);
    if (!endpoint) throw endpointNotFound(endpointId);
    return endpoint;
  }

  const ensureEnabled = (endpoint: StoredEndpoint) => {
    if (endpoint.status !== 'enabled')
      throw new ConflictError(
        `Webhook endpoint ${endpoint.id} is disabled (${endpoint.disabled_reason ?? 'no reason'}); enable it first.`,
        'WEBHOOK_ENDPOINT_DISABLED',
      );
  };

  /** Creation once a slot is taken (`create` gives the slot back when this fails). */
  async function createInSlot(
    tenantId: string,
    input: CreateWebhookEndpoint,
  ): Promise<WebhookEndpoint & { secret: string }> {
    const createdAt = now();
    const id = newId('whe', createdAt.getTime());
    const secret = newWebhookSecret();
    const endpoint: StoredEndpoint = {
      id,
      tenant_id: tenantId,
      url: input.url,
      description: input.description ?? null,
      event_types: input.event_types ?? null,
      status: 'enabled',
      disabled_reason: null,
      disabled_at: null,
      failing_since: null,
      secret: { envelope: await secrets.seal(tenantId, id, secret), plain: null },
      previous_secrets: [],
      secret_version: 1,
      created_at: createdAt.toISOString(),
      updated_at: createdAt.toISOString(),
    };
    await putEndpoint(db, tenantId, endpoint);
    return { ...toPublicEndpoint(endpoint, createdAt), secret };
  }

  return {
    async create(
      tenantId: string,
      input: CreateWebhookEndpoint,
    ): Promise<WebhookEndpoint & { secret: string }> {
      await checkUrl(input.url);
      if (!(await takeEndpointSlot(db, tenantId, options.maxEndpoints, now().getTime())))
        throw new ConflictError(
          `A tenant has at most ${options.maxEndpoints} webhook endpoints; delete one first.`,
          'WEBHOOK_ENDPOINT_LIMIT',
        );
      try {
        return await createInSlot(tenantId, input);
      } catch (error) {
        await releaseEndpointSlot(db, tenantId, now().getTime());
        throw error;
      }
    },

    async list(tenantId: string, page: PageRequest): Promise<Page<WebhookEndpoint>> {
      const result = await listEndpoints(db, tenantId, page);
      const at = now();
      return {
        data: result.data.map((endpoint) => toPublicEndpoint(endpoint, at)),
        next_cursor: result.next_cursor,
      };
    },

    async get(tenantId: string, endpointId: string): Promise<WebhookEndpoint> {
      return toPublicEndpoint(await load(tenantId, endpointId), now());
    },

    async update(
      tenantId: string,
      endpointId: string,
      patch: UpdateWebhookEndpoint,
    ): Promise<WebhookEndpoint> {
      if (patch.url !== undefined) await checkUrl(patch.url);
      const at = now().toISOString();
      const set: Record<string, unknown> = { updated_at: at };
      const remove: string[] = [];
      if (patch.url !== undefined) set.url = patch.url;
      if (patch.event_types !== undefined) {
        if (patch.event_types === null) remove.push('event_types');
        else set.event_types = patch.event_types;
      }
      if (patch.description !== undefined) {
        if (patch.description === null) remove.push('description');
        else set.description = patch.description;
      }
      if (patch.status === 'enabled') {
        set.status = 'enabled';
        remove.push('disabled_reason', 'disabled_at', 'failing_since');
      } else if (patch.status === 'disabled') {
        // Disabling twice keeps the first reason and time.
        const current = await load(tenantId, endpointId);
        if (current.status === 'enabled')
          Object.assign(set, {
            status: 'disabled',
            disabled_reason: 'disabled by the tenant',
            disabled_at: at,
          });
      }
      const updated = await updateEndpoint(db, tenantId, endpointId, { set, remove });
      if (!updated) throw endpointNotFound(endpointId);
      return toPublicEndpoint(await sealAndPrune(tenantId, updated), now());
    },

    async remove(tenantId: string, endpointId: string): Promise<void> {
      if (!(await deleteEndpoint(db, tenantId, endpointId))) throw endpointNotFound(endpointId);
      const nowMs = now().getTime();
      if (await markSlotReleased(db, tenantId, endpointId, nowMs))
        await releaseEndpointSlot(db, tenantId, nowMs);
    },

    /**
     * A new secret; the current one keeps signing beside it for 24 h (ROTATION_OVERLAP_MS), and so
     * do the secrets earlier rotations replaced, each until its own expiry: a rotation retried
     * after a lost answer (rotation takes no Idempotency-Key) or two concurrent ones must not drop
     * the secret receivers still verify with.
     */
    async rotateSecret(
      tenantId: string,
      endpointId: string,
    ): Promise<{ id: string; secret: string; previous_secret_expires_at: string }> {
      for (;;) {
        const current = await load(tenantId, endpointId);
        const at = now();
        const secret = newWebhookSecret();
        const expiresAt = new Date(at.getTime() + ROTATION_OVERLAP_MS).toISOString();
        const version = current.secret_version + 1;
        // The secret being replaced keeps its envelope (sealed now if it was still plain), ahead
        // of the earlier ones still signing; those whose overlap ended are dropped, and past the
        // cap the one with the earliest expiry.
        const replaced: PreviousSecret = {
          secret: { envelope: await envelopeOf(tenantId, endpointId, current.secret), plain: null },
          expires_at: expiresAt,
          version,
        };
        const previous = [replaced, ...(await sealedPreviousSecrets(tenantId, current, at))].slice(
          0,
          MAX_PREVIOUS_SECRETS,
        );
        const sealed = await secrets.seal(tenantId, endpointId, secret);
        // Conditional on the version read: of two concurrent rotations, one writes first and the
        // other reads again, so the second keeps the secret the first replaced.
        const updated = await updateEndpoint(
          db,
          tenantId,
          endpointId,
          {
            set: {
              secret_envelope: sealed,
              previous_secrets: previousSecretsAttribute(previous),
              secret_version: version,
              updated_at: at.toISOString(),
            },
            // A previous secret of the older single-slot shape is in the list now.
            remove: ['secret', ...SINGLE_PREVIOUS_SECRET_ATTRIBUTES],
          },
          atVersion(current.secret_version),
        );
        const rotated =
          updated !== undefined ||
          // Refused by this very rotation (the SDK retried it after a lost answer): rotating again
          // would drop the secret receivers verify with, in favour of one nobody was shown.
          (await getEndpoint(db, tenantId, endpointId))?.secret.envelope?.ciphertext === sealed.ciphertext;
        if (rotated) return { id: endpointId, secret, previous_secret_expires_at: expiresAt };
      }
    },

    /** Sends a `webhook.test` event to this endpoint alone, whatever its filter. */
    async sendTest(tenantId: string, endpointId: string): Promise<WebhookDelivery> {
      const endpoint = await load(tenantId, endpointId);
      ensureEnabled(endpoint);
      const at = now();
      const payload: WebhookPayload = {
        id: newId('evt', at.getTime()),
        type: 'webhook.test',
        created_at: at.toISOString(),
        tenant_id: tenantId,
        data: { endpoint_id: endpointId, message: 'A test event from Tollgate.' },
      };
      return toPublicDelivery(
        await deliverer.deliverNow(tenantId, endpoint, newId('del', at.getTime()), payload, null),
      );
    },

    async listDeliveries(
      tenantId: string,
      endpointId: string,
      page: PageRequest,
    ): Promise<Page<WebhookDelivery>> {
      await load(tenantId, endpointId);
      const result = await listDeliveries(db, tenantId, endpointId, page, now());
      return { data: result.data.map(toPublicDelivery), next_cursor: result.next_cursor };
    },

    /**
     * Sends a delivery's event again, as a new delivery with its own attempts (`replay_of` names
     * the original). The body and `webhook-id` are the original's, so receivers that dedupe on
     * the id still can.
     */
    async replay(tenantId: string, deliveryId: string): Promise<WebhookDelivery> {
      // A delivery past its retention is gone, as if TTL had deleted it already.
      const original = await getDelivery(db, tenantId, deliveryId, now());
      if (!original)
        throw new NotFoundError(`No webhook delivery ${deliveryId}.`, 'WEBHOOK_DELIVERY_NOT_FOUND');
      const endpoint = await getEndpoint(db, tenantId, original.endpoint_id);
      if (!endpoint)
        throw new NotFoundError(
          `The endpoint of delivery ${deliveryId} was deleted.`,
          'WEBHOOK_ENDPOINT_NOT_FOUND',
        );
      ensureEnabled(endpoint);
      const payload = JSON.parse(original.payload) as WebhookPayload;
      const replayed = await deliverer.deliverNow(
        tenantId,
        endpoint,
        newId('del', now().getTime()),
        payload,
        original.id,
      );
      return toPublicDelivery(replayed);
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
