import { z } from '@hono/zod-openapi';
import { stringify } from 'csv-stringify/sync';
import { ValidationError } from '../../../shared/errors/errors.js';
import { GRANULARITIES, type KpiResult, parseMetrics, queryKpis } from '../../../shared/kpis/query.js';
import { tenantOf } from '../middleware/authorize.js';
import { createRouter, defineOperation } from '../openapi.js';

const MetricValueSchema = z.union([z.string(), z.number(), z.null()]);
const ValuesSchema = z.record(z.string(), MetricValueSchema);

const KpiResultSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    granularity: z.enum(GRANULARITIES),
    timezone: z.string(),
    metrics: z.array(z.string()),
    series: z.array(
      z.object({
        group: z.record(z.string(), z.string()),
        points: z.array(z.object({ start: z.string(), values: ValuesSchema })),
        totals: ValuesSchema,
      }),
    ),
    totals: ValuesSchema,
    as_of: z.string().nullable().openapi({ description: 'Events ingested before this instant are counted.' }),
  })
  .openapi('KpiResult');

const getKpis = defineOperation({
  method: 'get',
  path: '/v1/kpis',
  tags: ['KPIs'],
  summary: 'Token-native KPIs over time, grouped and filtered',
  description:
    'Filter with `filter[<dimension>]=<value>` (any number; `filter[model]` and `filter[provider]` too). Daily and monthly buckets in UTC answer up to two group_by and filter attributes together; hourly buckets and other time zones answer one. Money is a decimal string, counts are integers, ratios numbers; a ratio with a zero denominator is null.',
  access: { scopes: ['read'] },
  request: {
    query: z.object({
      metrics: z.string().min(1).openapi({ example: 'cost,tokens,cost_per_outcome:ticket_resolved' }),
      from: z.iso.datetime({ offset: true }),
      to: z.iso.datetime({ offset: true }),
      granularity: z.enum(GRANULARITIES).default('day'),
      group_by: z
        .string()
        .optional()
        .openapi({ description: 'One or two of: a dimension key, model, provider (comma-separated).' }),
      timezone: z
        .string()
        .default('UTC')
        .openapi({ description: 'IANA time zone aligning day and month buckets.' }),
      format: z.enum(['json', 'csv']).default('json'),
    }),
  },
  responses: {
    200: {
      description: 'The KPI table',
      content: { 'application/json': { schema: KpiResultSchema }, 'text/csv': { schema: z.string() } },
    },
  },
});

const FILTER_PARAMETER = /^filter\[([^\]]+)\]$/;

function toCsv(result: KpiResult, groupBy: string[]): string {
  const header = [...groupBy, 'start', ...result.metrics];
  const rows = result.series.flatMap((series) =>
    series.points.map((point) => [
      ...groupBy.map((name) => series.group[name] ?? ''),
      point.start,
      ...result.metrics.map((metric) => point.values[metric] ?? ''),
    ]),
  );
  return stringify([header, ...rows]);
}

export const kpiRoutes = createRouter().openapi(getKpis, async (c) => {
  const query = c.req.valid('query');
  const filters: Record<string, string> = {};
  for (const [parameter, value] of Object.entries(c.req.query())) {
    const match = FILTER_PARAMETER.exec(parameter);
    if (match?.[1]) filters[match[1]] = value;
  }
  const groupBy = (query.group_by ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (new Set(groupBy).size !== groupBy.length) {
    throw new ValidationError('group_by repeats an attribute.', [
      { path: 'query.group_by', message: 'repeated' },
    ]);
  }
  const principal = c.var.principal;
  const result = await queryKpis(
    c.var.runtime.db,
    tenantOf(c),
    {
      metrics: parseMetrics(query.metrics),
      from: new Date(query.from),
      to: new Date(query.to),
      granularity: query.granularity,
      timezone: query.timezone,
      groupBy,
      filters,
    },
    principal.kind === 'tenant' ? principal.restrict : null,
  );
  if (query.format === 'csv') {
    return c.body(toCsv(result, groupBy), 200, { 'content-type': 'text/csv; charset=utf-8' });
  }
  return c.json(result, 200);
});
