import type { Db } from '../db/client.js';
import { ValidationError } from '../errors/errors.js';
import { recordNotice } from '../kpis/notices.js';
import { parseMetrics, queryKpis } from '../kpis/query.js';
import { type Decimal, parseDecimal, toDecimalString, toMoneyString, ZERO } from '../money/money.js';
import { canonicalModelName } from '../pricing/model-names.js';
import { billedCost } from './billed-cost.js';
import { type BillingProvider, PROVIDERS } from './lines.js';
import { allConnections, getBillingSettings } from './repository.js';

export { type BilledDay, billedCost } from './billed-cost.js';

const DAY_MS = 86_400_000;

/**
 * Three-way reconciliation: per provider, UTC day and model, what the apps said they spent
 * (`reported_cost`), what Tollgate's pricing of their tokens says (`metered_cost`) and what the
 * provider billed (`billed_cost`). Models are compared under their catalog names, so the bill's
 * snapshot ids (`gpt-4o-2024-08-06`) meet the apps' aliases (`gpt-4o`).
 */

export interface ReconciliationRow {
  provider: string;
  date: string;
  model: string | null;
  reported_cost: string;
  metered_cost: string;
  billed_cost: string;
  /** (metered − billed) / billed × 100: positive when Tollgate meters more than the provider billed. */
  drift_pct: number | null;
  unattributed_cost: string;
}

export interface Reconciliation {
  from: string;
  to: string;
  provider: string | null;
  drift_threshold_pct: string;
  data: ReconciliationRow[];
  totals: Omit<ReconciliationRow, 'provider' | 'date' | 'model'>;
  /** Usage ingested before this instant is in `metered_cost` and `reported_cost`. */
  metered_as_of: string | null;
  /** How fresh each connection's bill is. */
  connections: {
    id: string;
    provider: string;
    synced_through: string | null;
    last_success_at: string | null;
  }[];
}

interface Cell {
  provider: string;
  date: string;
  model: string | null;
  reported: Decimal;
  metered: Decimal;
  billed: Decimal;
  /** Usage events that day and model: a billed model with none is spend no event explains. */
  events: number;
}

/** The drift as an exact decimal; null when nothing was billed. */
function driftOf(metered: Decimal, billed: Decimal): Decimal | null {
  return billed.isZero() ? null : metered.minus(billed).dividedBy(billed).times(100);
}

const asPct = (value: Decimal | null) =>
  value === null ? null : Number(value.toDecimalPlaces(4).toString());

const MAX_DAYS = 366;

