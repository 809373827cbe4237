import type { BusEvent } from '../bus/bus.js';
import type { DeliverResult, WebhookDeliverer } from './deliverer.js';

/**
 * What a webhook-delivery function is invoked with: an EventBridge event whose detail is a bus
 * event (the rule on `budget.`, `anomaly.`, `billing.`, `data_quality.`), or one delivery whose
 * attempt is due (an SQS delay message's body, or by hand).
 */
export type WebhookDeliveryInput =
  | { 'detail-type': string; detail: BusEvent }
  | { tenant_id: string; delivery_id: string };

export type WebhookDeliveryOutput = { created: string[] } | { result: DeliverResult };

/** The delivery step for one input, as a Lambda handler calls it. */
export async function handleWebhookDelivery(
  deliverer: WebhookDeliverer,
  input: WebhookDeliveryInput,
): Promise<WebhookDeliveryOutput> {
  if ('detail' in input) return deliverer.fromBusEvent(input.detail);
  return { result: await deliverer.deliver(input.tenant_id, input.delivery_id) };
}
