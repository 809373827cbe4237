import { tenantPartition } from '../db/keys.js';
import type { IngestedPrice } from '../ingest/raw-event-repository.js';
import { type Decimal, parseDecimal, ZERO } from '../money/money.js';
import { expandUsage } from '../usage/service.js';

/**
 * KPI cells: pre-aggregated sums that queries read instead of raw events, so a query's cost
 * follows the cardinality of what it asks for, not the number of events.
 *
 * An event adds to these cells of the bucket its timestamp falls in:
 * - per UTC day: the total, each attribute alone, and each pair of attributes in both
 *   orientations (`customer=acme` → by `feature`, and `feature=chat` → by `customer`);
 * - per UTC hour: the total and each attribute alone (hour granularity and other time zones).
 * Attributes are the event's dimensions (`d:<key>`), its model (`m`) and provider (`p`).
 */
export type Attribute = string;
export const MODEL_ATTRIBUTE = 'm';
export const PROVIDER_ATTRIBUTE = 'p';
export const dimensionAttribute = (key: string) => `d:${key}`;

/** The API's name of an attribute: a dimension key, `model` or `provider`. */
export function attributeOf(name: string): Attribute {
  if (name === 'model') return MODEL_ATTRIBUTE;
  if (name === 'provider') return PROVIDER_ATTRIBUTE;
  return dimensionAttribute(name);
}
export function nameOf(attribute: Attribute): string {
  if (attribute === MODEL_ATTRIBUTE) return 'model';
  if (attribute === PROVIDER_ATTRIBUTE) return 'provider';
  return attribute.slice(2);
}

/** The sums a cell holds. Integers are token and event counts; the rest exact decimals. */
export interface CellSums {
  events: number;
  requests: number;
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  cache_write_1h_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  unpriced_tokens: number;
  unpriced_events: number;
  cost: Decimal;
  cache_savings: Decimal;
  reported_cost: Decimal;
  /** Per outcome name: the sum of values and the number of outcome events. */
  outcomes: Record<string, { value: Decimal; count: number }>;
}

export const COUNT_FIELDS = [
  'events',
  'requests',
  'input_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'output_tokens',
  'reasoning_tokens',
  'unpriced_tokens',
  'unpriced_events',
] as const;
export const MONEY_FIELDS = ['cost', 'cache_savings', 'reported_cost'] as const;

export function emptySums(): CellSums {
  return {
    events: 0,
    requests: 0,
    input_tokens: 0,
    cached_input_tokens: 0,
    cache_write_tokens: 0,
    cache_write_1h_tokens: 0,
    output_tokens: 0,
    reasoning_tokens: 0,
    unpriced_tokens: 0,
    unpriced_events: 0,
    cost: ZERO,
    cache_savings: ZERO,
    reported_cost: ZERO,
    outcomes: {},
  };
}

export function addSums(into: CellSums, delta: CellSums): CellSums {
  for (const field of COUNT_FIELDS) into[field] += delta[field];
  for (const field of MONEY_FIELDS) into[field] = into[field].plus(delta[field]);
  for (const [name, outcome] of Object.entries(delta.outcomes)) {
    const current = into.outcomes[name] ?? { value: ZERO, count: 0 };
    into.outcomes[name] = { value: current.value.plus(outcome.value), count: current.count + outcome.count };
  }
  return into;
}

/** `from` less `minus`, as a new object: what a whole holds beyond some of its parts. */
export function subtractSums(from: CellSums, minus: CellSums): CellSums {
  const rest = addSums(emptySums(), from);
  for (const field of COUNT_FIELDS) rest[field] -= minus[field];
  for (const field of MONEY_FIELDS) rest[field] = rest[field].minus(minus[field]);
  for (const [name, outcome] of Object.entries(minus.outcomes)) {
    const current = rest.outcomes[name] ?? { value: ZERO, count: 0 };
    const left = { value: current.value.minus(outcome.value), count: current.count - outcome.count };
    if (left.count === 0 && left.value.isZero()) delete rest.outcomes[name];
    else rest.outcomes[name] = left;
  }
  return rest;
}

/** True when the sums hold nothing at all (no event, no outcome). */
export function isEmptySums(sums: CellSums): boolean {
  return (
    COUNT_FIELDS.every((field) => sums[field] === 0) &&
    MONEY_FIELDS.every((field) => sums[field].isZero()) &&
    Object.keys(sums.outcomes).length === 0
  );
}

export function totalTokensOf(sums: CellSums): number {
  return (
    sums.input_tokens +
    sums.cached_input_tokens +
    sums.cache_write_tokens +
    sums.cache_write_1h_tokens +
    sums.output_tokens
  );
}

/**
 * What one stored raw event (usage, outcome, or a re-price correction) adds to its cells.
 * `current`: a usage event's price as it is now (not as ingested), for what is not kept in cells.
 */
