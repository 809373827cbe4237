import type { SQSClient } from '@aws-sdk/client-sqs';
import { deferredOperatorKey, fixedOperatorKey } from '../shared/api-keys/operator-key.js';
import type { BusEvent, EventBus } from '../shared/bus/bus.js';
import { ConfigError, loadConfig } from '../shared/config/config.js';
import { loadOnce } from '../shared/load-once.js';
import { createLogger } from '../shared/observability/logger.js';
import { createRuntime, type Runtime } from '../shared/runtime.js';
import { SqsRetryScheduler } from '../shared/webhooks/sqs-retry-scheduler.js';

/**
 * The runtime of a Lambda container: config from the environment (set by infra/tollgate-function.ts
 * from the function's grants), EventBridge as the bus, the operator key from Secrets Manager.
 * Every function's entry point builds it once, at cold start.
 */
export function createLambdaRuntime(environment?: Record<string, string | undefined>): Runtime {
  const config = loadConfig(environment);
  const logger = createLogger(config.logLevel);
  const { eventBusName, awsRegion: region } = config;
  // Each optional AWS client is a dynamic import (its own chunk of the bundle), loaded on first
  // use: compiling SDK code is most of a cold start, and only DynamoDB is needed to answer.
  const bus = eventBusName
    ? deferredBus(async () =>
        (await import('../shared/bus/eventbridge-bus.js')).createEventBridgeBus(region, eventBusName),
      )
    : new UngrantedBus();
  const { operatorKeySecretArn } = config;
  const operatorKey = operatorKeySecretArn
    ? deferredOperatorKey(async () =>
        (await import('../shared/api-keys/secrets-manager-operator-key.js')).createSecretsManagerOperatorKey(
          region,
          operatorKeySecretArn,
          { ttlMs: config.operatorKeyTtlSeconds * 1000, logger },
        ),
      )
    : fixedOperatorKey(config.adminKey);
  // Every request asks for the operator key: start reading it now, beside the rest of the cold start.
  // (Secrets Manager failures are handled inside; this catches only a chunk that cannot load,
  // which requests then report too, instead of an unhandled rejection ending the container.)
  operatorKey.current().catch((error: unknown) => {
    logger.error({ err: error }, 'could not load the operator key source');
  });
  // Webhook retries wait in the SQS queue (delayed messages) instead of due markers and a job.
  const { webhookRetryQueueUrl } = config;
  // The SQS client is built on the first retry, like the bus: most requests never schedule one.
  const sqs = loadOnce(async () => new (await import('@aws-sdk/client-sqs')).SQSClient({ region }));
  const lazySqs: Pick<SQSClient, 'send'> = {
    send: (async (command: Parameters<SQSClient['send']>[0]) =>
      (await sqs()).send(command)) as SQSClient['send'],
  };
  const retryScheduler = webhookRetryQueueUrl
    ? new SqsRetryScheduler(lazySqs, webhookRetryQueueUrl)
    : undefined;
  // Lambda's disk is read-only and per container: credentials are wrapped by KMS or not at all.
  return createRuntime({
    config,
    bus,
    operatorKey,
    logger,
    localKeyFile: false,
    ...(retryScheduler ? { webhooks: { retryScheduler } } : {}),
  });
}

/**
 * The EventBridge bus, loaded (module and client) on the first publish: most API requests never
 * publish, so the cold start does not pay for it.
 */
function deferredBus(load: () => Promise<EventBus>): EventBus {
  const bus = loadOnce(load);
  return {
    publish: async (events) => {
      if (events.length > 0) await (await bus()).publish(events);
    },
  };
}

/**
 * The bus of a function without the `bus` grant: building it succeeds (the function may never
 * publish), publishing says what is missing instead of failing on IAM.
 */
class UngrantedBus implements EventBus {
  async publish(events: BusEvent[]): Promise<void> {
    if (events.length === 0) return;
    throw new ConfigError(
      'this function may not publish: TOLLGATE_EVENT_BUS_NAME is unset (grant `bus` in infra/functions.ts)',
    );
  }
}
