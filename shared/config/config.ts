import { z } from 'zod';
import { isTenantKeyShaped } from '../api-keys/secrets.js';

/** Comma-separated seconds, e.g. "0,5,300": the webhook retry schedule. */
const secondsList = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'a comma-separated list of whole seconds')
  .transform((value) => value.split(',').map(Number));

const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .transform((value) => value === 'true' || value === '1');

/**
 * The environment Tollgate reads, validated once at start-up. This is the only module that
 * looks at `process.env`; everything else receives a `Config`.
 */
const EnvironmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  TOLLGATE_DATA_DIR: z.string().min(1).default('.tollgate'),
  TOLLGATE_ADMIN_KEY: z
    .string()
    .min(24, 'the operator key must be at least 24 characters')
    // Requests with a tenant-shaped key are only checked as tenant keys (authenticate.ts).
    .refine(
      (key) => !isTenantKeyShaped(key),
      'the operator key must not have the shape of a tenant key (tg_…)',
    )
    .optional(),
  TOLLGATE_OPERATOR_KEY_SECRET_ARN: z.string().min(1).max(2048).optional(),
  TOLLGATE_OPERATOR_KEY_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
  TOLLGATE_DYNAMODB_ENDPOINT: z.url().optional(),
  TOLLGATE_TABLE_NAME: z.string().min(3).max(255).default('tollgate'),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  TOLLGATE_ALLOW_PRIVATE_URLS: booleanFlag.default(false),
  TOLLGATE_OPENAI_BASE_URL: z.url().default('https://api.openai.com'),
  TOLLGATE_ANTHROPIC_BASE_URL: z.url().default('https://api.anthropic.com'),
  TOLLGATE_ROLLUP_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(60),
  TOLLGATE_ROLLUP_LAG_SECONDS: z.coerce.number().min(0).default(30),
  // A window ends between two ingestion instants, and one request's events (up to 1000) share
  // one instant: a cap well above that always lets a window make progress.
  TOLLGATE_ROLLUP_MAX_EVENTS: z.coerce.number().int().min(5_000).default(50_000),
  TOLLGATE_BILLING_PULL_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(3600),
  TOLLGATE_BILLING_BACKFILL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  TOLLGATE_BILLING_TRAILING_DAYS: z.coerce.number().int().min(1).max(31).default(3),
  TOLLGATE_PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  TOLLGATE_PROVIDER_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(5),
  TOLLGATE_PROVIDER_RETRY_BASE_MS: z.coerce.number().int().min(1).default(1000),
  TOLLGATE_PROVIDER_MAX_RETRY_AFTER_SECONDS: z.coerce.number().int().min(0).default(120),
  TOLLGATE_CREDENTIALS_KMS_KEY_ID: z.string().min(1).max(2048).optional(),
  TOLLGATE_WEBHOOK_RETRY_SCHEDULE: secondsList.default([0, 5, 300, 1800, 7200, 18000, 36000, 36000]),
  /** On AWS: the SQS queue whose delayed messages wake webhook retries (unset: due markers and the webhook-retry job). */
  TOLLGATE_WEBHOOK_RETRY_QUEUE_URL: z.url().optional(),
  TOLLGATE_WEBHOOK_MAX_ENDPOINTS: z.coerce.number().int().min(1).max(1000).default(20),
  TOLLGATE_WEBHOOK_DELIVERY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  TOLLGATE_API_KEY_CACHE_SECONDS: z.coerce.number().min(0).max(300).default(5),
  TOLLGATE_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(50),
  TOLLGATE_RATE_LIMIT_BURST: z.coerce.number().int().positive().default(200),
  TOLLGATE_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  TOLLGATE_EVENT_BUS_NAME: z.string().min(1).max(256).optional(),
  TOLLGATE_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export interface Config {
  port: number;
  dataDir: string;
  adminKey: string | undefined;
  /** Lambda: the Secrets Manager secret holding the operator key; wins over `adminKey` when set. */
  operatorKeySecretArn: string | undefined;
  /** How long a container keeps the operator key it read before reading it again (rotation). */
  operatorKeyTtlSeconds: number;
  dynamoEndpoint: string | undefined;
  tableName: string;
  awsRegion: string;
  allowPrivateUrls: boolean;
  openaiBaseUrl: string;
  anthropicBaseUrl: string;
  rollupIntervalSeconds: number;
  /** The rollup leaves events this recent for the next run (a slow, retried write is never skipped). */
  rollupLagSeconds: number;
  rollupMaxEvents: number;
  billingPullIntervalSeconds: number;
  /** Provider billing pulls: how far back a new connection starts, and how many recent days every run re-pulls. */
  billing: { backfillDays: number; trailingDays: number };
  /** Calls to provider APIs: per-request timeout, retries on 429/5xx/timeouts, backoff base, longest `Retry-After` waited for. */
  providerHttp: { timeoutMs: number; maxRetries: number; retryBaseMs: number; maxRetryAfterSeconds: number };
  /** The KMS key that wraps credential data keys; unset, a key file in the data dir does. */
  credentialsKmsKeyId: string | undefined;
  webhookRetrySchedule: number[];
  webhookRetryQueueUrl: string | undefined;
  /** A webhook delivery is kept this many days after its last attempt. */
  webhookDeliveryRetentionDays: number;
  /** At most this many webhook endpoints per tenant. */
  webhookMaxEndpoints: number;
  /** How long a tenant key read from the table authenticates without another read (0: never cached). */
  apiKeyCacheSeconds: number;
  rateLimit: { perSecond: number; burst: number };
  maxBodyBytes: number;
  /** The EventBridge bus on AWS; local mode uses the in-process bus. */
  eventBusName: string | undefined;
  logLevel: z.infer<typeof EnvironmentSchema>['TOLLGATE_LOG_LEVEL'];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment into a `Config`, or throws a `ConfigError` naming every bad variable. */
export function loadConfig(environment: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvironmentSchema.safeParse(withoutEmptyStrings(environment));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const env = parsed.data;
  return {
    port: env.PORT,
    dataDir: env.TOLLGATE_DATA_DIR,
    adminKey: env.TOLLGATE_ADMIN_KEY,
    operatorKeySecretArn: env.TOLLGATE_OPERATOR_KEY_SECRET_ARN,
    operatorKeyTtlSeconds: env.TOLLGATE_OPERATOR_KEY_TTL_SECONDS,
    dynamoEndpoint: env.TOLLGATE_DYNAMODB_ENDPOINT,
    tableName: env.TOLLGATE_TABLE_NAME,
    awsRegion: env.AWS_REGION,
    allowPrivateUrls: env.TOLLGATE_ALLOW_PRIVATE_URLS,
    openaiBaseUrl: env.TOLLGATE_OPENAI_BASE_URL,
    anthropicBaseUrl: env.TOLLGATE_ANTHROPIC_BASE_URL,
    rollupIntervalSeconds: env.TOLLGATE_ROLLUP_INTERVAL_SECONDS,
    rollupLagSeconds: env.TOLLGATE_ROLLUP_LAG_SECONDS,
    rollupMaxEvents: env.TOLLGATE_ROLLUP_MAX_EVENTS,
    billingPullIntervalSeconds: env.TOLLGATE_BILLING_PULL_INTERVAL_SECONDS,
    billing: {
      backfillDays: env.TOLLGATE_BILLING_BACKFILL_DAYS,
      trailingDays: env.TOLLGATE_BILLING_TRAILING_DAYS,
    },
    providerHttp: {
      timeoutMs: env.TOLLGATE_PROVIDER_TIMEOUT_MS,
      maxRetries: env.TOLLGATE_PROVIDER_MAX_RETRIES,
      retryBaseMs: env.TOLLGATE_PROVIDER_RETRY_BASE_MS,
      maxRetryAfterSeconds: env.TOLLGATE_PROVIDER_MAX_RETRY_AFTER_SECONDS,
    },
    credentialsKmsKeyId: env.TOLLGATE_CREDENTIALS_KMS_KEY_ID,
    webhookRetrySchedule: env.TOLLGATE_WEBHOOK_RETRY_SCHEDULE,
    webhookRetryQueueUrl: env.TOLLGATE_WEBHOOK_RETRY_QUEUE_URL,
    webhookDeliveryRetentionDays: env.TOLLGATE_WEBHOOK_DELIVERY_RETENTION_DAYS,
    webhookMaxEndpoints: env.TOLLGATE_WEBHOOK_MAX_ENDPOINTS,
    apiKeyCacheSeconds: env.TOLLGATE_API_KEY_CACHE_SECONDS,
    rateLimit: { perSecond: env.TOLLGATE_RATE_LIMIT_PER_SECOND, burst: env.TOLLGATE_RATE_LIMIT_BURST },
    maxBodyBytes: env.TOLLGATE_MAX_BODY_BYTES,
    eventBusName: env.TOLLGATE_EVENT_BUS_NAME,
    logLevel: env.TOLLGATE_LOG_LEVEL,
  };
}

// An exported-but-empty variable (`PORT=`) means "use the default", as shells and .env files intend.
function withoutEmptyStrings(environment: Record<string, string | undefined>) {
  return Object.fromEntries(
    Object.entries(environment).filter(([, value]) => value !== undefined && value !== ''),
  );
}
