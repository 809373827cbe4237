import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventBridgeBus } from '../shared/bus/eventbridge-bus.js';
import { ConfigError, loadConfig } from '../shared/config/config.js';
import { createRuntime, type Runtime } from '../shared/runtime.js';

/**
 * The runtime of a Lambda container: config from the environment, EventBridge as the bus.
 * Every function's entry point builds it once, at cold start.
 */
export function createLambdaRuntime(environment?: Record<string, string | undefined>): Runtime {
  const config = loadConfig(environment);
  if (!config.eventBusName) throw new ConfigError('TOLLGATE_EVENT_BUS_NAME is required on Lambda');
  const bus = new EventBridgeBus(new EventBridgeClient({ region: config.awsRegion }), config.eventBusName);
  // Lambda's disk is read-only and per container: credentials are wrapped by KMS or not at all.
  return createRuntime({ config, bus, localKeyFile: false });
}
