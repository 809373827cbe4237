import { z } from '@hono/zod-openapi';
import { NotFoundError } from '../../../shared/errors/errors.js';
import { JOB_NAMES } from '../../../shared/jobs/registry.js';
import { createRouter, defineOperation, notFoundProblem } from '../openapi.js';

const JobSummarySchema = z
  .object({
    job: z.enum(JOB_NAMES),
    started_at: z.string().openapi({ format: 'date-time' }),
    finished_at: z.string().openapi({ format: 'date-time' }),
    tenants: z.number().int(),
    result: z.record(z.string(), z.union([z.number(), z.string()])),
    errors: z.array(z.object({ tenant_id: z.string(), message: z.string() })),
  })
  .openapi('JobSummary');

const runJob = defineOperation({
  method: 'post',
  path: '/v1/admin/jobs/{job}/run',
  tags: ['Operations'],
  summary: 'Run a scheduled job now, for all tenants or one',
  access: { operator: true },
  request: {
    params: z.object({ job: z.enum(JOB_NAMES).openapi({ param: { name: 'job', in: 'path' } }) }),
    query: z.object({ tenant_id: z.string().optional() }),
  },
  responses: {
    200: { description: "The job's summary", content: { 'application/json': { schema: JobSummarySchema } } },
    404: notFoundProblem,
  },
});

export const adminJobRoutes = createRouter().openapi(runJob, async (c) => {
  const { job: name } = c.req.valid('param');
  const { tenant_id: tenantId } = c.req.valid('query');
  const { jobs, services } = c.var.runtime;
  const job = jobs.get(name);
  if (!job) throw new NotFoundError(`Job ${name} is not part of this build.`, 'JOB_NOT_AVAILABLE');
  if (tenantId) await services.tenants.get(tenantId);
  const summary = await job.run({ tenantId });
  c.var.logger.info({ job: name, summary }, 'job run on demand');
  return c.json(summary, 200);
});
