import { Decimal, ZERO } from '../money/money.js';
import { dayNumber, weekdayOf } from './calendar.js';

/**
 * Month-end spend forecast for `GET /v1/kpis/summary`. Pure: the caller reads the daily totals.
 *
 * Method (at least 14 days of history):
 * - Window: the last 56 days up to and including `today`, fewer when the history starts later (it
 *   starts on the first day with non-zero spend: leading zero days are padding, not history); a day
 *   without an entry spent 0.
 * - Weekday profile: the window is cut into whole weeks counted back from `today`; in each week with
 *   positive spend every day is divided by that week's daily mean, a weekday's profile is the median
 *   of its ratios over those weeks (so one odd week, or a level shift inside a week, does not bend it),
 *   and the seven medians are rescaled to average 1.
 * - Level: each day's spend divided by its weekday's profile (deseasonalised) feeds an exponentially
 *   weighted moving average (α = 0.3, a half-life of about two days, seeded with the mean of the first
 *   week), which follows level shifts and trends within a few days. `burn_rate_per_day` is that level:
 *   the mean daily spend of a typical week at the current pace.
 * - Forecast: month-to-date plus, for each remaining day, the level times that day's weekday profile
 *   (for a running current day, times the share of it still to come).
 * - Band (~80%): from the one-step residuals of the window after its first week (each day's spend
 *   against level-before × profile, relative), σ is their 10th–90th percentile spread read as a normal
 *   one ((q90 − q10) / 2.563, robust to a freak day), widened by √(1 + 7/r) for r residuals because a
 *   profile and σ learnt from few days miss more than their residuals show. Under exponential
 *   smoothing's own error model a miss ε on remaining day i misses that day by profileᵢ·ε and moves
 *   every later day by α·ε, so the rest of the month has a relative standard deviation
 *   σ·√Σᵢ(profileᵢ + α·Σ_{j>i} profileⱼ)² / Σᵢ profileᵢ (a running day's profile counted times its
 *   share still to come); the band is the expected rest ±1.2816 of those, and `low` never drops below
 *   month-to-date.
 *
 * Fewer than 14 days of history (too short to tell weekdays apart): the level is the mean of the last
 * 7 days (or of all days when fewer), and the band is the expected rest ±50%. No history at all: the
 * forecast is month-to-date and the band collapses onto it.
 *
 * `today` counts as a complete day: when the current day is still running the caller passes
 * yesterday as `today` and the running day as `current` (its spend so far and the share of it still to
 * come), so that a partial day neither lowers the level nor is replaced by a full day of it: its spend
 * so far counts in month-to-date, and the rest of the month starts with the level × its profile × the
 * share still to come. On the first day of a month `today` is the last day of the previous month,
 * which is allowed: month-to-date is then the current day's spend and all of the month left is
 * forecast. Results are exact `Decimal`s (not rounded); callers round with `toMoneyString` when they
 * answer.
 */

export interface DailyAmount {
  /** YYYY-MM-DD, a local calendar day (the caller has already aligned days to the tenant's timezone). */
  date: string;
  amount: Decimal;
}

/** The day after `today` while it is still running. */
export interface RunningDay {
  /** What it has spent so far: counted in month-to-date, never used for the level. */
  amount: Decimal;
  /** The share of the day still to come, 0 to 1 (by the clock, in the caller's time zone). */
  remaining: Decimal;
}

export interface MonthForecast {
  /** Sum of the month's days up to and including `today`, plus the running day's spend so far. */
  month_to_date: Decimal;
  /** The current deseasonalised level: mean daily spend of a typical week at the current pace. */
  burn_rate_per_day: Decimal;
  /** Expected month-end total: month_to_date plus the expected rest. */
  forecast: Decimal;
  /** An ~80% interval for the month-end total; low ≥ month_to_date, low ≤ forecast ≤ high. */
  band: { low: Decimal; high: Decimal };
  /** Short human description of the method used. */
  method: string;
}

