import type { Config } from '../config/config.js';
import type { JobName } from './registry.js';

export interface JobSchedule {
  job: JobName;
  everySeconds: number;
}

/**
 * How often each job runs: EventBridge Scheduler rates on AWS, the in-process scheduler locally.
 * `webhook-retry` only runs locally; on AWS the SQS delay queue schedules retries.
 */
export function jobSchedules(config: Config): JobSchedule[] {
  return [
    { job: 'kpi-rollup', everySeconds: config.rollupIntervalSeconds },
    { job: 'billing-pull', everySeconds: config.billingPullIntervalSeconds },
    { job: 'webhook-retry', everySeconds: 1 },
  ];
}
