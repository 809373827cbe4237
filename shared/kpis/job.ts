import pLimit from 'p-limit';
import type { BudgetService, StoredUsage } from '../budgets/service.js';
import type { EventBus } from '../bus/bus.js';
import type { Db } from '../db/client.js';
import type { Job, JobRunOptions, JobSummary } from '../jobs/registry.js';
import type { Logger } from '../observability/logger.js';
import { listTenants } from '../tenants/repository.js';
import { checkAnomalies } from './anomalies.js';
import { flushOutbox, recordNotice } from './notices.js';
import { rollupTenant } from './rollup.js';

/** Every tenant id, following the operator's list to its end. */
export async function allTenantIds(db: Db): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await listTenants(db, { limit: 500, cursor });
    ids.push(...page.data.map((tenant) => tenant.id));
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return ids;
}

/**
 * `kpi-rollup`: rolls every tenant's new events into its KPI cells, a few tenants at a time and
 * at most `maxEvents` per tenant per run, so one large tenant delays nobody. A tenant that fails
 * is reported and retried by the next run; the others go on.
 */
export function createKpiRollupJob(
  db: Db,
  bus: EventBus,
  logger: Logger,
  options: {
    lagSeconds: number;
    maxEvents: number;
    now?: () => Date;
    budgets?: Pick<BudgetService, 'finishBatches' | 'runTenantStep'>;
  },
): Job {
  const now = options.now ?? (() => new Date());
  return {
    name: 'kpi-rollup',
    async run(run: JobRunOptions): Promise<JobSummary> {
      const startedAt = now();
      const tenantIds = run.tenantId ? [run.tenantId] : await allTenantIds(db);
      const limit = pLimit(4);
      let events = 0;
      let cells = 0;
      let behind = 0;
      let anomalies = 0;
      let published = 0;
      let budgetNotices = 0;
      let reservationsExpired = 0;
      const errors: JobSummary['errors'] = [];
      await Promise.all(
        tenantIds.map((tenantId) =>
          limit(async () => {
            try {
              const { budgets } = options;
              const result = await rollupTenant(db, tenantId, {
                now: now(),
                lagMs: options.lagSeconds * 1000,
                maxEvents: options.maxEvents,
                ...(budgets
                  ? {
                      beforeDone: async (budgetEvents) => {
                        await budgets.finishBatches(tenantId, budgetEvents as unknown as StoredUsage[]);
                      },
                    }
                  : {}),
              });
              events += result.events;
              cells += result.cells;
              if (!result.caughtUp) behind++;
              const at = now();
              for (const unpriced of result.unpriced) {
                await recordNotice(
                  db,
                  tenantId,
                  `v1#notice#unpriced#${unpriced.day}#${unpriced.provider}/${unpriced.model}`,
                  'data_quality.unpriced_usage.v1',
                  {
                    provider: unpriced.provider,
                    model: unpriced.model,
                    date: unpriced.day,
                    unpriced_tokens: unpriced.tokens,
                  },
                  at,
                );
              }
              // Yesterday is the latest complete day; it is checked once, when the rollup has caught up.
              if (result.caughtUp) {
                const yesterday = new Date(at.getTime() - 86_400_000).toISOString().slice(0, 10);
                anomalies += (await checkAnomalies(db, tenantId, yesterday, at)).length;
              }
              if (budgets) {
                const step = await budgets.runTenantStep(tenantId);
                budgetNotices += step.notices;
                reservationsExpired += step.swept;
              }
              published += await flushOutbox(db, tenantId, bus);
            } catch (error) {
              logger.error({ err: error, tenant_id: tenantId }, 'kpi rollup failed for a tenant');
              errors.push({ tenant_id: tenantId, message: 'rollup failed; it is retried on the next run' });
            }
          }),
        ),
      );
      return {
        job: 'kpi-rollup',
        started_at: startedAt.toISOString(),
        finished_at: now().toISOString(),
        tenants: tenantIds.length,
        result: {
          events,
          cells,
          tenants_behind: behind,
          anomalies,
          budget_notices: budgetNotices,
          reservations_expired: reservationsExpired,
          notices_published: published,
        },
        errors,
      };
    },
  };
}