export function sumsOfEvent(item: Record<string, unknown>, current = false): CellSums {
  const sums = emptySums();
  if (item.kind === 'outcome') {
    sums.outcomes[item.name as string] = { value: parseDecimal(item.value as string), count: 1 };
    return sums;
  }
  if (item.kind === 'usage-correction') {
    sums.cost = parseDecimal((item.cost_delta as string | undefined) ?? '0');
    sums.cache_savings = parseDecimal((item.sav_delta as string | undefined) ?? '0');
    sums.unpriced_tokens = (item.unpriced_tokens_delta as number | undefined) ?? 0;
    sums.unpriced_events = (item.unpriced_events_delta as number | undefined) ?? 0;
    return sums;
  }
  const usage = expandUsage(item.u as Record<string, number> | undefined);
  sums.events = 1;
  sums.requests = (item.rc as number | undefined) ?? 1;
  sums.input_tokens = usage.input_tokens;
  sums.cached_input_tokens = usage.cached_input_tokens;
  sums.cache_write_tokens = usage.cache_write_tokens;
  sums.cache_write_1h_tokens = usage.cache_write_1h_tokens;
  sums.output_tokens = usage.output_tokens;
  sums.reasoning_tokens = usage.reasoning_tokens;
  const price: IngestedPrice =
    !current && item.orig !== undefined
      ? (item.orig as IngestedPrice)
      : { cost: item.cost as string | undefined, sav: item.sav as string | undefined };
  if (price.cost === undefined) {
    sums.unpriced_tokens = totalTokensOf(sums);
    sums.unpriced_events = 1;
  } else {
    sums.cost = parseDecimal(price.cost);
  }
  if (price.sav !== undefined) sums.cache_savings = parseDecimal(price.sav);
  if (item.rcost !== undefined) sums.reported_cost = parseDecimal(item.rcost as string);
  return sums;
}

/** The grouping attributes of a stored event, in a stable order. */
export function attributesOfEvent(item: Record<string, unknown>): [Attribute, string][] {
  const attributes: [Attribute, string][] = Object.entries(
    (item.dims as Record<string, string> | undefined) ?? {},
  )
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => [dimensionAttribute(key), value]);
  if (typeof item.model === 'string') attributes.push([MODEL_ATTRIBUTE, item.model]);
  if (typeof item.prov === 'string') attributes.push([PROVIDER_ATTRIBUTE, item.prov]);
  return attributes;
}

export const utcDay = (iso: string) => iso.slice(0, 10);
export const utcHour = (iso: string) => `${iso.slice(0, 13)}:00`;

/**
 * Where a value's sums live: a cell partition (`pk`), its UTC day or hour (`time`), and the
 * attribute value (`''` in the total cells). Every value of one partition and time is kept in
 * one item (or a few, when there are very many values), so a query reads one item per bucket
 * whatever the number of events or values behind it.
 */
export interface CellRef {
  pk: string;
  time: string;
  value: string;
}

/** `v2`: the wide layout. A new layout version rebuilds the cells from the raw events. */
const kpi = (tenantId: string) => `${tenantPartition(tenantId)}#kpi2`;

export const cellKeys = {
  dayTotal: (tenantId: string, day: string): CellRef => ({ pk: `${kpi(tenantId)}#d0`, time: day, value: '' }),
  daySingle: (tenantId: string, attribute: Attribute, day: string, value: string): CellRef => ({
    pk: `${kpi(tenantId)}#d1#${attribute}`,
    time: day,
    value,
  }),
  dayPair: (
    tenantId: string,
    fixed: Attribute,
    fixedValue: string,
    by: Attribute,
    day: string,
    value: string,
  ): CellRef => ({
    pk: `${kpi(tenantId)}#d2#${fixed}=${fixedValue}#${by}`,
    time: day,
    value,
  }),
  hourTotal: (tenantId: string, hour: string): CellRef => ({
    pk: `${kpi(tenantId)}#h0`,
    time: hour,
    value: '',
  }),
  hourSingle: (tenantId: string, attribute: Attribute, hour: string, value: string): CellRef => ({
    pk: `${kpi(tenantId)}#h1#${attribute}`,
    time: hour,
    value,
  }),
  cursor: (tenantId: string) => ({ pk: tenantPartition(tenantId), sk: 'v2#kpi-rollup-cursor' }),
  attributes: (tenantId: string) => ({ pk: tenantPartition(tenantId), sk: 'v1#kpi-attributes' }),
};

/** Every cell one event adds to. */
export function cellsOfEvent(tenantId: string, item: Record<string, unknown>): CellRef[] {
  const timestamp = item.ts as string;
  const day = utcDay(timestamp);
  const hour = utcHour(timestamp);
  const attributes = attributesOfEvent(item);
  const cells: CellRef[] = [cellKeys.dayTotal(tenantId, day), cellKeys.hourTotal(tenantId, hour)];
  for (const [attribute, value] of attributes) {
    cells.push(
      cellKeys.daySingle(tenantId, attribute, day, value),
      cellKeys.hourSingle(tenantId, attribute, hour, value),
    );
  }
  for (const [a, valueA] of attributes) {
    for (const [b, valueB] of attributes) {
      if (a !== b) cells.push(cellKeys.dayPair(tenantId, a, valueA, b, day, valueB));
    }
  }
  return cells;
}
