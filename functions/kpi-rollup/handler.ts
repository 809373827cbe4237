import { createLambdaRuntime } from '../lambda-runtime.js';

const runtime = createLambdaRuntime();

/**
 * Invoked by an EventBridge Scheduler schedule (or by hand with `{"tenant_id": "ten_…"}`):
 * the same idempotent job local mode's scheduler runs.
 */
export async function handler(event: { tenant_id?: string } | undefined) {
  const job = runtime.jobs.get('kpi-rollup');
  if (!job) throw new Error('kpi-rollup is not registered');
  const summary = await job.run({ tenantId: event?.tenant_id });
  runtime.logger.info({ summary }, 'kpi-rollup ran');
  if (summary.errors.length > 0)
    runtime.logger.warn({ errors: summary.errors }, 'kpi-rollup: some tenants failed');
  return summary;
}
