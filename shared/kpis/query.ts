import { DateTime, IANAZone } from 'luxon';
import { billedCost } from '../billing/billed-cost.js';
import type { BillingProvider } from '../billing/lines.js';
import { allConnections } from '../billing/repository.js';
import { canonicalTimeZone } from '../budgets/period.js';
import type { Db } from '../db/client.js';
import { ForbiddenError, ValidationError } from '../errors/errors.js';
import { type Decimal, toDecimalString, toMoneyString, ZERO } from '../money/money.js';
import {
  type Attribute,
  addSums,
  attributeOf,
  type CellSums,
  cellKeys,
  emptySums,
  isEmptySums,
  MODEL_ATTRIBUTE,
  nameOf,
  PROVIDER_ATTRIBUTE,
  subtractSums,
  totalTokensOf,
} from './cells.js';
import { kpiValueOf } from './priced-model.js';
import { getCursor, queryCells } from './repository.js';

export const GRANULARITIES = ['hour', 'day', 'month'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

const SIMPLE_METRICS = [
  'cost',
  'tokens',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'requests',
  'events',
  'cost_per_1k_tokens',
  'cost_per_request',
  'cache_hit_ratio',
  'cache_savings',
  'unpriced_tokens',
  'reported_cost',
  'billed_cost',
  'billing_drift_pct',
] as const;
/** Read from the providers' bills, which know only provider, model and UTC day. */
const BILLED_METRICS: readonly string[] = ['billed_cost', 'billing_drift_pct'];
const PARAMETRIC_METRICS = [
  'outcomes',
  'cost_per_outcome',
  'tokens_per_outcome',
  'attribution_coverage_pct',
] as const;

export type Metric =
  | { name: string; kind: (typeof SIMPLE_METRICS)[number] }
  | { name: string; kind: (typeof PARAMETRIC_METRICS)[number]; argument: string };

const METRIC_ARGUMENT = /^[a-z][a-z0-9_.-]{0,63}$/;

/** Parses `metrics=cost,cost_per_outcome:ticket_resolved`; every problem named with its path. */
export function parseMetrics(list: string): Metric[] {
  const names = list
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length === 0)
    throw new ValidationError('Name at least one metric.', [{ path: 'query.metrics', message: 'empty' }]);
  if (names.length > 30)
    throw new ValidationError('At most 30 metrics.', [{ path: 'query.metrics', message: 'too many' }]);
  const errors: { path: string; message: string }[] = [];
  const metrics: Metric[] = [];
  for (const name of names) {
    const [kind, argument, extra] = name.split(':');
    if ((SIMPLE_METRICS as readonly string[]).includes(kind ?? '') && argument === undefined) {
      metrics.push({ name, kind: kind as (typeof SIMPLE_METRICS)[number] });
    } else if (
      (PARAMETRIC_METRICS as readonly string[]).includes(kind ?? '') &&
      argument &&
      !extra &&
      METRIC_ARGUMENT.test(argument)
    ) {
      metrics.push({ name, kind: kind as (typeof PARAMETRIC_METRICS)[number], argument });
    } else {
      errors.push({
        path: 'query.metrics',
        message: `unknown metric "${name}"; metrics are ${[...SIMPLE_METRICS, ...PARAMETRIC_METRICS.map((m) => `${m}:<name>`)].join(', ')}`,
      });
    }
  }
  if (errors.length > 0) throw new ValidationError('Some metrics are not known.', errors);
  return metrics;
}

export interface KpiQuery {
  metrics: Metric[];
  from: Date;
  to: Date;
  granularity: Granularity;
  timezone: string;
  /** API names: dimension keys, `model`, `provider`. */
  groupBy: string[];
  /** API name → value. */
  filters: Record<string, string>;
}

export type MetricValue = string | number | null;

export interface KpiSeries {
  /** null: the usage that lacks that attribute (see UNATTRIBUTED). */
  group: Record<string, string | null>;
  points: { start: string; values: Record<string, MetricValue> }[];
  totals: Record<string, MetricValue>;
}

