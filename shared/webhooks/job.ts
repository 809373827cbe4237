import pLimit from 'p-limit';
import type { Job, JobRunOptions, JobSummary } from '../jobs/registry.js';
import type { Logger } from '../observability/logger.js';
import type { DeliverResult, WebhookDeliverer } from './deliverer.js';
import type { DueMarkerScheduler } from './retry-scheduler.js';

/** Wake-ups handled per run; the scheduler runs the job every second, so a backlog drains in turns. */
const BATCH = 200;
/** Attempts in flight at once: each may wait up to the timeout on a slow receiver. */
const CONCURRENCY = 16;

/**
 * `webhook-retry` (local mode; on AWS the SQS delay queue does this): makes every attempt that is
 * due. One Query when nothing is due, whatever the number of tenants (see keys.webhookDue).
 */
export function createWebhookRetryJob(
  scheduler: DueMarkerScheduler,
  deliverer: WebhookDeliverer,
  logger: Logger,
  now: () => Date = () => new Date(),
): Job {
  return {
    name: 'webhook-retry',
    async run(run: JobRunOptions): Promise<JobSummary> {
      const startedAt = now();
      const due = await scheduler.due(startedAt, BATCH, run.tenantId);
      const counts: Record<DeliverResult, number> = {
        delivered: 0,
        retrying: 0,
        failed: 0,
        'not-due': 0,
        busy: 0,
        settled: 0,
        missing: 0,
      };
      const errors: JobSummary['errors'] = [];
      const limit = pLimit(CONCURRENCY);
      await Promise.all(
        due.map((marker) =>
          limit(async () => {
            try {
              counts[await deliverer.deliver(marker.tenantId, marker.deliveryId, marker.dueAt)]++;
            } catch (error) {
              // The wake-up stays; the next run tries again.
              logger.error(
                { err: error, tenant_id: marker.tenantId, delivery_id: marker.deliveryId },
                'webhook attempt failed',
              );
              errors.push({
                tenant_id: marker.tenantId,
                message: `delivery ${marker.deliveryId} is retried on the next run`,
              });
            }
          }),
        ),
      );
      return {
        job: 'webhook-retry',
        started_at: startedAt.toISOString(),
        finished_at: now().toISOString(),
        tenants: new Set(due.map((marker) => marker.tenantId)).size,
        result: {
          due: due.length,
          delivered: counts.delivered,
          retrying: counts.retrying,
          dead_lettered: counts.failed,
          skipped: counts['not-due'] + counts.busy + counts.settled + counts.missing,
        },
        errors,
      };
    },
  };
}