/** Reconciles the UTC days [from, to) (YYYY-MM-DD), one provider or both. */
export async function reconcile(
  db: Db,
  tenantId: string,
  query: { from: string; to: string; provider?: BillingProvider | undefined },
): Promise<Reconciliation & { exact: { row: ReconciliationRow; drift: Decimal | null }[] }> {
  const from = new Date(`${query.from}T00:00:00Z`);
  const to = new Date(`${query.to}T00:00:00Z`);
  if (!(to > from))
    throw new ValidationError('"to" must be after "from".', [
      { path: 'query.to', message: 'must be after from' },
    ]);
  if (to.getTime() - from.getTime() > MAX_DAYS * DAY_MS)
    throw new ValidationError(`At most ${MAX_DAYS} days.`, [{ path: 'query.to', message: 'range too long' }]);

  const providers: readonly string[] = query.provider ? [query.provider] : PROVIDERS;
  const [kpis, billed, settings, connections] = await Promise.all([
    queryKpis(
      db,
      tenantId,
      {
        metrics: parseMetrics('cost,reported_cost,events'),
        from,
        to,
        granularity: 'day',
        timezone: 'UTC',
        groupBy: ['provider', 'model'],
        filters: query.provider ? { provider: query.provider } : {},
      },
      null,
    ),
    billedCost(db, tenantId, { from, to, provider: query.provider }),
    getBillingSettings(db, tenantId),
    allConnections(db, tenantId),
  ]);

  const cells = new Map<string, Cell>();
  const cellOf = (provider: string, date: string, model: string | null) => {
    const key = `${provider}\u0000${date}\u0000${model ?? ''}`;
    let cell = cells.get(key);
    if (!cell) {
      cell = { provider, date, model, reported: ZERO, metered: ZERO, billed: ZERO, events: 0 };
      cells.set(key, cell);
    }
    return cell;
  };
  for (const series of kpis.series) {
    const provider = series.group.provider ?? '';
    if (!providers.includes(provider)) continue;
    const model = canonicalModelName(provider, series.group.model ?? '');
    for (const point of series.points) {
      const events = Number(point.values.events ?? 0);
      if (events === 0) continue;
      const cell = cellOf(provider, point.start.slice(0, 10), model);
      cell.metered = cell.metered.plus(parseDecimal(String(point.values.cost)));
      cell.reported = cell.reported.plus(parseDecimal(String(point.values.reported_cost)));
      cell.events += events;
    }
  }
  for (const day of billed)
    cellOf(day.provider, day.day, day.model).billed = cellOf(day.provider, day.day, day.model).billed.plus(
      day.billed_cost,
    );

  const totals = { reported: ZERO, metered: ZERO, billed: ZERO, unattributed: ZERO };
  const exact = [...cells.values()]
    .sort(
      (a, b) =>
        a.date.localeCompare(b.date) ||
        a.provider.localeCompare(b.provider) ||
        (a.model ?? '\uffff').localeCompare(b.model ?? '\uffff'),
    )
    .map((cell) => {
      // Charges of no model, and models billed on a day no event used them, are spend no usage explains.
      const unattributed = cell.model === null || cell.events === 0 ? cell.billed : ZERO;
      const drift = cell.model === null ? null : driftOf(cell.metered, cell.billed);
      totals.reported = totals.reported.plus(cell.reported);
      totals.metered = totals.metered.plus(cell.metered);
      totals.billed = totals.billed.plus(cell.billed);
      totals.unattributed = totals.unattributed.plus(unattributed);
      const row: ReconciliationRow = {
        provider: cell.provider,
        date: cell.date,
        model: cell.model,
        reported_cost: toMoneyString(cell.reported),
        metered_cost: toMoneyString(cell.metered),
        billed_cost: toMoneyString(cell.billed),
        drift_pct: asPct(drift),
        unattributed_cost: toMoneyString(unattributed),
      };
      return { row, drift };
    });

  return {
    from: query.from,
    to: query.to,
    provider: query.provider ?? null,
    drift_threshold_pct: settings.drift_threshold_pct,
    data: exact.map((entry) => entry.row),
    totals: {
      reported_cost: toMoneyString(totals.reported),
      metered_cost: toMoneyString(totals.metered),
      billed_cost: toMoneyString(totals.billed),
      drift_pct: asPct(driftOf(totals.metered, totals.billed)),
      unattributed_cost: toMoneyString(totals.unattributed),
    },
    metered_as_of: kpis.as_of,
    connections: connections
      .filter((connection) => providers.includes(connection.provider))
      .map((connection) => ({
        id: connection.id,
        provider: connection.provider,
        synced_through: connection.synced_through,
        last_success_at: connection.last_success_at,
      })),
    exact,
  };
}

/**
 * Records `billing.drift_detected.v1` notices for the complete days of [from, to): a model's
 * drift at or beyond the tenant's threshold is told once per provider, day and model, and again
 * only when it moves into another band (a multiple of the threshold, either sign), so a
 * correction that doubles the gap is heard and hourly re-pulls of the same figures are not.
 * Days whose usage the rollup has not fully counted yet are left for a later run.
 */
export async function recordDriftNotices(
  db: Db,
  tenantId: string,
  query: { from: string; to: string; provider?: BillingProvider | undefined },
  now: Date,
): Promise<number> {
  if (query.to <= query.from) return 0;
  const result = await reconcile(db, tenantId, query);
  const threshold = parseDecimal(result.drift_threshold_pct);
  const countedUntil = result.metered_as_of ? Date.parse(result.metered_as_of) : 0;
  let recorded = 0;
  for (const { row, drift } of result.exact) {
    if (drift === null || row.model === null) continue;
    if (Date.parse(`${row.date}T00:00:00Z`) + DAY_MS > countedUntil) continue;
    const magnitude = drift.abs();
    if (magnitude.lessThan(threshold)) continue;
    const band = magnitude.dividedToIntegerBy(threshold).toString();
    const sign = drift.isNegative() ? '-' : '+';
    const event = await recordNotice(
      db,
      tenantId,
      `v1#notice#billing-drift#${row.date}#${row.provider}/${row.model}#${sign}${band}`,
      'billing.drift_detected.v1',
      {
        provider: row.provider,
        date: row.date,
        model: row.model,
        reported_cost: row.reported_cost,
        metered_cost: row.metered_cost,
        billed_cost: row.billed_cost,
        drift_pct: toDecimalString(drift.toDecimalPlaces(4)),
        drift_threshold_pct: result.drift_threshold_pct,
      },
      now,
    );
    if (event) recorded++;
  }
  return recorded;
}
