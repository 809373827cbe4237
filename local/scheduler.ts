import type { JobRegistry } from '../shared/jobs/registry.js';
import type { JobSchedule } from '../shared/jobs/schedules.js';
import type { Logger } from '../shared/observability/logger.js';

/**
 * The local stand-in for EventBridge Scheduler: runs each registered job every `everySeconds`.
 * A run never overlaps the previous run of the same job, and `stop()` waits for runs in flight
 * so a shutdown never cuts a job in half.
 */
export class LocalScheduler {
  /** The next tick of each job: one pending timer per job. */
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #running = new Map<string, Promise<void>>();
  #stopped = false;

  constructor(
    private readonly jobs: JobRegistry,
    private readonly logger: Logger,
  ) {}

  start(schedules: JobSchedule[]): string[] {
    const started: string[] = [];
    for (const schedule of schedules) {
      const job = this.jobs.get(schedule.job);
      if (!job) continue;
      started.push(`${schedule.job} every ${schedule.everySeconds}s`);
      const tick = () => {
        if (this.#stopped) return;
        if (!this.#running.has(job.name)) {
          const run = job
            .run({})
            .then((summary) => this.logger.debug({ job: job.name, summary }, 'scheduled job ran'))
            .catch((error: unknown) =>
              this.logger.error({ err: error, job: job.name }, 'scheduled job failed'),
            )
            .finally(() => this.#running.delete(job.name));
          this.#running.set(job.name, run);
        }
        this.#timers.set(job.name, setTimeout(tick, schedule.everySeconds * 1000));
      };
      this.#timers.set(job.name, setTimeout(tick, schedule.everySeconds * 1000));
    }
    return started;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all(this.#running.values());
  }
}
