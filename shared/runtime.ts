import { createApiKeyService } from './api-keys/service.js';
import type { EventBus } from './bus/bus.js';
import type { Config } from './config/config.js';
import { createDb, type Db } from './db/client.js';
import { TokenBucketLimiter } from './http/rate-limiter.js';
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
  /** The operator key in force; undefined refuses every operator request. */
  operatorKey: string | undefined;
  services: ReturnType<typeof createServices>;
  /** Webhook delivery: the bus consumer and the delivery step (`deliverer`) entry points call. */
  webhooks: Webhooks;
}

function createServices(db: Db, webhooks: Webhooks) {
  const apiKeys = createApiKeyService(db);
  const pricing = createPricingService(db);
  return {
    apiKeys,
    tenants: createTenantService(db, apiKeys),
    pricing,
    usage: createUsageService(db, pricing),
    outcomes: createOutcomeService(db),
    webhooks: webhooks.service,
  };
}

export interface RuntimeParts {
  config: Config;
  bus: EventBus;
  /** Defaults to `config.adminKey`; the local runner passes the one it generated. */
  operatorKey?: string | undefined;
  logger?: Logger;
  db?: Db;
  /** Webhook delivery settings beyond config (tests: a short timeout, a fake resolver, a clock). */
  webhooks?: WebhookOptions;
}

export function createRuntime(parts: RuntimeParts): Runtime {
  const { config } = parts;
  const logger = parts.logger ?? createLogger(config.logLevel);
  const db =
    parts.db ??
    createDb({ tableName: config.tableName, region: config.awsRegion, endpoint: config.dynamoEndpoint });
  const webhooks = createWebhooks(db, logger, config, parts.webhooks);
  const jobs = new JobRegistry()
    .register(
      createKpiRollupJob(db, parts.bus, logger, {
        lagSeconds: config.rollupLagSeconds,
        maxEvents: config.rollupMaxEvents,
      }),
    )
    .register(webhooks.retryJob);
  return {
    config,
    logger,
    db,
    bus: parts.bus,
    jobs,
    rateLimiter: new TokenBucketLimiter(config.rateLimit),
    operatorKey: parts.operatorKey ?? config.adminKey,
    services: createServices(db, webhooks),
    webhooks,
  };
}
