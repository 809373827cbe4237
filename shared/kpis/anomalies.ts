import { randomBytes } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { DateTime } from 'luxon';
import type { BusEvent } from '../bus/bus.js';
import type { Db } from '../db/client.js';
import { storedItemIs, succeededOrOwn } from '../db/conditional.js';
import { tenantPartition } from '../db/keys.js';
import { type AnomalyFinding, type DailyValue, detectAnomaly } from './anomaly.js';
import { type CellSums, cellKeys, dimensionAttribute, emptySums, totalTokensOf } from './cells.js';
import { listNotices, recordNotice } from './notices.js';
import { queryCells } from './repository.js';

/** Days of history the detector looks back over. */
const HISTORY_DAYS = 56;
/** The dimension whose values are a tenant's customers, for the spend-share check. */
const CUSTOMER_DIMENSION = 'customer';
const TOP_CUSTOMERS = 10;
export const ANOMALY_PREFIX = 'v1#anomaly#';

type Series = Map<string, CellSums>;

function days(from: string, to: string): string[] {
  const out: string[] = [];
  for (
    let day = DateTime.fromISO(from, { zone: 'utc' });
    (day.toISODate() as string) <= to;
    day = day.plus({ days: 1 })
  ) {
    out.push(day.toISODate() as string);
  }
  return out;
}

const ratio = (numerator: number, denominator: number) =>
  denominator === 0 ? null : numerator / denominator;

/** The daily metrics checked: totals, and the unit metrics that move when behaviour changes. */
function metricSeries(byDay: Series, dayList: string[]): Map<string, DailyValue[]> {
  const metrics = new Map<string, DailyValue[]>();
  const push = (metric: string, date: string, value: number | null) => {
    metrics.set(metric, [...(metrics.get(metric) ?? []), { date, value }]);
  };
  const outcomeNames = new Set([...byDay.values()].flatMap((sums) => Object.keys(sums.outcomes)));
  for (const date of dayList) {
    const sums = byDay.get(date) ?? emptySums();
    const prompt =
      sums.input_tokens + sums.cached_input_tokens + sums.cache_write_tokens + sums.cache_write_1h_tokens;
    push('cost', date, Number(sums.cost.toFixed(8)));
    push('tokens', date, totalTokensOf(sums));
    push('cache_hit_ratio', date, ratio(sums.cached_input_tokens, prompt));
    push('reasoning_tokens_per_request', date, ratio(sums.reasoning_tokens, sums.requests));
    for (const name of outcomeNames) {
      const outcomes = sums.outcomes[name]?.value;
      push(
        `cost_per_outcome:${name}`,
        date,
        outcomes && !outcomes.isZero() ? Number(sums.cost.dividedBy(outcomes).toFixed(8)) : null,
      );
    }
  }
  return metrics;
}

function findingData(metric: string, subject: Record<string, string>, finding: AnomalyFinding) {
  return {
    metric,
    subject,
    date: finding.date,
    value: finding.value,
    expected: finding.expected,
    score: finding.score,
    direction: finding.direction,
    severity: finding.severity,
  };
}

/**
 * Checks one tenant's complete day `day` (UTC) for anomalies on totals and unit metrics, and on
 * each top customer's share of spend, once per day: each finding is kept and published once.
 */
export async function checkAnomalies(db: Db, tenantId: string, day: string, now: Date): Promise<BusEvent[]> {
  const key = { pk: tenantPartition(tenantId), sk: `v1#anomaly-check#${day}` };
  // Unique to this check: a refusal that finds it stored was this write, retried by the SDK.
  const claim = randomBytes(9).toString('base64url');
  const claimed = await succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: { ...key, checked_at: now.toISOString(), clm: claim },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
    storedItemIs(db, key, (item) => item.clm === claim),
  );
  if (!claimed) return [];
  const from = DateTime.fromISO(day, { zone: 'utc' }).minus({ days: HISTORY_DAYS }).toISODate() as string;
  const toExclusive = DateTime.fromISO(day, { zone: 'utc' }).plus({ days: 1 }).toISODate() as string;
  const dayList = days(from, day);
  const totals: Series = new Map(
    (await queryCells(db, cellKeys.dayTotal(tenantId, '').pk, from, toExclusive)).map((cell) => [
      cell.sk,
      cell.sums,
    ]),
  );

  const published: BusEvent[] = [];
  const record = async (metric: string, subject: Record<string, string>, finding: AnomalyFinding) => {
    const subjectKey = Object.entries(subject)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const event = await recordNotice(
      db,
      tenantId,
      `${ANOMALY_PREFIX}${finding.date}#${metric}#${subjectKey}`,
      'anomaly.detected.v1',
      findingData(metric, subject, finding),
      now,
    );
    if (event) published.push(event);
  };

  // Days before the tenant's first usage are no history: a new tenant's first spend is no anomaly.
  const firstActive = dayList.find((date) => (totals.get(date)?.events ?? 0) > 0);
  const active = firstActive ? dayList.filter((date) => date >= firstActive) : [];
  for (const [metric, series] of metricSeries(totals, active)) {
    const finding = detectAnomaly(series, day);
    if (finding) await record(metric, {}, finding);
  }

  // One customer's share of spend: a customer whose usage jumps while the total barely moves.
  const customerCells = await queryCells(
    db,
    cellKeys.daySingle(tenantId, dimensionAttribute(CUSTOMER_DIMENSION), '', '').pk,
    from,
    toExclusive,
  );
  const perCustomer = new Map<string, Map<string, number>>();
  for (const cell of customerCells) {
    const [date, customer] = [cell.sk.slice(0, 10), cell.sk.slice(11)];
    const byDate = perCustomer.get(customer) ?? new Map<string, number>();
    byDate.set(date, Number(cell.sums.cost.toFixed(8)));
    perCustomer.set(customer, byDate);
  }
  const top = [...perCustomer.entries()]
    .sort(([, a], [, b]) => (b.get(day) ?? 0) - (a.get(day) ?? 0))
    .slice(0, TOP_CUSTOMERS);
  for (const [customer, byDate] of top) {
    const series = active.map((date) => {
      const total = Number((totals.get(date)?.cost ?? emptySums().cost).toFixed(8));
      return { date, value: ratio(byDate.get(date) ?? 0, total) };
    });
    const finding = detectAnomaly(series, day);
    if (finding) await record('customer_spend_share', { [CUSTOMER_DIMENSION]: customer }, finding);
  }
  return published;
}

/** The anomalies of [fromDay, toDay), as published. */
export async function listAnomalies(
  db: Db,
  tenantId: string,
  fromDay: string,
  toDay: string,
): Promise<BusEvent[]> {
  return listNotices(db, tenantId, ANOMALY_PREFIX, fromDay, toDay);
}
