import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { fixedOperatorKey, SecretsManagerOperatorKey } from '../shared/api-keys/operator-key.js';
import type { BusEvent, EventBus } from '../shared/bus/bus.js';
import { EventBridgeBus } from '../shared/bus/eventbridge-bus.js';
import { ConfigError, loadConfig } from '../shared/config/config.js';
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
  const { eventBusName } = config;
  const bus = eventBusName
    ? lazyBus(() => new EventBridgeBus(new EventBridgeClient({ region: config.awsRegion }), eventBusName))
    : new UngrantedBus();
  const operatorKey = config.operatorKeySecretArn
    ? new SecretsManagerOperatorKey(
        new SecretsManagerClient({ region: config.awsRegion }),
        config.operatorKeySecretArn,
        { ttlMs: config.operatorKeyTtlSeconds * 1000, logger },
      )
    : fixedOperatorKey(config.adminKey);
  // Read during init, beside the rest of the cold start, so the first request seldom waits for it.
  void operatorKey.current();
  // Webhook retries wait in the SQS queue (delayed messages) instead of due markers and a job.
  const { webhookRetryQueueUrl } = config;
  // The SQS client is built on the first retry, like the bus: most requests never schedule one.
  let sqs: SQSClient | undefined;
  const lazySqs: Pick<SQSClient, 'send'> = {
    send: ((command: Parameters<SQSClient['send']>[0]) => {
      sqs ??= new SQSClient({ region: config.awsRegion });
      return sqs.send(command);
    }) as SQSClient['send'],
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
 * Builds the EventBridge client on the first publish: an SDK client costs tens of milliseconds
 * to set up, and most API requests never publish, so the cold start does not pay for it.
 */
function lazyBus(create: () => EventBus): EventBus {
  let bus: EventBus | undefined;
  return {
    publish: (events) => {
      bus ??= create();
      return bus.publish(events);
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
