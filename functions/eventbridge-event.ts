import { z } from 'zod';
import { type BusEvent, EVENT_SOURCE } from '../shared/bus/bus.js';

/** An event as an EventBridge rule hands it to a Lambda target. */
export interface EventBridgeEvent {
  version: string;
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

const BusEventSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  tenant_id: z.string().min(1),
  time: z.string().min(1),
  data: z.record(z.string(), z.unknown()),
});

export class UnexpectedEventError extends Error {
  override readonly name = 'UnexpectedEventError';
}

/**
 * The Tollgate bus event inside an EventBridge delivery: EventBridgeBus puts the whole event in
 * `detail`, so a consumer on Lambda receives exactly what an InProcessBus consumer receives.
 * Anything else (another source, a detail that is not a bus event) is refused: the invocation
 * fails and, after EventBridge's retries, the event waits in the dead-letter queue.
 */
export function busEventFrom(event: EventBridgeEvent): BusEvent {
  if (event.source !== EVENT_SOURCE) {
    throw new UnexpectedEventError(`not a Tollgate event: source ${JSON.stringify(event.source)}`);
  }
  const parsed = BusEventSchema.safeParse(event.detail);
  if (!parsed.success) {
    throw new UnexpectedEventError(
      `EventBridge event ${event.id} carries no bus event: ${parsed.error.message}`,
    );
  }
  if (parsed.data.type !== event['detail-type']) {
    throw new UnexpectedEventError(
      `EventBridge event ${event.id}: detail-type ${event['detail-type']} but detail.type ${parsed.data.type}`,
    );
  }
  return parsed.data as BusEvent;
}
