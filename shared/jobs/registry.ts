/**
 * Scheduled work. On AWS an EventBridge Scheduler schedule invokes a job's Lambda; locally the
 * in-process scheduler does; `POST /v1/admin/jobs/{job}/run` runs one on demand. Jobs are
 * idempotent: running one twice changes nothing the first run did not.
 */
export const JOB_NAMES = ['kpi-rollup', 'billing-pull', 'webhook-retry'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export interface JobRunOptions {
  /** Limit the run to one tenant; all tenants when unset. */
  tenantId?: string | undefined;
}

export interface JobSummary {
  job: JobName;
  started_at: string;
  finished_at: string;
  tenants: number;
  /** The job's own figures (events rolled up, buckets pulled, deliveries sent…). */
  result: Record<string, number | string>;
  errors: { tenant_id: string; message: string }[];
}

export interface Job {
  name: JobName;
  run(options: JobRunOptions): Promise<JobSummary>;
}

/** The jobs this build provides, by name. Capabilities register theirs as they land. */
export class JobRegistry {
  readonly #jobs = new Map<JobName, Job>();

  register(job: Job): this {
    if (this.#jobs.has(job.name)) throw new Error(`job ${job.name} is registered twice`);
    this.#jobs.set(job.name, job);
    return this;
  }

  get(name: JobName): Job | undefined {
    return this.#jobs.get(name);
  }

  names(): JobName[] {
    return [...this.#jobs.keys()];
  }
}
