import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { WEBHOOK_BUS_PREFIXES } from '../shared/webhooks/index.js';
import type { ScheduledJob } from './stage.js';

/**
 * What a function may touch. The house construct grants exactly this and sets the matching
 * environment variables; nothing else reaches a function's role or environment.
 */
export interface FunctionGrants {
  /** Data-plane access to the table and its indexes (`read`: Get/Query/BatchGet only). */
  table: 'read' | 'readWrite';
  /** events:PutEvents on the Tollgate bus (the Lambda runtime publishes through it). */
  bus?: boolean;
  /** sqs:SendMessage on the webhook retry queue (consuming comes with a `queue` trigger). */
  retryQueue?: boolean;
  /** The provider-credentials key: `dataKeys` = GenerateDataKey + Decrypt (envelope encryption). */
  credentialsKey?: 'dataKeys' | 'decrypt';
  /** secretsmanager:GetSecretValue on the operator key. */
  operatorSecret?: boolean;
}

/** How a function is invoked. A function may have several (webhook delivery: bus and queue). */
export type FunctionTrigger =
  | { kind: 'http' }
  | { kind: 'schedule'; job: ScheduledJob }
  /** An EventBridge rule on the Tollgate bus matching these detail-type prefixes. */
  | { kind: 'bus'; detailTypePrefixes: readonly string[] }
  /** The webhook retry queue, with partial batch failures (functions/sqs-batch.ts). */
  | { kind: 'queue'; batchSize: number };

export interface FunctionSpec {
  /** Short and stable: the function is named `tollgate-<stage>-<name>`. */
  name: string;
  /** The handler file, relative to the repository root; it exports `handler`. */
  entry: string;
  purpose: string;
  triggers: readonly FunctionTrigger[];
  grants: FunctionGrants;
  memorySize: number;
  timeoutSeconds: number;
}

/** The bus events customers receive as webhooks: the prefixes the local bus subscribes to as well. */
export const WEBHOOK_EVENT_PREFIXES = WEBHOOK_BUS_PREFIXES;

/**
 * Every Lambda of Tollgate, one row each. The stack builds a row once its handler file exists, so
 * a capability lands by adding its entry file (and, if new, its row); the infra tests assert every
 * row that is built.
 */
export const FUNCTIONS: readonly FunctionSpec[] = [
  {
    name: 'api',
    entry: 'functions/api/handler.ts',
    purpose: 'The HTTP API (Hono) behind API Gateway',
    triggers: [{ kind: 'http' }],
    // Provider connections seal their keys (dataKeys); test events and replays schedule retries.
    grants: {
      table: 'readWrite',
      bus: true,
      operatorSecret: true,
      credentialsKey: 'dataKeys',
      retryQueue: true,
    },
    memorySize: 1024,
    // API Gateway gives up at 30 s.
    timeoutSeconds: 29,
  },
  {
    name: 'kpi-rollup',
    entry: 'functions/kpi-rollup/handler.ts',
    purpose: 'The kpi-rollup job: new events into KPI cells, anomaly and data-quality notices',
    triggers: [{ kind: 'schedule', job: 'kpi-rollup' }],
    grants: { table: 'readWrite', bus: true },
    memorySize: 1024,
    timeoutSeconds: 300,
  },
  {
    name: 'billing-pull',
    entry: 'functions/billing-pull/handler.ts',
    purpose: 'The billing-pull job: provider usage and cost APIs, reconciliation',
    triggers: [{ kind: 'schedule', job: 'billing-pull' }],
    grants: { table: 'readWrite', bus: true, credentialsKey: 'decrypt' },
    memorySize: 512,
    timeoutSeconds: 900,
  },
  {
    name: 'webhook-delivery',
    entry: 'functions/webhook-delivery/handler.ts',
    purpose: 'Webhook delivery: bus events to customer endpoints, retries through the SQS queue',
    triggers: [
      { kind: 'bus', detailTypePrefixes: WEBHOOK_EVENT_PREFIXES },
      { kind: 'queue', batchSize: 10 },
    ],
    // Signing secrets are sealed: delivery opens them (decrypt only; the API seals them). The bus:
    // an endpoint it disables is announced to the tenant's others (webhook.endpoint_disabled).
    grants: { table: 'readWrite', bus: true, retryQueue: true, credentialsKey: 'decrypt' },
    memorySize: 512,
    // A batch of attempts, each up to 15 s; the retry queue's visibility timeout is six times this.
    timeoutSeconds: 60,
  },
];

/** The rows whose handler exists in this checkout. */
export function availableFunctions(root: string, specs: readonly FunctionSpec[] = FUNCTIONS): FunctionSpec[] {
  return specs.filter((spec) => existsSync(join(root, spec.entry)));
}
