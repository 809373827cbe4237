import pLimit from 'p-limit';
import type { Db } from '../db/client.js';
import type { Job, JobRunOptions, JobSummary } from '../jobs/registry.js';
import { allTenantIds } from '../kpis/job.js';
import type { Logger } from '../observability/logger.js';
import type { BillingService } from './service.js';

/**
 * `billing-pull`: pulls every provider connection of every tenant (a few tenants at a time),
 * then records drift notices for the settled days it re-read. A failing connection is reported,
 * keeps its cursor and is pulled again by the next run; the others go on.
 */
export function createBillingPullJob(
  db: Db,
  billing: BillingService,
  logger: Logger,
  now: () => Date = () => new Date(),
): Job {
  return {
    name: 'billing-pull',
    async run(run: JobRunOptions): Promise<JobSummary> {
      const startedAt = now();
      const tenantIds = run.tenantId ? [run.tenantId] : await allTenantIds(db);
      const limit = pLimit(4);
      const totals = {
        connections: 0,
        synced: 0,
        failed: 0,
        busy: 0,
        days: 0,
        lines: 0,
        added: 0,
        updated: 0,
        removed: 0,
        drift_notices: 0,
        notices_published: 0,
      };
      const errors: JobSummary['errors'] = [];
      await Promise.all(
        tenantIds.map((tenantId) =>
          limit(async () => {
            try {
              const result = await billing.syncTenant(tenantId);
              totals.connections += result.connections;
              totals.synced += result.synced.length;
              totals.failed += result.failed.length;
              totals.busy += result.busy;
              totals.drift_notices += result.drift_notices;
              totals.notices_published += result.notices_published;
              for (const summary of result.synced) {
                totals.days += summary.days;
                totals.lines += summary.lines;
                totals.added += summary.added;
                totals.updated += summary.updated;
                totals.removed += summary.removed;
              }
              for (const failure of result.failed)
                errors.push({ tenant_id: tenantId, message: `${failure.connection_id}: ${failure.message}` });
            } catch (error) {
              logger.error({ err: error, tenant_id: tenantId }, 'billing pull failed for a tenant');
              errors.push({
                tenant_id: tenantId,
                message: 'billing pull failed; it is retried on the next run',
              });
            }
          }),
        ),
      );
      return {
        job: 'billing-pull',
        started_at: startedAt.toISOString(),
        finished_at: now().toISOString(),
        tenants: tenantIds.length,
        result: totals,
        errors,
      };
    },
  };
}