/** Days of history the method looks at: 8 weeks, enough for a stable weekday profile. */
const WINDOW_DAYS = 56;
/** Below this the weekday profile would rest on a single week: fall back to a plain average. */
const MIN_SEASONAL_DAYS = 14;
/** EWMA weight of the newest deseasonalised day (a terminating decimal keeps flat series exact). */
const ALPHA = new Decimal('0.3');
/** Days seeding the level; residuals are counted from the day after. */
const WARMUP_DAYS = 7;
const BAND_LOW_QUANTILE = new Decimal('0.1');
const BAND_HIGH_QUANTILE = new Decimal('0.9');
/** σ is widened by √(1 + this / residuals): from 7 residuals (two weeks of history) the band is 41% wider. */
const SMALL_SAMPLE_DAYS = 7;
/** The standard normal's 90th percentile: ±Z_80 standard deviations hold 80%. */
const Z_80 = new Decimal('1.2816');
/** Relative half-width of the band below 14 days of history, too few to measure the method's errors. */
const FALLBACK_BAND = new Decimal('0.5');
/** A weekday whose profile is below this (nothing is spent that day) says nothing about the level. */
const MIN_PROFILE = new Decimal('0.05');
const ONE = new Decimal(1);

function median(values: Decimal[]): Decimal {
  const sorted = [...values].sort((a, b) => a.comparedTo(b));
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? ZERO;
  if (sorted.length % 2 === 1) return upper;
  return (sorted[mid - 1] ?? upper).plus(upper).div(2);
}

/** Linear-interpolated quantile (the R-7 / numpy default) of a non-empty list. */
function quantile(values: Decimal[], q: Decimal): Decimal {
  const sorted = [...values].sort((a, b) => a.comparedTo(b));
  const position = q.times(sorted.length - 1);
  const lower = position.floor();
  const below = sorted[lower.toNumber()] ?? ZERO;
  const above = sorted[Math.min(lower.toNumber() + 1, sorted.length - 1)] ?? below;
  return below.plus(above.minus(below).times(position.minus(lower)));
}

function sum(values: Decimal[]): Decimal {
  return values.reduce((total, value) => total.plus(value), ZERO);
}

function maxDecimal(a: Decimal, b: Decimal): Decimal {
  return a.greaterThan(b) ? a : b;
}

/** The days the forecast reads: month bounds, month-to-date and the window of daily amounts. */
interface Inputs {
  /** Days still to come, counting a running day by its share still to come. */
  daysLeft: Decimal;
  /** Day numbers of the days still to come, today + 1 … monthEnd. */
  restDays: number[];
  /** Per rest day, the share of it still to come: 1, except a running current day's `remaining`. */
  restShares: Decimal[];
  monthToDate: Decimal;
  /** Day number of values[0]. */
  windowStart: number;
  /** One amount per day of the window, oldest first, ending with today; empty without history. */
  values: Decimal[];
}

