import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { type BusEvent, EVENT_SOURCE, type EventBus } from './bus.js';

/** EventBridge takes at most 10 entries per PutEvents call. */
const MAX_ENTRIES_PER_CALL = 10;

export class EventBusPublishError extends Error {
  override readonly name = 'EventBusPublishError';
}

/**
 * The AWS bus: each event becomes one EventBridge entry whose detail-type is the versioned event
 * type, so rules route on prefixes (`budget.`, `anomaly.`…). Partial failures are retried once,
 * then reported: a caller that published must know its events did not all land.
 */
export class EventBridgeBus implements EventBus {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(events: BusEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += MAX_ENTRIES_PER_CALL) {
      const entries = events.slice(start, start + MAX_ENTRIES_PER_CALL).map((event) => this.#toEntry(event));
      const failed = await this.#put(entries);
      if (failed.length > 0 && (await this.#put(failed)).length > 0) {
        throw new EventBusPublishError(
          `${failed.length} of ${entries.length} events were not accepted by EventBridge`,
        );
      }
    }
  }

  async #put(entries: PutEventsRequestEntry[]): Promise<PutEventsRequestEntry[]> {
    const result = await this.client.send(new PutEventsCommand({ Entries: entries }));
    if (!result.FailedEntryCount) return [];
    return entries.filter((_, index) => result.Entries?.[index]?.ErrorCode);
  }

  #toEntry(event: BusEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.busName,
      Source: EVENT_SOURCE,
      DetailType: event.type,
      Time: new Date(event.time),
      Detail: JSON.stringify(event),
    };
  }
}

/** The Lambda runtime's bus, with its client: the runtime imports this module on the first publish. */
export function createEventBridgeBus(region: string, busName: string): EventBridgeBus {
  return new EventBridgeBus(new EventBridgeClient({ region }), busName);
}
