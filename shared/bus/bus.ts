import type { Logger } from '../observability/logger.js';

/**
 * A versioned event on the bus (EventBridge on AWS, in-process locally). `type` is the
 * EventBridge detail-type, e.g. `budget.exceeded.v1`; consumers are idempotent on `id`.
 */
export interface BusEvent<T = Record<string, unknown>> {
  id: string;
  type: string;
  tenant_id: string;
  time: string;
  data: T;
}

/** The EventBridge source of every Tollgate event (rules match on it). */
export const EVENT_SOURCE = 'tollgate';

export interface EventBus {
  publish(events: BusEvent[]): Promise<void>;
}

export type BusConsumer = (event: BusEvent) => Promise<void>;

/**
 * The local stand-in for the EventBridge bus and its rules: consumers subscribe to a type prefix
 * (`budget.` matches every budget event), as EventBridge rules match detail-type prefixes.
 * Publishing returns once the events are queued; delivery is asynchronous, like the real bus.
 */
export class InProcessBus implements EventBus {
  readonly #rules: { prefix: string; consumer: BusConsumer }[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  subscribe(prefix: string, consumer: BusConsumer): void {
    this.#rules.push({ prefix, consumer });
  }

  async publish(events: BusEvent[]): Promise<void> {
    for (const event of events) {
      for (const rule of this.#rules) {
        if (!event.type.startsWith(rule.prefix)) continue;
        const delivery = Promise.resolve()
          .then(() => rule.consumer(event))
          .catch((error: unknown) => {
            // A consumer keeps its own retry state (the webhook outbox); the bus only reports.
            this.#logger.error({ err: error, event_id: event.id, type: event.type }, 'bus consumer failed');
          })
          .finally(() => this.#inFlight.delete(delivery));
        this.#inFlight.add(delivery);
      }
    }
  }

  /** Resolves when every event published so far has been handled (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }
}