function readInputs(
  history: DailyAmount[],
  todayDate: string,
  monthEndDate: string,
  current: RunningDay | undefined,
): Inputs {
  const today = dayNumber(todayDate);
  const monthEnd = dayNumber(monthEndDate);
  const monthStart = dayNumber(`${monthEndDate.slice(0, 8)}01`);
  if (today > monthEnd) throw new RangeError(`today ${todayDate} is after the month end ${monthEndDate}`);
  if (today < monthStart - 1) {
    throw new RangeError(`today ${todayDate} is before the month of ${monthEndDate} (or its eve)`);
  }
  if (current && today === monthEnd) {
    throw new RangeError(`a running day after ${todayDate} is outside the month of ${monthEndDate}`);
  }
  if (
    current &&
    (current.remaining.isNaN() || current.remaining.lessThan(0) || current.remaining.greaterThan(1))
  ) {
    throw new RangeError(
      `the share of the running day still to come must be 0 to 1, not ${current.remaining}`,
    );
  }

  // Duplicate dates are added up; days after `today` (a partial current day) are ignored.
  const totals = new Map<number, Decimal>();
  for (const { date, amount } of history) {
    const day = dayNumber(date);
    if (day > today) continue;
    totals.set(day, (totals.get(day) ?? ZERO).plus(amount));
  }
  // History starts with the first day that spent anything: callers pad the window with zero days, and
  // weeks before a tenant's first call would drag the level down for weeks.
  let first = Number.POSITIVE_INFINITY;
  for (const [day, amount] of totals) if (!amount.isZero()) first = Math.min(first, day);

  let monthToDate = current ? current.amount : ZERO;
  for (const [day, amount] of totals) if (day >= monthStart) monthToDate = monthToDate.plus(amount);

  const windowStart = Number.isFinite(first) ? Math.max(first, today - WINDOW_DAYS + 1) : today + 1;
  const values: Decimal[] = [];
  for (let day = windowStart; day <= today; day++) values.push(totals.get(day) ?? ZERO);

  const restDays: number[] = [];
  for (let day = today + 1; day <= monthEnd; day++) restDays.push(day);
  // A running current day has only part of it still to come; what it spent so far is in monthToDate.
  const restShares = restDays.map((_, i) => (i === 0 && current ? current.remaining : ONE));
  return { daysLeft: sum(restShares), restDays, restShares, monthToDate, windowStart, values };
}

/**
 * Weekday profile (index 0 = Sunday), averaging 1: per weekday the median, over the whole weeks
 * counted back from the window's last day, of the day's share of its week's daily mean.
 */
function weekdayProfile(values: Decimal[], windowStart: number): Decimal[] {
  const ratios: Decimal[][] = [[], [], [], [], [], [], []];
  const weeks = Math.floor(values.length / 7);
  for (let week = 0; week < weeks; week++) {
    const end = values.length - 7 * week;
    const days = values.slice(end - 7, end);
    const mean = sum(days).div(7);
    // A week without spend has no shape to learn from.
    if (!mean.greaterThan(0)) continue;
    days.forEach((amount, i) => {
      ratios[weekdayOf(windowStart + end - 7 + i)]?.push(maxDecimal(amount, ZERO).div(mean));
    });
  }
  const raw = ratios.map((list) => (list.length > 0 ? median(list) : ONE));
  const mean = sum(raw).div(7);
  return mean.greaterThan(0) ? raw.map((r) => r.div(mean)) : raw.map(() => ONE);
}

/**
 * Runs the EWMA over the deseasonalised amounts: the level after the window's last day, and the
 * one-step relative residuals (amount / (level before × profile) − 1) of the days after the first week.
 */
function smooth(
  values: Decimal[],
  windowStart: number,
  profile: Decimal[],
): { level: Decimal; residuals: Decimal[] } {
  const deseasonalised = values.map((amount, i) => {
    const index = profile[weekdayOf(windowStart + i)] ?? ONE;
    return index.lessThan(MIN_PROFILE) ? undefined : amount.div(index);
  });
  const seed = deseasonalised.slice(0, WARMUP_DAYS).filter((x): x is Decimal => x !== undefined);
  let level = seed.length > 0 ? sum(seed).div(seed.length) : ZERO;
  const residuals: Decimal[] = [];
  deseasonalised.forEach((x, i) => {
    if (x === undefined) return;
    if (i >= WARMUP_DAYS && level.greaterThan(0)) residuals.push(x.div(level).minus(1));
    level = level.plus(ALPHA.times(x.minus(level)));
  });
  return { level, residuals };
}

/**
 * Relative standard deviation of the rest-of-month sum under exponential smoothing's own error model:
 * an error ε on remaining day i misses that day by profileᵢ·ε and moves the level, hence every later
 * day, by α·ε, so Var(rest) / level² = σ² Σᵢ (profileᵢ + α Σ_{j>i} profileⱼ)².
 */
