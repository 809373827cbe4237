import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { loadConfig } from '../shared/config/config.js';

/** The jobs EventBridge Scheduler runs on AWS (`webhook-retry` is local-only: SQS delays do it there). */
export type ScheduledJob = 'kpi-rollup' | 'billing-pull';

/**
 * What differs between stages, resolved once from CDK context (`-c stage=prod -c rollupRate=5m`).
 * Only `prod` is production: deletion protection, resources kept on stack deletion, longer logs.
 */
export interface StageSettings {
  stage: string;
  production: boolean;
  /** For stateful resources (table, key, secret, logs): kept in prod, deleted with a dev stack. */
  removalPolicy: RemovalPolicy;
  logRetention: RetentionDays;
  rates: Record<ScheduledJob, Duration>;
  /** API Gateway's stage throttling: the total across all Lambda containers. */
  apiThrottle: { rateLimit: number; burstLimit: number };
  /** Subscribed to the alarm topic when set. */
  alarmEmail: string | undefined;
  /**
   * The API's own domain (an ACM certificate in the stack's region covers it); the default
   * execute-api endpoint is then turned off, so callers use only this one.
   */
  customDomain: { domainName: string; certificateArn: string } | undefined;
  /** X-Ray active tracing on every function. */
  tracing: boolean;
}

/** The context keys `cdk -c key=value` accepts, documented in the README's Deploy section. */
export const CONTEXT_KEYS = {
  stage: 'stage',
  rollupRate: 'rollupRate',
  billingPullRate: 'billingPullRate',
  apiRateLimit: 'apiRateLimit',
  apiBurstLimit: 'apiBurstLimit',
  alarmEmail: 'alarmEmail',
  domainName: 'domainName',
  certificateArn: 'certificateArn',
  tracing: 'tracing',
} as const;

const STAGE_NAME = /^[a-z][a-z0-9-]{0,19}$/;

export class StageContextError extends Error {
  override readonly name = 'StageContextError';
}

/**
 * Builds the settings of a stage from context values. Rates default to the intervals local mode
 * uses (shared/config), so both run the jobs equally often unless told otherwise.
 */
export function stageSettings(context: (key: string) => unknown): StageSettings {
  const stage = String(context(CONTEXT_KEYS.stage) ?? 'dev');
  if (!STAGE_NAME.test(stage)) {
    throw new StageContextError(`stage must be lowercase letters, digits and dashes (got "${stage}")`);
  }
  const production = stage === 'prod';
  const defaults = loadConfig({});
  return {
    stage,
    production,
    removalPolicy: production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    logRetention: production ? RetentionDays.SIX_MONTHS : RetentionDays.TWO_WEEKS,
    rates: {
      'kpi-rollup': parseRate(
        CONTEXT_KEYS.rollupRate,
        context(CONTEXT_KEYS.rollupRate),
        defaults.rollupIntervalSeconds,
      ),
      'billing-pull': parseRate(
        CONTEXT_KEYS.billingPullRate,
        context(CONTEXT_KEYS.billingPullRate),
        defaults.billingPullIntervalSeconds,
      ),
    },
    apiThrottle: {
      rateLimit: positiveNumber(CONTEXT_KEYS.apiRateLimit, context(CONTEXT_KEYS.apiRateLimit), 500),
      burstLimit: positiveNumber(CONTEXT_KEYS.apiBurstLimit, context(CONTEXT_KEYS.apiBurstLimit), 1000),
    },
    alarmEmail: optionalString(context(CONTEXT_KEYS.alarmEmail)),
    customDomain: customDomain(
      optionalString(context(CONTEXT_KEYS.domainName)),
      optionalString(context(CONTEXT_KEYS.certificateArn)),
    ),
    tracing: flag(CONTEXT_KEYS.tracing, context(CONTEXT_KEYS.tracing)),
  };
}

const HOSTNAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;

function customDomain(domainName: string | undefined, certificateArn: string | undefined) {
  if (domainName === undefined && certificateArn === undefined) return undefined;
  if (domainName === undefined || certificateArn === undefined) {
    throw new StageContextError(
      `${CONTEXT_KEYS.domainName} and ${CONTEXT_KEYS.certificateArn} go together: give both or neither`,
    );
  }
  if (!HOSTNAME.test(domainName)) {
    throw new StageContextError(
      `${CONTEXT_KEYS.domainName}: expected a lowercase hostname (got "${domainName}")`,
    );
  }
  if (!CERTIFICATE_ARN.test(certificateArn)) {
    throw new StageContextError(
      `${CONTEXT_KEYS.certificateArn}: expected an ACM certificate ARN (got "${certificateArn}")`,
    );
  }
  return { domainName, certificateArn };
}

/** `-c key=true` arrives as the string "true"; cdk.json may hold a real boolean. */
function flag(key: string, value: unknown): boolean {
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new StageContextError(`${key}: expected true or false (got "${String(value)}")`);
}

const RATE = /^(\d+)\s*(m|min|minutes?|h|hours?|d|days?)$/;
const UNIT_SECONDS: Record<string, number> = { m: 60, h: 3600, d: 86_400 };

/**
 * `5m`, `5 minutes`, `1h`, `1 day`. EventBridge Scheduler's finest rate is one minute, so a local
 * interval below that (or not a whole number of minutes) is refused rather than rounded.
 */
export function parseRate(key: string, value: unknown, defaultSeconds: number): Duration {
  const seconds = value === undefined ? defaultSeconds : rateSeconds(key, String(value).trim());
  if (seconds < 60 || seconds % 60 !== 0) {
    throw new StageContextError(
      `${key}: a schedule rate must be a whole number of minutes (got ${seconds} s)`,
    );
  }
  return Duration.minutes(seconds / 60);
}

function rateSeconds(key: string, text: string): number {
  const match = RATE.exec(text);
  if (!match?.[1] || !match[2]) {
    throw new StageContextError(`${key}: expected a rate like "5m", "1 hour" or "1d" (got "${text}")`);
  }
  const unit = match[2].charAt(0);
  return Number(match[1]) * (UNIT_SECONDS[unit] ?? Number.NaN);
}

function positiveNumber(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new StageContextError(`${key}: expected a positive number (got "${String(value)}")`);
  }
  return number;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
