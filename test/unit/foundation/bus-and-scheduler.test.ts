import { describe, expect, it } from 'vitest';
import { LocalScheduler } from '../../../local/scheduler.js';
import { type BusEvent, InProcessBus } from '../../../shared/bus/bus.js';
import { JobRegistry, type JobSummary } from '../../../shared/jobs/registry.js';
import { createLogger } from '../../../shared/observability/logger.js';

const logger = createLogger('silent');

const event = (type: string, id: string): BusEvent => ({
  id,
  type,
  tenant_id: 'ten_a',
  time: '2026-11-29T00:00:00Z',
  data: {},
});

describe('InProcessBus', () => {
  it('routes events to consumers by type prefix, as EventBridge rules do', async () => {
    const bus = new InProcessBus(logger);
    const budgetEvents: string[] = [];
    const everything: string[] = [];
    bus.subscribe('budget.', async (e) => {
      budgetEvents.push(e.id);
    });
    bus.subscribe('', async (e) => {
      everything.push(e.id);
    });
    await bus.publish([event('budget.exceeded.v1', 'evt_1'), event('anomaly.detected.v1', 'evt_2')]);
    await bus.drain();
    expect(budgetEvents).toEqual(['evt_1']);
    expect(everything.sort()).toEqual(['evt_1', 'evt_2']);
  });

  it('keeps delivering after a consumer fails', async () => {
    const bus = new InProcessBus(logger);
    const delivered: string[] = [];
    bus.subscribe('x.', async (e) => {
      if (e.id === 'evt_bad') throw new Error('consumer broke');
      delivered.push(e.id);
    });
    await bus.publish([event('x.a.v1', 'evt_bad'), event('x.a.v1', 'evt_good')]);
    await bus.drain();
    expect(delivered).toEqual(['evt_good']);
  });
});

describe('LocalScheduler', () => {
  it('runs registered jobs on their interval, never overlapping, and waits for a run in flight on stop', async () => {
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const jobs = new JobRegistry().register({
      name: 'kpi-rollup',
      async run(): Promise<JobSummary> {
        runs++;
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await new Promise((resolve) => setTimeout(resolve, 120));
        concurrent--;
        const at = new Date().toISOString();
        return { job: 'kpi-rollup', started_at: at, finished_at: at, tenants: 0, result: {}, errors: [] };
      },
    });
    const scheduler = new LocalScheduler(jobs, logger);
    const started = scheduler.start([
      { job: 'kpi-rollup', everySeconds: 0.05 },
      { job: 'billing-pull', everySeconds: 0.05 },
    ]);
    expect(started).toEqual(['kpi-rollup every 0.05s']);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await scheduler.stop();
    expect(concurrent).toBe(0);
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(maxConcurrent).toBe(1);
    const after = runs;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(runs).toBe(after);
  });
});