export interface KpiResult {
  from: string;
  to: string;
  granularity: Granularity;
  timezone: string;
  metrics: string[];
  series: KpiSeries[];
  totals: Record<string, MetricValue>;
  /** Events ingested before this instant are counted. */
  as_of: string | null;
}

/** One read cell: when (its UTC hour or day), which attribute values, and its sums. */
interface Row {
  time: string;
  values: Record<Attribute, string>;
  sums: CellSums;
}

const MAX_POINTS = 10_000;

/**
 * The series of a grouped query that holds what no group's cells hold: usage lacking a group_by
 * attribute (no `customer` dimension; outcomes, which name no model). Its group values are null,
 * and with it the groups add up to the query's totals.
 */
const UNATTRIBUTED = '\u0002unattributed';

type SeriesEntry = { group: Record<string, string | null>; byBucket: Map<string, CellSums> };

/**
 * Refuses a zone whose UTC offset is not a whole number of hours at any of `instants`: KPIs are
 * kept per UTC hour, so the local days of Asia/Kolkata (+05:30) or Asia/Kathmandu (+05:45) would
 * each take in part of another day's usage. A wrong figure is worse than an answer refused.
 */
export function assertWholeHourOffsets(zone: string, instants: Iterable<DateTime>): void {
  for (const instant of instants) {
    const offset = instant.setZone(zone).offset;
    if (offset % 60 !== 0) {
      const sign = offset < 0 ? '-' : '+';
      const minutes = Math.abs(offset);
      const shown = `${sign}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
      throw new ValidationError(
        `${zone} is ${shown} from UTC, not a whole number of hours: KPIs are kept per UTC hour, so its local days cannot be answered exactly. Use UTC or a zone a whole number of hours from it.`,
        [{ path: 'query.timezone', message: `a UTC offset of whole hours (${zone} is ${shown})` }],
      );
    }
  }
}

/** Every day start (UTC) from `from` to `to`, and `to`: where a zone's offset is checked. */
export function* daysBetween(from: Date, to: Date): Generator<DateTime> {
  let cursor = DateTime.fromJSDate(from, { zone: 'utc' });
  const end = DateTime.fromJSDate(to, { zone: 'utc' });
  while (cursor < end) {
    yield cursor;
    cursor = cursor.plus({ days: 1 });
  }
  yield end;
}

function tooWide(message: string): never {
  throw new ValidationError(message, [{ path: 'query.group_by', message }], 'QUERY_TOO_WIDE');
}

/** Whether a stored value is the one a filter asks for: a model by any name that prices as it. */
const matches = (attribute: Attribute, stored: string, wanted: string | undefined) =>
  wanted === undefined || kpiValueOf(attribute, stored) === kpiValueOf(attribute, wanted);

/**
 * Reads the cells that answer a query on `attributes` (grouped or filtered), hourly or daily.
 * Daily cells answer up to two attributes, hourly cells one: that is what the rollup keeps.
 * Cells keep models as sent; rows name them by their priced name, and a model filter takes every
 * spelling of the model (several rows of one time may then carry the same values: callers add).
 */
async function readRows(
  db: Db,
  tenantId: string,
  attributes: Attribute[],
  filters: Map<Attribute, string>,
  daily: boolean,
  range: { from: string; to: string },
): Promise<Row[]> {
  const split = (sk: string) => {
    const at = sk.indexOf('#');
    return at < 0 ? { time: sk, value: '' } : { time: sk.slice(0, at), value: sk.slice(at + 1) };
  };
  if (attributes.length === 0) {
    const pk = (daily ? cellKeys.dayTotal(tenantId, '') : cellKeys.hourTotal(tenantId, '')).pk;
    return (await queryCells(db, pk, range.from, range.to)).map((cell) => ({
      time: cell.sk,
      values: {},
      sums: cell.sums,
    }));
  }
  /** The values one attribute's cells hold (as stored), with their times and sums. */
  const singleCells = async (attribute: Attribute, dailyCells: boolean) => {
    const pk = (
      dailyCells
        ? cellKeys.daySingle(tenantId, attribute, '', '')
        : cellKeys.hourSingle(tenantId, attribute, '', '')
    ).pk;
    return (await queryCells(db, pk, range.from, range.to))
      .map((cell) => ({ ...split(cell.sk), sums: cell.sums }))
      .filter((cell) => matches(attribute, cell.value, filters.get(attribute)));
  };
  if (attributes.length === 1) {
    const [attribute] = attributes as [Attribute];
    return (await singleCells(attribute, daily)).map(({ time, value, sums }) => ({
      time,
      values: { [attribute]: kpiValueOf(attribute, value) },
      sums,
    }));
  }
  if (!daily)
    tooWide(
      'Hourly buckets and time zones other than UTC answer one group_by or filter attribute at a time.',
    );
  if (attributes.length > 2)
    tooWide('Group and filter by at most two attributes (dimensions, model, provider) together.');
  // Pair cells are kept in both orientations: fix a filtered attribute when there is one, one whose
  // value is stored as asked (not a model, which may be stored under several spellings) first.
  const [first, second] = attributes as [Attribute, Attribute];
  const fixedFirst = (attribute: Attribute) => filters.has(attribute) && attribute !== MODEL_ATTRIBUTE;
  const fixed = fixedFirst(first)
    ? first
    : fixedFirst(second)
      ? second
      : filters.has(first)
        ? first
        : filters.has(second)
          ? second
          : first;
  const by = fixed === first ? second : first;
  const fixedValues =
    filters.has(fixed) && fixed !== MODEL_ATTRIBUTE
      ? [filters.get(fixed) as string]
      : [...new Set((await singleCells(fixed, true)).map((cell) => cell.value))];
  const perValue = await Promise.all(
    fixedValues.map(async (fixedValue) =>
      (
        await queryCells(
          db,
          cellKeys.dayPair(tenantId, fixed, fixedValue, by, '', '').pk,
          range.from,
          range.to,
        )
      ).flatMap((cell) => {
        const { time, value } = split(cell.sk);
        if (!matches(by, value, filters.get(by))) return [];
        const values = { [fixed]: kpiValueOf(fixed, fixedValue), [by]: kpiValueOf(by, value) };
        return [{ time, values, sums: cell.sums }];
      }),
    ),
  );
  return perValue.flat();
}

/**
 * Per bucket, what the query's slice (its filters only) holds beyond the groups' series: the
 * usage lacking a group_by attribute. Buckets where nothing is left are left out.
 */
async function unattributed(
  readUsage: ReadUsage,
  sliceAttributes: Attribute[],
  series: Map<string, SeriesEntry>,
  bucketOfRow: (time: string) => string,
): Promise<Map<string, CellSums>> {
  const slice = new Map<string, CellSums>();
  for (const row of await readUsage(sliceAttributes)) {
    const bucket = bucketOfRow(row.time);
    slice.set(bucket, addSums(slice.get(bucket) ?? emptySums(), row.sums));
  }
  const grouped = new Map<string, CellSums>();
  for (const entry of series.values()) {
    for (const [bucket, sums] of entry.byBucket)
      grouped.set(bucket, addSums(grouped.get(bucket) ?? emptySums(), sums));
  }
  const rest = new Map<string, CellSums>();
  for (const [bucket, sums] of slice) {
    const left = subtractSums(sums, grouped.get(bucket) ?? emptySums());
    if (!isEmptySums(left)) rest.set(bucket, left);
  }
  return rest;
}

/** The start of the bucket an hour or day cell belongs to, in the query's time zone, RFC 3339. */
function bucketOf(time: string, granularity: Granularity, zone: string): string {
  const instant = DateTime.fromISO(time.length === 10 ? `${time}T00:00:00Z` : `${time}:00Z`, {
    zone: 'utc',
  }).setZone(zone);
  const start =
    granularity === 'hour'
      ? instant.startOf('hour')
      : granularity === 'day'
        ? instant.startOf('day')
        : instant.startOf('month');
  return zone === 'UTC'
    ? (start.toUTC().toISO({ suppressMilliseconds: true }) as string)
    : (start.toISO({ suppressMilliseconds: true }) as string);
}

function bucketsBetween(from: Date, to: Date, granularity: Granularity, zone: string): string[] {
  const buckets: string[] = [];
  let cursor = DateTime.fromJSDate(from, { zone }).startOf(granularity);
  const end = DateTime.fromJSDate(to, { zone });
  assertWholeHourOffsets(zone, [end]);
  while (cursor < end) {
    assertWholeHourOffsets(zone, [cursor]);
    buckets.push(
      zone === 'UTC'
        ? (cursor.toUTC().toISO({ suppressMilliseconds: true }) as string)
        : (cursor.toISO({ suppressMilliseconds: true }) as string),
    );
    if (buckets.length > MAX_POINTS) {
      throw new ValidationError('Too many buckets: use a coarser granularity or a shorter range.', [
        { path: 'query.granularity', message: `more than ${MAX_POINTS} buckets` },
      ]);
    }
    // Found as the first was: a bucket that began late because its midnight does not exist
    // (America/Santiago's first day of DST begins at 01:00) does not set the hour of the next.
    cursor = cursor.plus({ [`${granularity}s`]: 1 }).startOf(granularity);
  }
  return buckets;
}

const ratio = (numerator: Decimal, denominator: Decimal): Decimal | null =>
  denominator.isZero() ? null : numerator.dividedBy(denominator);
const asNumber = (value: Decimal | null, places: number): number | null =>
  value === null ? null : Number(value.toDecimalPlaces(places).toString());

/** What the providers billed and the cost of the billed providers' events it is set against. */
interface Bill {
  billed: Decimal;
  metered: Decimal;
  /**
   * Charges of no model (tool calls, storage…): no usage event meters them, so they have no drift
   * (null), as in the reconciliation; their billed cost still counts in the totals' drift.
   */
  unmetered?: true;
}
const NO_BILL: Bill = { billed: ZERO, metered: ZERO };
const addBills = (a: Bill, b: Bill): Bill => ({
  billed: a.billed.plus(b.billed),
  metered: a.metered.plus(b.metered),
});

/** Reads the usage cells of some attributes under the query's filters (see queryKpis). */
type ReadUsage = (attributes: Attribute[]) => Promise<Row[]>;

function metricValue(metric: Metric, sums: CellSums, covered: Map<string, Decimal>, bill: Bill): MetricValue {
  const tokens = totalTokensOf(sums);
  switch (metric.kind) {
    case 'billed_cost':
      return toMoneyString(bill.billed);
    case 'billing_drift_pct':
      if (bill.unmetered) return null;
      return asNumber(ratio(bill.metered.minus(bill.billed).times(100), bill.billed), 4);
    case 'cost':
      return toMoneyString(sums.cost);
    case 'reported_cost':
      return toMoneyString(sums.reported_cost);
    case 'cache_savings':
      return toMoneyString(sums.cache_savings);
    case 'tokens':
      return tokens;
    case 'input_tokens':
    case 'output_tokens':
    case 'cached_input_tokens':
    case 'cache_write_tokens':
    case 'reasoning_tokens':
    case 'requests':
    case 'events':
    case 'unpriced_tokens':
      return metric.kind === 'cache_write_tokens'
        ? sums.cache_write_tokens + sums.cache_write_1h_tokens
        : sums[metric.kind];
    case 'cost_per_1k_tokens': {
      // Per priced token: an unpriced model's tokens have no cost yet, and would lower the rate.
      const value = ratio(sums.cost.times(1000), ZERO.plus(tokens - sums.unpriced_tokens));
      return value === null ? null : toMoneyString(value);
    }
    case 'cost_per_request': {
      const value = ratio(sums.cost, ZERO.plus(sums.requests));
      return value === null ? null : toMoneyString(value);
    }
    case 'cache_hit_ratio': {
      const prompt =
        sums.input_tokens + sums.cached_input_tokens + sums.cache_write_tokens + sums.cache_write_1h_tokens;
      return asNumber(ratio(ZERO.plus(sums.cached_input_tokens), ZERO.plus(prompt)), 6);
    }
    case 'outcomes':
      return toDecimalString(sums.outcomes[metric.argument]?.value ?? ZERO);
    case 'cost_per_outcome': {
      const value = ratio(sums.cost, sums.outcomes[metric.argument]?.value ?? ZERO);
      return value === null ? null : toMoneyString(value);
    }
    case 'tokens_per_outcome':
      return asNumber(ratio(ZERO.plus(tokens), sums.outcomes[metric.argument]?.value ?? ZERO), 4);
    case 'attribution_coverage_pct':
      return asNumber(ratio((covered.get(metric.argument) ?? ZERO).times(100), sums.cost), 4);
  }
}

const isAligned = (date: Date, unit: 'hour' | 'day') =>
  date.getTime() % (unit === 'hour' ? 3_600_000 : 86_400_000) === 0;

/**
 * Answers a KPI query from the cells. Grouped series, zero-filled buckets, totals per series and
 * overall; ratios with a zero denominator are null; money exact to the last digit before it is
 * formatted. A key's `restrict` is applied as filters the caller cannot lift.
 */
export async function queryKpis(
  db: Db,
  tenantId: string,
  query: KpiQuery,
  restrict: Record<string, string> | null,
): Promise<KpiResult> {
  if (query.to <= query.from)
    throw new ValidationError('"to" must be after "from".', [
      { path: 'query.to', message: 'must be after from' },
    ]);
  // An IANA zone only: luxon would also take "local" (the server's zone) and "UTC+5".
  if (!IANAZone.isValidZone(query.timezone)) {
    throw new ValidationError('Unknown time zone.', [
      { path: 'query.timezone', message: 'an IANA time zone such as Europe/Berlin' },
    ]);
  }
  // UTC by any of its names ("utc", "Etc/UTC", "GMT") reads the UTC day cells; other zones keep
  // the caller's spelling.
  const timezone = canonicalTimeZone(query.timezone) === 'UTC' ? 'UTC' : query.timezone;
  if (query.groupBy.length > 2) tooWide('Group by at most two attributes.');
  const daily =
    timezone === 'UTC' &&
    query.granularity !== 'hour' &&
    isAligned(query.from, 'day') &&
    isAligned(query.to, 'day');
  if (!daily && !(isAligned(query.from, 'hour') && isAligned(query.to, 'hour'))) {
    throw new ValidationError(
      'Align "from" and "to" to whole hours (whole UTC days for two-attribute queries).',
      [{ path: 'query.from', message: 'not on an hour boundary' }],
    );
  }

  const filters = new Map<Attribute, string>();
  for (const [name, value] of Object.entries(query.filters)) filters.set(attributeOf(name), value);
  let contradictory = false;
  for (const [name, value] of Object.entries(restrict ?? {})) {
    const attribute = attributeOf(name);
    // A model is one model by any name that prices as it (see priced-model.ts).
    const asked = filters.get(attribute);
    if (asked !== undefined && !matches(attribute, asked, value)) contradictory = true;
    filters.set(attribute, value);
  }
  const groupAttributes = query.groupBy.map(attributeOf);
  const attributes = [...new Set([...groupAttributes, ...filters.keys()])];
  if (attributes.length === 2 && !daily) {
    if (query.granularity === 'hour' || timezone !== 'UTC')
      tooWide(
        'Hourly buckets and time zones other than UTC answer one group_by or filter attribute at a time.',
      );
    throw new ValidationError(
      'Two group_by or filter attributes together need "from" and "to" on whole UTC days.',
      [{ path: 'query.from', message: 'not on a UTC day boundary' }],
    );
  }
  const range = daily
    ? { from: query.from.toISOString().slice(0, 10), to: query.to.toISOString().slice(0, 10) }
    : {
        from: `${query.from.toISOString().slice(0, 13)}:00`,
        to: `${query.to.toISOString().slice(0, 13)}:00`,
      };

  // Rows of one time share a bucket: compute it once per time (time zone math is the costly part).
  const bucketCache = new Map<string, string>();
  const bucketOfRow = (time: string) => {
    let bucket = bucketCache.get(time);
    if (bucket === undefined) {
      bucket = bucketOf(time, query.granularity, timezone);
      bucketCache.set(time, bucket);
    }
    return bucket;
  };
  // Models are read, grouped and filtered by their priced names whatever the metrics (readRows):
  // `gpt-4o` and `gpt-4o-2024-08-06` are one model, for `cost` as for `billed_cost`.
  const readUsage: ReadUsage = (readAttributes) =>
    readRows(db, tenantId, readAttributes, filters, daily, range);
  const rows = contradictory ? [] : await readUsage(attributes);
  // Attribution coverage: the cost of the events that carry the dimension, per group and bucket.
  const coverage = new Map<string, Map<string, Decimal>>();
  const addCoverage = (key: string, dimension: string, cost: Decimal) => {
    const perKey = coverage.get(key) ?? new Map<string, Decimal>();
    perKey.set(dimension, (perKey.get(dimension) ?? ZERO).plus(cost));
    coverage.set(key, perKey);
  };
  for (const metric of query.metrics) {
    if (metric.kind !== 'attribution_coverage_pct' || contradictory) continue;
    const dimension = attributeOf(metric.argument);
    const withDimension = [...new Set([...attributes, dimension])];
    /** Per bucket, the covered cost the groups hold: the unattributed series covers the rest. */
    const inGroups = new Map<string, Decimal>();
    for (const row of await readUsage(withDimension)) {
      const bucket = bucketOfRow(row.time);
      addCoverage(
        `${groupKeyOf(groupAttributes, row.values)}\u0001${bucket}`,
        metric.argument,
        row.sums.cost,
      );
      inGroups.set(bucket, (inGroups.get(bucket) ?? ZERO).plus(row.sums.cost));
    }
    if (groupAttributes.length === 0) continue;
    const inSlice = new Map<string, Decimal>();
    const sliceAttributes = [...new Set([...filters.keys(), dimension])];
    for (const row of await readUsage(sliceAttributes)) {
      const bucket = bucketOfRow(row.time);
      inSlice.set(bucket, (inSlice.get(bucket) ?? ZERO).plus(row.sums.cost));
    }
    for (const [bucket, cost] of inSlice) {
      const rest = cost.minus(inGroups.get(bucket) ?? ZERO);
      if (!rest.isZero()) addCoverage(`${UNATTRIBUTED}\u0001${bucket}`, metric.argument, rest);
    }
  }

  const buckets = bucketsBetween(query.from, query.to, query.granularity, timezone);
  const series = new Map<string, SeriesEntry>();
  for (const row of rows) {
    const values = row.values;
    const groupKey = groupKeyOf(groupAttributes, values);
    const entry = series.get(groupKey) ?? {
      group: Object.fromEntries(groupAttributes.map((a) => [nameOf(a), values[a] as string])),
      byBucket: new Map(),
    };
    const bucket = bucketOfRow(row.time);
    const current = entry.byBucket.get(bucket);
    // A row's sums are its own (decoded per query), so the first one of a bucket is used as is.
    entry.byBucket.set(bucket, current ? addSums(current, row.sums) : row.sums);
    series.set(groupKey, entry);
  }
  if (groupAttributes.length > 0 && !contradictory) {
    const rest = await unattributed(readUsage, [...filters.keys()], series, bucketOfRow);
    if (rest.size > 0) {
      series.set(UNATTRIBUTED, {
        group: Object.fromEntries(groupAttributes.map((attribute) => [nameOf(attribute), null])),
        byBucket: rest,
      });
    }
  }

  const billed = await billedByGroup(db, tenantId, query, {
    restricted: restrict !== null && Object.keys(restrict).length > 0,
    contradictory,
    daily,
    attributes,
    groupAttributes,
    filters,
    range,
    series,
    bucketOfRow,
  });
  // The drift compares a bill with the usage it bills: the cost of the events of the providers the
  // tenant pulls bills from (not an Azure or Bedrock event of the same model, nor Anthropic's usage
  // when only OpenAI is connected), as the reconciliation does.
  const metered = new Map<string, Decimal>();
  if (query.metrics.some((metric) => metric.kind === 'billing_drift_pct') && !contradictory) {
    const billing = new Set((await allConnections(db, tenantId)).map((connection) => connection.provider));
    // Read afresh, not the query's rows: the series took those rows' sums as their accumulators.
    for (const row of await readUsage([...new Set([...attributes, PROVIDER_ATTRIBUTE])])) {
      if (!billing.has((row.values[PROVIDER_ATTRIBUTE] ?? '') as BillingProvider)) continue;
      const key = `${groupKeyOf(groupAttributes, row.values)}\u0001${bucketOfRow(row.time)}`;
      metered.set(key, (metered.get(key) ?? ZERO).plus(row.sums.cost));
    }
  }
  // An ungrouped query answers its one series, zero-filled, even over a range with no usage.
  if (groupAttributes.length === 0 && series.size === 0) series.set('', { group: {}, byBucket: new Map() });

  const values = (sums: CellSums, covered: Map<string, Decimal>, bill: Bill) =>
    Object.fromEntries(
      query.metrics.map((metric) => [metric.name, metricValue(metric, sums, covered, bill)]),
    );
  // Zero-filled points all read the same: compute them once.
  const noCoverage = new Map<string, Decimal>();
  const emptyValues = values(emptySums(), noCoverage, NO_BILL);
  const overall = emptySums();
  const overallCovered = new Map<string, Decimal>();
  let overallBill = NO_BILL;
  const result: KpiSeries[] = [];
  const ordered = [...series.entries()].sort(([aKey, a], [bKey, b]) => {
    // The unattributed series comes last.
    if (aKey === UNATTRIBUTED || bKey === UNATTRIBUTED) return aKey === UNATTRIBUTED ? 1 : -1;
    for (const attribute of groupAttributes) {
      const order = (a.group[nameOf(attribute)] ?? '').localeCompare(b.group[nameOf(attribute)] ?? '');
      if (order !== 0) return order;
    }
    return 0;
  });
  for (const [groupKey, entry] of ordered) {
    const seriesTotal = emptySums();
    const seriesCovered = new Map<string, Decimal>();
    let seriesBill = NO_BILL;
    const unmetered = groupAttributes.includes(MODEL_ATTRIBUTE) && entry.group.model === NO_MODEL;
    const points = buckets.map((start) => {
      const pointBilled = billed.get(`${groupKey}\u0001${start}`);
      const sums = entry.byBucket.get(start) ?? (pointBilled ? emptySums() : undefined);
      if (!sums) return { start, values: { ...emptyValues } };
      addSums(seriesTotal, sums);
      const pointBill: Bill = {
        billed: pointBilled ?? ZERO,
        metered: metered.get(`${groupKey}\u0001${start}`) ?? ZERO,
        ...(unmetered ? { unmetered } : {}),
      };
      seriesBill = addBills(seriesBill, pointBill);
      const covered = coverage.get(`${groupKey}\u0001${start}`) ?? noCoverage;
      for (const [dimension, cost] of covered) {
        seriesCovered.set(dimension, (seriesCovered.get(dimension) ?? ZERO).plus(cost));
        overallCovered.set(dimension, (overallCovered.get(dimension) ?? ZERO).plus(cost));
      }
      return { start, values: values(sums, covered, pointBill) };
    });
    addSums(overall, seriesTotal);
    overallBill = addBills(overallBill, seriesBill);
    const seriesTotals = values(
      seriesTotal,
      seriesCovered,
      unmetered ? { ...seriesBill, unmetered } : seriesBill,
    );
    result.push({ group: entry.group, points, totals: seriesTotals });
  }
  const cursor = await getCursor(db, tenantId);
  return {
    from: query.from.toISOString(),
    to: query.to.toISOString(),
    granularity: query.granularity,
    timezone,
    metrics: query.metrics.map((metric) => metric.name),
    series: result,
    totals: values(overall, overallCovered, overallBill),
    as_of: cursor?.until && cursor.until !== '1970-01-01T00:00:00.000Z' ? cursor.until : null,
  };
}

/** The group value of billed charges that name no model (tool calls, storage…). */
export const NO_MODEL = '(no model)';

/**
 * The providers' billed cost per series and bucket (`groupKey \u0001 bucket`), for `billed_cost`
 * and `billing_drift_pct`. Bills know only provider, model and UTC day, so these metrics take
 * provider and model as group and filter attributes, in UTC day or month buckets, and a key
 * restricted to a slice cannot see them. A bill's model is named and filtered by its priced name,
 * as usage is (see priced-model.ts), so the bill's snapshot ids meet the apps' aliases; a billed
 * model no event used gets a series of its own, with zero usage.
 */
async function billedByGroup(
  db: Db,
  tenantId: string,
  query: KpiQuery,
  context: {
    restricted: boolean;
    contradictory: boolean;
    daily: boolean;
    attributes: Attribute[];
    groupAttributes: Attribute[];
    filters: Map<Attribute, string>;
    range: { from: string; to: string };
    series: Map<string, SeriesEntry>;
    bucketOfRow: (time: string) => string;
  },
): Promise<Map<string, Decimal>> {
  const billed = new Map<string, Decimal>();
  const asked = query.metrics.filter((metric) => BILLED_METRICS.includes(metric.kind));
  if (asked.length === 0) return billed;
  const names = asked.map((metric) => metric.name).join(', ');
  if (context.restricted) {
    throw new ForbiddenError(
      `${names}: provider bills are not split by dimension, so a restricted key cannot see them.`,
      'RESTRICTED_KEY',
    );
  }
  const other = context.attributes.filter((a) => a !== MODEL_ATTRIBUTE && a !== PROVIDER_ATTRIBUTE);
  if (other.length > 0 || !context.daily) {
    throw new ValidationError(
      `${names} come from provider bills, which know only provider, model and UTC day.`,
      [
        {
          path: other.length > 0 ? 'query.group_by' : 'query.granularity',
          message:
            other.length > 0
              ? `group and filter by provider and model only (not ${other.map(nameOf).join(', ')})`
              : 'day or month buckets in UTC, from and to on whole days',
        },
      ],
    );
  }
  if (context.contradictory) return billed;
  const rows = await billedCost(db, tenantId, {
    from: query.from,
    to: query.to,
    provider: context.filters.get(PROVIDER_ATTRIBUTE),
  });
  const wantedModel = context.filters.get(MODEL_ATTRIBUTE);
  const byModel = context.groupAttributes.includes(MODEL_ATTRIBUTE);
  const byProvider = context.groupAttributes.includes(PROVIDER_ATTRIBUTE);
  for (const row of rows) {
    if (row.day < context.range.from || row.day >= context.range.to) continue;
    // A model filter takes the bill's models by their priced names (charges of no model never match).
    if (
      wantedModel !== undefined &&
      (row.model === null || !matches(MODEL_ATTRIBUTE, row.model, wantedModel))
    )
      continue;
    const values: Record<Attribute, string> = {};
    if (byProvider) values[PROVIDER_ATTRIBUTE] = row.provider;
    if (byModel)
      values[MODEL_ATTRIBUTE] = row.model === null ? NO_MODEL : kpiValueOf(MODEL_ATTRIBUTE, row.model);
    const groupKey = groupKeyOf(context.groupAttributes, values);
    if (!context.series.has(groupKey)) {
      context.series.set(groupKey, {
        group: Object.fromEntries(context.groupAttributes.map((a) => [nameOf(a), values[a] as string])),
        byBucket: new Map(),
      });
    }
    const key = `${groupKey}\u0001${context.bucketOfRow(row.day)}`;
    billed.set(key, (billed.get(key) ?? ZERO).plus(row.billed_cost));
  }
  return billed;
}

function groupKeyOf(groupAttributes: Attribute[], values: Record<Attribute, string>): string {
  return groupAttributes.map((attribute) => `${attribute}=${values[attribute] ?? ''}`).join('\u0000');
}
