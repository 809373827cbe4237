import type { DataKeyProvider } from '../billing/credentials.js';
import type { BusEvent, EventBus, InProcessBus } from '../bus/bus.js';
import type { Db } from '../db/client.js';
import type { Logger } from '../observability/logger.js';
import { type Resolver, systemResolver } from './address-guard.js';
import { createWebhookDeliverer } from './deliverer.js';
import { createWebhookRetryJob } from './job.js';
import { DueMarkerScheduler, type RetryScheduler } from './retry-scheduler.js';
import { WebhookSecrets, type WebhookSecretsOptions } from './secrets.js';
import { createWebhookService } from './service.js';

/** What tests and special deployments may change; everything else comes from config. */
export interface WebhookOptions {
  /** Per attempt; 15 s by default. */
  timeoutMs?: number;
  resolve?: Resolver;
  now?: () => Date;
  retryAfterCapSeconds?: number;
  disableAfterFailingMs?: number;
  /** When attempts wake up: due markers and the webhook-retry job by default; SQS on AWS. */
  retryScheduler?: RetryScheduler;
  /** The cache of opened signing secrets (5 minutes, 1000 secrets by default). */
  secretCache?: WebhookSecretsOptions;
}

export const DEFAULT_TIMEOUT_MS = 15_000;
/** A receiver's Retry-After is honoured up to a day. */
export const DEFAULT_RETRY_AFTER_CAP_SECONDS = 86_400;
/** An endpoint failing for 5 days is disabled. */
export const DEFAULT_DISABLE_AFTER_FAILING_MS = 5 * 86_400_000;

/** The bus type prefixes whose events become webhooks (EventBridge rules match the same prefixes). */
export const WEBHOOK_BUS_PREFIXES = [
  'budget.',
  'anomaly.',
  'billing.',
  'data_quality.',
  'webhook.endpoint_disabled.',
] as const;

/** The webhook capability as one process builds it: service, deliverer and retry job. */
export function createWebhooks(
  db: Db,
  logger: Logger,
  /** Where an endpoint's disabling is announced (`webhook.endpoint_disabled`). */
  bus: EventBus,
  config: {
    webhookRetrySchedule: number[];
    allowPrivateUrls: boolean;
    webhookDeliveryRetentionDays: number;
    webhookMaxEndpoints: number;
  },
  /** Wraps the data keys of sealed signing secrets: the provider-credential key. */
  keys: DataKeyProvider,
  options: WebhookOptions = {},
) {
  const now = options.now ?? (() => new Date());
  const resolve = options.resolve ?? systemResolver;
  const secrets = new WebhookSecrets(keys, options.secretCache);
  const dueMarkers = new DueMarkerScheduler(db);
  const scheduler = options.retryScheduler ?? dueMarkers;
  const deliverer = createWebhookDeliverer(db, logger, scheduler, bus, {
    retrySchedule: config.webhookRetrySchedule,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    allowPrivateUrls: config.allowPrivateUrls,
    resolve,
    retryAfterCapSeconds: options.retryAfterCapSeconds ?? DEFAULT_RETRY_AFTER_CAP_SECONDS,
    disableAfterFailingMs: options.disableAfterFailingMs ?? DEFAULT_DISABLE_AFTER_FAILING_MS,
    retentionMs: config.webhookDeliveryRetentionDays * 86_400_000,
    secrets,
    now,
  });
  return {
    service: createWebhookService(db, deliverer, {
      allowPrivateUrls: config.allowPrivateUrls,
      resolve,
      secrets,
      maxEndpoints: config.webhookMaxEndpoints,
      now,
    }),
    deliverer,
    // With SQS scheduling there are no due markers, and the job finds nothing to do.
    retryJob: createWebhookRetryJob(dueMarkers, deliverer, logger, now),
    scheduler,
    secrets,
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;

/** Wires the webhook consumer to the in-process bus, as EventBridge rules do on AWS. */
export function subscribeWebhooks(bus: InProcessBus, webhooks: Webhooks): void {
  const consume = async (event: BusEvent) => {
    await webhooks.deliverer.fromBusEvent(event);
  };
  for (const prefix of WEBHOOK_BUS_PREFIXES) bus.subscribe(prefix, consume);
}
