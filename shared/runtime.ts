import { fixedOperatorKey, type OperatorKeySource } from './api-keys/operator-key.js';
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
}

function createServices(db: Db) {
  const apiKeys = createApiKeyService(db);
  const pricing = createPricingService(db);
  return {
    apiKeys,
    tenants: createTenantService(db, apiKeys),
    pricing,
    usage: createUsageService(db, pricing),
    outcomes: createOutcomeService(db),
  };
}

export interface RuntimeParts {
  config: Config;
  bus: EventBus;
  /** Defaults to `config.adminKey`; the local runner passes the one it generated, Lambda its secret. */
  operatorKey?: string | OperatorKeySource | undefined;
  logger?: Logger;
  db?: Db;
}

export function createRuntime(parts: RuntimeParts): Runtime {
  const { config } = parts;
  const logger = parts.logger ?? createLogger(config.logLevel);
  const db =
    parts.db ??
    createDb({ tableName: config.tableName, region: config.awsRegion, endpoint: config.dynamoEndpoint });
  const jobs = new JobRegistry().register(
    createKpiRollupJob(db, parts.bus, logger, {
      lagSeconds: config.rollupLagSeconds,
      maxEvents: config.rollupMaxEvents,
    }),
  );
  return {
    config,
    logger,
    db,
    bus: parts.bus,
    jobs,
    rateLimiter: new TokenBucketLimiter(config.rateLimit),
    operatorKey: operatorKeySource(parts.operatorKey ?? config.adminKey),
    services: createServices(db),
  };
}

function operatorKeySource(key: string | OperatorKeySource | undefined): OperatorKeySource {
  return typeof key === 'object' ? key : fixedOperatorKey(key);
}
