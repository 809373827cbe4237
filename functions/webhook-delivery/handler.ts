import { handleWebhookDelivery, type WebhookDeliveryInput } from '../../shared/webhooks/entry.js';
import { createLambdaRuntime } from '../lambda-runtime.js';

const runtime = createLambdaRuntime();

/**
 * Invoked by the EventBridge rule for webhook-worthy events (one delivery per matching endpoint,
 * persisted, then attempted), or with `{tenant_id, delivery_id}` to make a due attempt.
 */
export async function handler(input: WebhookDeliveryInput) {
  const output = await handleWebhookDelivery(runtime.webhooks.deliverer, input);
  runtime.logger.info({ output }, 'webhook delivery ran');
  return output;
}
