import type { Db } from '../db/client.js';
import { type DueMarker, deleteDueMarker, dueMarkers, putDueMarker } from './repository.js';

/**
 * "When to retry", behind one small interface. Locally (and in tests) due markers in the table,
 * read by the `webhook-retry` job; on AWS an implementation can send the delivery id to an SQS
 * queue with a delay instead (and `settle` does nothing), whose consumer calls
 * `WebhookDeliverer.deliver`. Either way the delivery item stays the truth: a wake-up for a
 * delivery that is no longer due is ignored.
 */
export interface RetryScheduler {
  /** Wake the delivery up at `dueAt` (at least once). Called before the delivery records its state. */
  schedule(tenantId: string, deliveryId: string, dueAt: string): Promise<void>;
  /** The wake-up for `dueAt` has been handled; forget it. */
  settle(tenantId: string, deliveryId: string, dueAt: string): Promise<void>;
}

/** The local scheduler: one due marker per scheduled attempt, in the table. */
export class DueMarkerScheduler implements RetryScheduler {
  constructor(private readonly db: Db) {}

  schedule(tenantId: string, deliveryId: string, dueAt: string): Promise<void> {
    return putDueMarker(this.db, { tenantId, deliveryId, dueAt });
  }

  settle(tenantId: string, deliveryId: string, dueAt: string): Promise<void> {
    return deleteDueMarker(this.db, { tenantId, deliveryId, dueAt });
  }

  /** What is due by `now`, oldest first. */
  due(now: Date, limit: number, tenantId?: string): Promise<DueMarker[]> {
    return dueMarkers(this.db, now.toISOString(), limit, tenantId);
  }
}
