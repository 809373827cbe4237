import { z } from '@hono/zod-openapi';
import { stringify } from 'csv-stringify/sync';
import { BUDGET_STATES } from '../../../shared/budgets/schema.js';
import { ForbiddenError, ValidationError } from '../../../shared/errors/errors.js';
import { csvCell } from '../../../shared/exports/encode.js';
import { listAnomalies } from '../../../shared/kpis/anomalies.js';
import { GRANULARITIES, type KpiResult, parseMetrics, queryKpis } from '../../../shared/kpis/query.js';
import { summarizeMonth } from '../../../shared/kpis/summary.js';
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
        group: z.record(z.string(), z.string().nullable()).openapi({
          description:
            "The series' group_by values. A grouped query also answers, last, the usage lacking a group_by attribute (no such dimension; outcomes, which name no model) as one series whose values are null, so the series add up to the totals.",
        }),
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
    'Filter with `filter[<dimension>]=<value>` (any number; `filter[model]` and `filter[provider]` too). A model is named, grouped and filtered by its priced name, whatever the metrics: `gpt-4o-2024-08-06` is `gpt-4o`, a snapshot with its own price keeps its name. Daily and monthly buckets in UTC answer up to two group_by and filter attributes together; hourly buckets and other time zones answer one. Money is a decimal string, counts are integers, ratios numbers; a ratio with a zero denominator is null.',
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
      ...groupBy.map((name) => csvCell(series.group[name] ?? '')),
      point.start,
      ...result.metrics.map((metric) => point.values[metric] ?? ''),
    ]),
  );
  return stringify([header, ...rows]);
}

const money = z.string().openapi({ example: '412.50000000' });
const KpiSummarySchema = z
  .object({
    period: z.literal('month'),
    timezone: z.string(),
    period_start: z.string(),
    period_end: z.string(),
    as_of: z.string().nullable(),
    month_to_date: z.object({ cost: money, tokens: z.int(), requests: z.int() }),
    burn_rate_per_day: money,
    forecast: z.object({ cost: money, low: money, high: money, method: z.string() }),
    top_drivers: z.array(
      z.object({ attribute: z.string(), value: z.string(), cost: money, share_pct: z.number().nullable() }),
    ),
    unpriced: z.object({ tokens: z.int(), events: z.int() }),
    budgets: z
      .array(
        z.object({
          id: z.string(),
          name: z.string(),
          scope: z.record(z.string(), z.string()),
          state: z.enum(BUDGET_STATES),
          unit: z.enum(['usd', 'tokens']),
          spent: z.union([z.string(), z.int()]),
          limit: z.union([z.string(), z.int()]),
          utilization_pct: z.number(),
          forecast: z.union([z.string(), z.int()]),
          period_end: z.string(),
        }),
      )
      .openapi({ description: "Every budget's state in its current period." }),
  })
  .openapi('KpiSummary');

const getSummary = defineOperation({
  method: 'get',
  path: '/v1/kpis/summary',
  tags: ['KPIs'],
  summary: 'Month to date: spend, burn rate, month-end forecast with a band, top drivers, unpriced usage',
  access: { scopes: ['read'] },
  request: {
    query: z.object({
      period: z.literal('month').default('month'),
      timezone: z.string().default('UTC').openapi({ description: 'IANA time zone of the month.' }),
    }),
  },
  responses: {
    200: { description: 'The summary', content: { 'application/json': { schema: KpiSummarySchema } } },
  },
});

const AnomalySchema = z
  .object({
    id: z.string(),
    type: z.literal('anomaly.detected.v1'),
    tenant_id: z.string(),
    time: z.string(),
    data: z.object({
      metric: z.string(),
      subject: z.record(z.string(), z.string()),
      date: z.string(),
      value: z.number(),
      expected: z.number(),
      score: z.number(),
      direction: z.enum(['spike', 'drop']),
      severity: z.enum(['warning', 'critical']),
    }),
  })
  .openapi('Anomaly');

const listAnomaliesOperation = defineOperation({
  method: 'get',
  path: '/v1/anomalies',
  tags: ['KPIs'],
  summary: 'Anomalies found on totals and unit metrics, by day',
  access: { scopes: ['read'] },
  request: {
    query: z.object({
      from: z.iso.date().openapi({ description: 'First day (UTC), YYYY-MM-DD.' }),
      to: z.iso.date().openapi({ description: 'Day after the last (UTC), YYYY-MM-DD.' }),
    }),
  },
  responses: {
    200: {
      description: 'Anomalies',
      content: {
        'application/json': { schema: z.object({ data: z.array(AnomalySchema), next_cursor: z.null() }) },
      },
    },
  },
});

export const kpiRoutes = createRouter()
  .openapi(getSummary, async (c) => {
    const principal = c.var.principal;
    if (principal.kind === 'tenant' && principal.restrict) {
      throw new ForbiddenError(
        'A restricted key reads its slice through GET /v1/kpis; the summary is tenant-wide.',
        'RESTRICTED_KEY',
      );
    }
    const { timezone } = c.req.valid('query');
    const { db, services } = c.var.runtime;
    const [summary, budgets] = await Promise.all([
      summarizeMonth(db, tenantOf(c), timezone, c.var.runtime.now()),
      services.budgets.states(tenantOf(c)),
    ]);
    return c.json({ ...summary, budgets }, 200);
  })
  .openapi(listAnomaliesOperation, async (c) => {
    const { from, to } = c.req.valid('query');
    if (to <= from)
      throw new ValidationError('"to" must be after "from".', [
        { path: 'query.to', message: 'must be after from' },
      ]);
    const principal = c.var.principal;
    const restrict = principal.kind === 'tenant' ? principal.restrict : null;
    const anomalies = (await listAnomalies(c.var.runtime.db, tenantOf(c), from, to)).filter((event) => {
      if (!restrict) return true;
      const subject = (event.data as { subject?: Record<string, string> }).subject ?? {};
      return Object.entries(restrict).every(([key, value]) => subject[key] === value);
    });
    return c.json({ data: anomalies as z.infer<typeof AnomalySchema>[], next_cursor: null }, 200);
  })
  .openapi(getKpis, async (c) => {
    const query = c.req.valid('query');
    const filters: Record<string, string> = {};
    for (const [parameter, values] of Object.entries(c.req.queries())) {
      const match = FILTER_PARAMETER.exec(parameter);
      if (!match?.[1]) continue;
      if (values.length !== 1) {
        throw new ValidationError(`${parameter} is given ${values.length} times; a filter takes one value.`, [
          { path: `query.${parameter}`, message: 'repeated' },
        ]);
      }
      filters[match[1]] = values[0] as string;
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
