import { DateTime, IANAZone } from 'luxon';

export const PERIODS = ['day', 'week', 'month', 'quarter', 'year'] as const;
export type Period = (typeof PERIODS)[number];

export const WEEKDAYS = [
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
  'sunday',
] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface PeriodRule {
  period: Period;
  timezone: string;
  /** Only for weeks; Monday when unset. */
  week_start?: Weekday | undefined;
}

/** One calendar period: [start, end) as instants, aligned in the budget's time zone. */
export interface PeriodWindow {
  start: Date;
  end: Date;
}

/**
 * True for an IANA time zone name ("Europe/Berlin", "UTC", any case). Not luxon's wider
 * setZone: "local" and "system" (the server's own zone) and "UTC+5" (not a zone: no DST rules)
 * are refused.
 */
export function isTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/** The name the runtime gives an IANA zone: its canonical spelling ("europe/berlin" → "Europe/Berlin"). */
export function canonicalTimeZone(zone: string): string {
  return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
}

/**
 * The calendar period containing `at`, aligned to local midnight in the rule's zone (luxon does
 * the DST arithmetic: a local day may last 23 or 25 hours). Weeks start on `week_start`.
 */
export function periodAt(rule: PeriodRule, at: Date): PeriodWindow {
  // Every check and authorization asks for the same few windows: computing one in its time zone
  // is the costly part, so the last windows of each rule are kept.
  const ruleKey = `${rule.period}|${rule.timezone}|${rule.week_start ?? ''}`;
  const recent = recentWindows.get(ruleKey) ?? [];
  const time = at.getTime();
  const known = recent.find((w) => w.start.getTime() <= time && time < w.end.getTime());
  if (known) return { start: new Date(known.start), end: new Date(known.end) };
  const window = computePeriodAt(rule, at);
  recentWindows.set(ruleKey, [window, ...recent].slice(0, 4));
  if (recentWindows.size > 1_000) recentWindows.delete(recentWindows.keys().next().value as string);
  return { start: new Date(window.start), end: new Date(window.end) };
}

const recentWindows = new Map<string, PeriodWindow[]>();

function computePeriodAt(rule: PeriodRule, at: Date): PeriodWindow {
  const local = DateTime.fromJSDate(at, { zone: rule.timezone });
  if (!local.isValid) throw new RangeError(`unknown time zone: ${rule.timezone}`);
  let start: DateTime;
  if (rule.period === 'week') {
    const firstDay = WEEKDAYS.indexOf(rule.week_start ?? 'monday') + 1; // luxon: Monday = 1
    const back = (local.weekday - firstDay + 7) % 7;
    start = local.startOf('day').minus({ days: back });
  } else {
    start = local.startOf(rule.period);
  }
  const end = start.plus({ [`${rule.period}s`]: 1 });
  return { start: start.toJSDate(), end: end.toJSDate() };
}

/** The period just before the one containing `at`. */
export function previousPeriod(rule: PeriodRule, at: Date): PeriodWindow {
  const current = periodAt(rule, at);
  return periodAt(rule, new Date(current.start.getTime() - 1));
}

/** A period's key: its start as an ISO instant (UTC, milliseconds), stable and sortable. */
export const periodKey = (window: PeriodWindow) => window.start.toISOString();