function restRelativeSd(sigma: Decimal, restProfile: Decimal[]): Decimal {
  let after = ZERO;
  let squares = ZERO;
  for (let i = restProfile.length - 1; i >= 0; i--) {
    const own = restProfile[i] ?? ONE;
    squares = squares.plus(own.plus(ALPHA.times(after)).pow(2));
    after = after.plus(own);
  }
  return after.isZero() ? ZERO : sigma.times(squares.sqrt()).div(after);
}

/**
 * Month-end forecast with an ~80% band; see the module comment for the method. `current`: the day after
 * `today` while it is still running (its spend so far and the share of it still to come).
 */
export function forecastMonth(
  history: DailyAmount[],
  today: string,
  monthEnd: string,
  current?: RunningDay,
): MonthForecast {
  const inputs = readInputs(history, today, monthEnd, current);
  const { monthToDate, values, daysLeft, windowStart } = inputs;
  const n = values.length;

  if (n === 0) {
    return {
      month_to_date: monthToDate,
      burn_rate_per_day: ZERO,
      forecast: monthToDate,
      band: { low: monthToDate, high: monthToDate },
      method: 'no history: forecast is month-to-date',
    };
  }

  if (n < MIN_SEASONAL_DAYS) {
    const recent = values.slice(-7);
    const burn = maxDecimal(sum(recent).div(recent.length), ZERO);
    const rest = burn.times(daysLeft);
    return {
      month_to_date: monthToDate,
      burn_rate_per_day: burn,
      forecast: monthToDate.plus(rest),
      band: {
        low: monthToDate.plus(rest.times(ONE.minus(FALLBACK_BAND))),
        high: monthToDate.plus(rest.times(ONE.plus(FALLBACK_BAND))),
      },
      method: `${recent.length}-day average, ${n}-day history (too short for weekday seasonality), band ±50%`,
    };
  }

  const profile = weekdayProfile(values, windowStart);
  const smoothed = smooth(values, windowStart, profile);
  const level = maxDecimal(smoothed.level, ZERO);
  const restProfile = inputs.restDays.map((day, i) =>
    (profile[weekdayOf(day)] ?? ONE).times(inputs.restShares[i] ?? ONE),
  );
  const rest = level.times(sum(restProfile));
  const forecast = monthToDate.plus(rest);

  let low = forecast;
  let high = forecast;
  if (rest.greaterThan(0) && smoothed.residuals.length > 0) {
    // A quantile spread rather than the plain standard deviation: one freak day should not blow the band up.
    // Inflated by √(1 + 7/r): a profile and σ learnt from r residuals miss more than the residuals show.
    const r = smoothed.residuals.length;
    const sigma = quantile(smoothed.residuals, BAND_HIGH_QUANTILE)
      .minus(quantile(smoothed.residuals, BAND_LOW_QUANTILE))
      .div(Z_80.times(2))
      .times(ONE.plus(new Decimal(SMALL_SAMPLE_DAYS).div(r)).sqrt());
    const halfWidth = Z_80.times(restRelativeSd(sigma, restProfile));
    // Never below what is already spent: the rest of the month cannot be negative.
    low = monthToDate.plus(rest.times(maxDecimal(ONE.minus(halfWidth), ZERO)));
    high = monthToDate.plus(rest.times(ONE.plus(halfWidth)));
  }

  return {
    month_to_date: monthToDate,
    burn_rate_per_day: level,
    forecast,
    band: { low, high },
    method: `weekday-seasonal level (EWMA), ${n}-day history`,
  };
}

/** Baseline: month-to-date plus the mean of the last 7 days (fewer with less history) × days left. */
export function naiveForecast(
  history: DailyAmount[],
  today: string,
  monthEnd: string,
  current?: RunningDay,
): Decimal {
  const { monthToDate, values, daysLeft } = readInputs(history, today, monthEnd, current);
  if (values.length === 0) return monthToDate;
  const recent = values.slice(-7);
  return monthToDate.plus(sum(recent).div(recent.length).times(daysLeft));
}
