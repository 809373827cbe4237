import { DateTime } from 'luxon';
import type { Db } from '../db/client.js';
import { ValidationError } from '../errors/errors.js';
import { type Decimal, toMoneyString, ZERO } from '../money/money.js';
import { addSums, type CellSums, cellKeys, emptySums, nameOf, totalTokensOf } from './cells.js';
import { type DailyAmount, forecastMonth } from './forecast.js';
import { kpiValueOf } from './priced-model.js';
import { assertWholeHourOffsets, daysBetween } from './query.js';
import { getAttributes, getCursor, queryCells } from './repository.js';

const HISTORY_DAYS = 56;
const TOP_DRIVERS = 5;

export interface KpiSummary {
  period: 'month';
  timezone: string;
  period_start: string;
  period_end: string;
  as_of: string | null;
  month_to_date: { cost: string; tokens: number; requests: number };
  burn_rate_per_day: string;
  forecast: { cost: string; low: string; high: string; method: string };
  top_drivers: { attribute: string; value: string; cost: string; share_pct: number | null }[];
  unpriced: { tokens: number; events: number };
}

/** Local calendar days of a zone, summed from UTC day cells (UTC) or hour cells (other zones). */
async function dailySums(
  db: Db,
  _tenantId: string,
  pk: { day: string; hour: string },
  zone: string,
  from: DateTime,
  to: DateTime,
  groupValueOf: (sk: string) => string | undefined,
): Promise<Map<string, Map<string, CellSums>>> {
  const utc = zone === 'UTC';
  const cells = utc
    ? await queryCells(db, pk.day, from.toISODate() as string, to.toISODate() as string)
    : await queryCells(
        db,
        pk.hour,
        `${from.toUTC().toISO()?.slice(0, 13)}:00`,
        `${to.toUTC().toISO()?.slice(0, 13)}:00`,
      );
  const byDay = new Map<string, Map<string, CellSums>>();
  for (const cell of cells) {
    const time = cell.sk.slice(0, utc ? 10 : 16);
    const day = utc ? time : (DateTime.fromISO(`${time}:00Z`).setZone(zone).toISODate() as string);
    const value = groupValueOf(cell.sk) ?? '';
    const perValue = byDay.get(day) ?? new Map<string, CellSums>();
    perValue.set(value, addSums(perValue.get(value) ?? emptySums(), cell.sums));
    byDay.set(day, perValue);
  }
  return byDay;
}

/**
 * Month to date in the tenant's time zone: spend, burn rate, the month-end forecast with its
 * band (forecast.ts), the top cost drivers across dimensions and models, and unpriced usage.
 */
export async function summarizeMonth(db: Db, tenantId: string, zone: string, now: Date): Promise<KpiSummary> {
  const local = DateTime.fromJSDate(now).setZone(zone);
  if (!local.isValid) {
    throw new ValidationError('Unknown time zone.', [
      { path: 'query.timezone', message: 'an IANA time zone such as Europe/Berlin' },
    ]);
  }
  const monthStart = local.startOf('month');
  const monthEnd = local.endOf('month').startOf('day');
  const historyStart = monthStart.minus({ days: HISTORY_DAYS });
  // Its local days are summed from UTC hours: every day read must start on a whole UTC hour.
  assertWholeHourOffsets(zone, daysBetween(historyStart.toJSDate(), monthEnd.plus({ days: 1 }).toJSDate()));
  // Tomorrow's midnight, even when today began at 01:00 because its midnight did not exist.
  const tomorrow = local.startOf('day').plus({ days: 1 }).startOf('day');

  const totals = await dailySums(
    db,
    tenantId,
    { day: cellKeys.dayTotal(tenantId, '').pk, hour: cellKeys.hourTotal(tenantId, '').pk },
    zone,
    historyStart,
    tomorrow,
    () => undefined,
  );
  const dayTotal = (day: string) => totals.get(day)?.get('') ?? emptySums();

  // Complete days feed the forecast; today's partial spend counts in the month to date.
  const yesterday = local.startOf('day').minus({ days: 1 });
  const history: DailyAmount[] = [];
  for (let day = historyStart; day <= yesterday; day = day.plus({ days: 1 })) {
    history.push({ date: day.toISODate() as string, amount: dayTotal(day.toISODate() as string).cost });
  }
  const monthToDate = emptySums();
  for (let day = monthStart; day < tomorrow; day = day.plus({ days: 1 }))
    addSums(monthToDate, dayTotal(day.toISODate() as string));

  // Today is still running: its spend so far counts as spent (not replaced by a day of the level), and
  // only the share of it still to come, by the clock of the zone (23 or 25 hours on DST days), is forecast.
  const startOfToday = local.startOf('day');
  const running = {
    amount: dayTotal(startOfToday.toISODate() as string).cost,
    remaining: ZERO.plus(tomorrow.toMillis() - local.toMillis()).div(
      tomorrow.toMillis() - startOfToday.toMillis(),
    ),
  };
  const forecast = forecastMonth(
    history,
    yesterday.toISODate() as string,
    monthEnd.toISODate() as string,
    running,
  );

  const drivers: { attribute: string; value: string; cost: Decimal }[] = [];
  for (const attribute of await getAttributes(db, tenantId)) {
    const perDay = await dailySums(
      db,
      tenantId,
      {
        day: cellKeys.daySingle(tenantId, attribute, '', '').pk,
        hour: cellKeys.hourSingle(tenantId, attribute, '', '').pk,
      },
      zone,
      monthStart,
      tomorrow,
      (sk) => sk.slice(sk.indexOf('#') + 1),
    );
    const perValue = new Map<string, Decimal>();
    for (const values of perDay.values()) {
      for (const [stored, sums] of values) {
        // A model by its priced name, as KPI queries group it.
        const value = kpiValueOf(attribute, stored);
        perValue.set(value, (perValue.get(value) ?? ZERO).plus(sums.cost));
      }
    }
    for (const [value, cost] of perValue) drivers.push({ attribute: nameOf(attribute), value, cost });
  }
  const cursor = await getCursor(db, tenantId);
  return {
    period: 'month',
    timezone: zone,
    period_start: monthStart.toISO({ suppressMilliseconds: true }) as string,
    period_end: monthStart.plus({ months: 1 }).toISO({ suppressMilliseconds: true }) as string,
    as_of: cursor?.until && cursor.until !== '1970-01-01T00:00:00.000Z' ? cursor.until : null,
    month_to_date: {
      cost: toMoneyString(monthToDate.cost),
      tokens: totalTokensOf(monthToDate),
      requests: monthToDate.requests,
    },
    burn_rate_per_day: toMoneyString(forecast.burn_rate_per_day),
    forecast: {
      cost: toMoneyString(forecast.forecast),
      low: toMoneyString(forecast.band.low),
      high: toMoneyString(forecast.band.high),
      method: forecast.method,
    },
    top_drivers: drivers
      .filter((driver) => driver.cost.greaterThan(0))
      .sort((a, b) => b.cost.comparedTo(a.cost))
      .slice(0, TOP_DRIVERS)
      .map((driver) => ({
        attribute: driver.attribute,
        value: driver.value,
        cost: toMoneyString(driver.cost),
        share_pct: monthToDate.cost.isZero()
          ? null
          : Number(driver.cost.times(100).dividedBy(monthToDate.cost).toFixed(2)),
      })),
    unpriced: { tokens: monthToDate.unpriced_tokens, events: monthToDate.unpriced_events },
  };
}
