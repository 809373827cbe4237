/**
 * Anomaly detection on one daily series (spend, tokens, a ratio), tolerant of weekly seasonality and
 * level shifts. Pure: the caller reads the series.
 *
 * Method: the history is the non-null days of the 8 weeks before `day`. The weekday baseline is the
 * median of the same weekday's values over those weeks, and the recent level is the median, over
 * the last 7 days before `day`, of each day's value divided by its own weekday baseline; the expected
 * value is the weekday baseline times that level, so weekends stay weekends and a step up or down
 * is followed within days instead of weeks. The dispersion is the MAD (× 1.4826, a normal σ) of the
 * history's own deseasonalised residuals, each day replayed the same way (its weekday baseline
 * without itself, times the level of the 7 days before it) and divided by its weekday profile
 * (baseline / mean baseline), so that a quiet weekend is not judged by weekday-sized swings; it is
 * scaled back by the profile of `day`'s weekday and floored at 5% of the expected value, so a
 * perfectly flat history does not make every wiggle infinitely surprising. The score is
 * (value − expected) / dispersion, reported at |score| ≥ threshold (critical at ≥ criticalThreshold)
 * when |value − expected| ≥ minAbsoluteChange.
 *
 * Meant for non-negative series (costs, counts, ratios). Null days (a ratio with a zero denominator)
 * are left out of everything; with fewer than `minHistoryDays` non-null days before `day`, or a null
 * or missing `day`, there is nothing to say.
 */

import { dayNumber, weekdayOf } from './calendar.js';

export interface DailyValue {
  /** YYYY-MM-DD. */
  date: string;
  /** Null when the value is undefined that day (a ratio with a zero denominator). */
  value: number | null;
}

export interface AnomalyFinding {
  date: string;
  value: number;
  /** The seasonal baseline: same-weekday median times the recent level. */
  expected: number;
  /** Robust z-score, signed: (value − expected) / dispersion. */
  score: number;
  direction: 'spike' | 'drop';
  severity: 'warning' | 'critical';
}

export interface AnomalyOptions {
  /** Non-null days needed in the 8 weeks before `day`; default 21. */
  minHistoryDays?: number;
  /** |score| from which a day is reported; default 3.5. */
  threshold?: number;
  /** |score| from which a finding is critical; default 6. */
  criticalThreshold?: number;
  /** Smallest |value − expected| worth reporting, in the series' unit; default 0. */
  minAbsoluteChange?: number;
}

/** Days of history: 8 weeks, so each weekday's median rests on up to 8 values. */
const HISTORY_DAYS = 56;
/** Days whose value-to-baseline ratios make the recent level. */
const LEVEL_DAYS = 7;
/** A residual is replayed only when its level rests on at least this many of the 7 days before it. */
const MIN_LEVEL_DAYS = 3;
/** MAD × 1.4826 estimates σ for normal noise. */
const MAD_TO_SIGMA = 1.4826;
/** Dispersion floor, relative to the expected value: a flat history still tolerates ±5% × threshold. */
const RELATIVE_FLOOR = 0.05;
/** Absolute floor when the expected value is 0 too: keeps the score finite. */
const ABSOLUTE_FLOOR = 1e-9;
/** Weekday profiles below this (a weekday with almost no activity) are raised to it to scale residuals. */
const MIN_PROFILE = 0.1;

const DEFAULTS = { minHistoryDays: 21, threshold: 3.5, criticalThreshold: 6, minAbsoluteChange: 0 };

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] as number) + upper) / 2;
}

interface Point {
  day: number;
  weekday: number;
  value: number;
}

/** Median over `points` of value / weekday baseline, for baselines > 0; 1 when there is none. */
function levelOf(points: Point[], baseline: number[]): { level: number; days: number } {
  const ratios: number[] = [];
  for (const point of points) {
    const base = baseline[point.weekday] ?? 0;
    if (base > 0) ratios.push(point.value / base);
  }
  return { level: median(ratios) ?? 1, days: ratios.length };
}

/** Checks `day` against its seasonal baseline: the finding, or undefined when normal or unknown. */
export function detectAnomaly(
  series: DailyValue[],
  day: string,
  options: AnomalyOptions = {},
): AnomalyFinding | undefined {
  const { minHistoryDays, threshold, criticalThreshold, minAbsoluteChange } = { ...DEFAULTS, ...options };
  const target = dayNumber(day);

  // One value per date (the last one given wins); null and non-finite values are no information.
  const byDay = new Map<number, number>();
  for (const { date, value } of series) {
    const at = dayNumber(date);
    if (value === null || !Number.isFinite(value)) byDay.delete(at);
    else byDay.set(at, value);
  }
  const value = byDay.get(target);
  if (value === undefined) return undefined;

  const history: Point[] = [];
  for (let at = target - HISTORY_DAYS; at < target; at++) {
    const v = byDay.get(at);
    if (v !== undefined) history.push({ day: at, weekday: weekdayOf(at), value: v });
  }
  if (history.length < minHistoryDays) return undefined;

  const byWeekday: number[][] = [[], [], [], [], [], [], []];
  for (const point of history) byWeekday[point.weekday]?.push(point.value);
  const overall = median(history.map((point) => point.value)) ?? 0;
  const baseline = byWeekday.map((values) => median(values) ?? overall);
  const meanBaseline = baseline.reduce((a, b) => a + b, 0) / 7;
  const profile = baseline.map((base) => Math.max(meanBaseline > 0 ? base / meanBaseline : 1, MIN_PROFILE));

  const weekday = weekdayOf(target);
  const recent = history.filter((point) => point.day >= target - LEVEL_DAYS);
  const expected = (baseline[weekday] ?? overall) * levelOf(recent, baseline).level;

  // Replay each history day as if it were `day`: its weekday baseline without itself, times the level
  // of the 7 days before it, in units of a typical day (divided by its weekday profile).
  const residuals: number[] = [];
  for (const point of history) {
    const sameWeekday = byWeekday[point.weekday] ?? [];
    if (sameWeekday.length < 2) continue;
    const others = [...sameWeekday];
    others.splice(others.indexOf(point.value), 1);
    const before = history.filter((p) => p.day < point.day && p.day >= point.day - LEVEL_DAYS);
    const level = levelOf(before, baseline);
    if (level.days < MIN_LEVEL_DAYS) continue;
    const replayed = (median(others) ?? overall) * level.level;
    residuals.push((point.value - replayed) / (profile[point.weekday] ?? 1));
  }
  const center = median(residuals) ?? 0;
  const mad = median(residuals.map((r) => Math.abs(r - center))) ?? 0;
  const dispersion = Math.max(
    MAD_TO_SIGMA * mad * (profile[weekday] ?? 1),
    RELATIVE_FLOOR * Math.abs(expected),
    ABSOLUTE_FLOOR,
  );

  const change = value - expected;
  const score = change / dispersion;
  if (Math.abs(score) < threshold || Math.abs(change) < minAbsoluteChange) return undefined;
  return {
    date: day,
    value,
    expected,
    score,
    direction: score > 0 ? 'spike' : 'drop',
    severity: Math.abs(score) >= criticalThreshold ? 'critical' : 'warning',
  };
}
