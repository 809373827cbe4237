import { fixedOperatorKey, type OperatorKeySource } from './api-keys/operator-key.js';
import { createApiKeyService } from './api-keys/service.js';
import {
  type DataKeyProvider,
  DeferredDataKeyProvider,
  LocalKeyFileProvider,
  UnconfiguredKeyProvider,
} from './billing/credentials.js';
import { createBillingPullJob } from './billing/job.js';
import { createBillingService } from './billing/service.js';
import { createBudgetService } from './budgets/service.js';
import type { EventBus } from './bus/bus.js';
import type { Config } from './config/config.js';
import { createDb, type Db } from './db/client.js';
import { TokenBucketLimiter } from './http/rate-limiter.js';
import { createIdempotencyService } from './idempotency/idempotency.js';
import { JobRegistry } from './jobs/registry.js';
import { createKpiRollupJob } from './kpis/job.js';
import { createLogger, type Logger } from './observability/logger.js';
import { createOutcomeService } from './outcomes/service.js';
import { createPricingService } from './pricing/service.js';
import { createTenantService } from './tenants/service.js';
import { createUsageService } from './usage/service.js';
import { createWebhooks, type WebhookOptions, type Webhooks } from './webhooks/index.js';

/**
 * The composition root: what one process (a Lambda container, or the local runner) builds once
 * and every request shares. Handlers, jobs and consumers receive it; nothing else builds clients.
 */
export interface Runtime {
  config: Config;
  logger: Logger;
  db: Db;
  bus: EventBus;
  jobs: JobRegistry;
  rateLimiter: TokenBucketLimiter;
  /** The operator key in force (fixed, or read from Secrets Manager on Lambda). */
  operatorKey: OperatorKeySource;
  services: ReturnType<typeof createServices>;
  /** Webhook delivery: the bus consumer and the delivery step (`deliverer`) entry points call. */
  webhooks: Webhooks;
  /** The clock services, jobs and routes read (tests move it; the system clock otherwise). Webhook signatures keep the wall clock. */
  now: () => Date;
}

function createServices(
  db: Db,
  config: Config,
  bus: EventBus,
  logger: Logger,
  now: () => Date,
  webhooks: Webhooks,
  keyProvider: DataKeyProvider,
) {
  const apiKeys = createApiKeyService(db, { now, cacheTtlMs: config.apiKeyCacheSeconds * 1000 });
  const pricing = createPricingService(db, now);
  const budgets = createBudgetService(db, pricing, bus, {
    now,
    logger,
    rollupLagMs: config.rollupLagSeconds * 1000,
  });
  return {
    apiKeys,
    tenants: createTenantService(db, apiKeys, now),
    pricing,
    budgets,
    usage: createUsageService(db, pricing, now, budgets),
    outcomes: createOutcomeService(db, now),
    idempotency: createIdempotencyService(db, now),
    webhooks: webhooks.service,
    billing: createBillingService({
      db,
      bus,
      logger,
      keyProvider,
      baseUrls: { openai: config.openaiBaseUrl, anthropic: config.anthropicBaseUrl },
      http: config.providerHttp,
      backfillDays: config.billing.backfillDays,
      trailingDays: config.billing.trailingDays,
      now,
    }),
  };
}

/**
 * Where credential data keys are wrapped: KMS when the operator configured a key, else the data
 * dir's key file where the process may keep one (local mode), else nowhere (a clear error).
 */
function credentialKeyProvider(config: Config, localKeyFile: boolean): DataKeyProvider {
  const { credentialsKmsKeyId: keyId, awsRegion } = config;
  if (keyId) {
    // KMS is only needed to seal or open a credential or signing secret: its client loads then.
    return new DeferredDataKeyProvider('kms', async () =>
      (await import('./billing/kms-data-keys.js')).createKmsDataKeyProvider(awsRegion, keyId),
    );
  }
  return localKeyFile ? LocalKeyFileProvider.inDataDir(config.dataDir) : new UnconfiguredKeyProvider();
}

export interface RuntimeParts {
  config: Config;
  bus: EventBus;
  /** Defaults to `config.adminKey`; the local runner passes the one it generated, Lambda its secret. */
  operatorKey?: string | OperatorKeySource | undefined;
  logger?: Logger;
  db?: Db;
  /** Webhook delivery settings beyond config (tests: a short timeout, a fake resolver, a clock). */
  webhooks?: WebhookOptions;
  /** The clock of services, jobs and routes (tests move it to a new period); the system clock by default. */
  now?: () => Date;
  /** Whether a credential key file may live in the data dir when no KMS key is configured (not on Lambda). */
  localKeyFile?: boolean;
}

export function createRuntime(parts: RuntimeParts): Runtime {
  const { config } = parts;
  const logger = parts.logger ?? createLogger(config.logLevel);
  const db =
    parts.db ??
    createDb({ tableName: config.tableName, region: config.awsRegion, endpoint: config.dynamoEndpoint });
  const now = parts.now ?? (() => new Date());
  // One key for provider credentials and webhook signing secrets: both are sealed the same way.
  const keyProvider = credentialKeyProvider(config, parts.localKeyFile ?? true);
  // Webhooks keep the wall clock (unless a test gives them one): receivers check the signed timestamp
  // against theirs.
  const webhooks = createWebhooks(db, logger, parts.bus, config, keyProvider, parts.webhooks);
  const services = createServices(db, config, parts.bus, logger, now, webhooks, keyProvider);
  const jobs = new JobRegistry()
    .register(
      createKpiRollupJob(db, parts.bus, logger, {
        lagSeconds: config.rollupLagSeconds,
        maxEvents: config.rollupMaxEvents,
        budgets: services.budgets,
        now,
      }),
    )
    .register(webhooks.retryJob)
    .register(createBillingPullJob(db, services.billing, logger, now));
  return {
    config,
    logger,
    db,
    bus: parts.bus,
    jobs,
    rateLimiter: new TokenBucketLimiter(config.rateLimit),
    operatorKey: operatorKeySource(parts.operatorKey ?? config.adminKey),
    services,
    webhooks,
    now,
  };
}

function operatorKeySource(key: string | OperatorKeySource | undefined): OperatorKeySource {
  return typeof key === 'object' ? key : fixedOperatorKey(key);
}
