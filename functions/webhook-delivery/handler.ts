import { handleWebhookDelivery, type WebhookDeliveryInput } from '../../shared/webhooks/entry.js';
import { createLambdaRuntime } from '../lambda-runtime.js';
import type { SqsEvent } from '../sqs-batch.js';
import { handleRetryQueueBatch } from './retry-queue.js';

const runtime = createLambdaRuntime();

/**
 * Webhook delivery on Lambda, for three kinds of input:
 * - an SQS batch from the retry queue: each message wakes one delivery whose attempt is due
 *   (partial batch failures: only failed messages come back, then go to the DLQ);
 * - an EventBridge event from the rule on `budget.`, `anomaly.`, `billing.`, `data_quality.`:
 *   one delivery per matching endpoint, persisted, then attempted;
 * - `{tenant_id, delivery_id}` by hand.
 */
export async function handler(input: WebhookDeliveryInput | SqsEvent) {
  if ('Records' in input) return handleRetryQueueBatch(runtime, input);
  const output = await handleWebhookDelivery(runtime.webhooks.deliverer, input);
  runtime.logger.info({ output }, 'webhook delivery ran');
  return output;
}
