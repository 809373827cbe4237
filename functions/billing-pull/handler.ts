import { createLambdaRuntime } from '../lambda-runtime.js';

const runtime = createLambdaRuntime();

/**
 * Invoked by an EventBridge Scheduler schedule (or by hand with `{"tenant_id": "ten_…"}`):
 * the same idempotent job local mode's scheduler runs. Needs `TOLLGATE_CREDENTIALS_KMS_KEY_ID`
 * (and kms:Decrypt on that key) to read the stored provider credentials.
 */
export async function handler(event: { tenant_id?: string } | undefined) {
  const job = runtime.jobs.get('billing-pull');
  if (!job) throw new Error('billing-pull is not registered');
  const summary = await job.run({ tenantId: event?.tenant_id });
  runtime.logger.info({ summary }, 'billing-pull ran');
  if (summary.errors.length > 0)
    runtime.logger.warn({ errors: summary.errors }, 'billing-pull: some connections failed');
  return summary;
}
