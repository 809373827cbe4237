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

/**
 * IANA's name for each zone that the runtime still calls by an older one. Intl (ICU) names a zone
 * by its CLDR id, and CLDR never changes an id once given: when IANA renamed a zone (Asia/Calcutta
 * became Asia/Kolkata, Europe/Kiev Europe/Kyiv) ICU kept the old name, which IANA keeps only as a
 * backward link. These are all such renames among the zones Node's Intl knows (found by comparing
 * `Intl.supportedValuesOf('timeZone')` with tzdata 2025b and its backzone, which keeps Asmara,
 * Atikokan, Chuuk and Pohnpei apart from the neighbours IANA's main data links them to). A zone
 * IANA merged into another (Europe/Amsterdam, a link to Europe/Brussels since 2022) is not a
 * rename: it keeps its own name, as ICU keeps it. Both names keep working everywhere (Intl and
 * luxon take either), so a budget stored under the old one counts the same periods.
 */
export const RENAMED_ZONES: ReadonlyMap<string, string> = new Map([
  ['Africa/Asmera', 'Africa/Asmara'],
  ['America/Buenos_Aires', 'America/Argentina/Buenos_Aires'],
  ['America/Catamarca', 'America/Argentina/Catamarca'],
  ['America/Coral_Harbour', 'America/Atikokan'],
  ['America/Cordoba', 'America/Argentina/Cordoba'],
  ['America/Godthab', 'America/Nuuk'],
  ['America/Indianapolis', 'America/Indiana/Indianapolis'],
  ['America/Jujuy', 'America/Argentina/Jujuy'],
  ['America/Louisville', 'America/Kentucky/Louisville'],
  ['America/Mendoza', 'America/Argentina/Mendoza'],
  ['Asia/Calcutta', 'Asia/Kolkata'],
  ['Asia/Katmandu', 'Asia/Kathmandu'],
  ['Asia/Rangoon', 'Asia/Yangon'],
  ['Asia/Saigon', 'Asia/Ho_Chi_Minh'],
  ['Atlantic/Faeroe', 'Atlantic/Faroe'],
  ['Europe/Kiev', 'Europe/Kyiv'],
  ['Pacific/Enderbury', 'Pacific/Kanton'],
  ['Pacific/Ponape', 'Pacific/Pohnpei'],
  ['Pacific/Truk', 'Pacific/Chuuk'],
]);

/**
 * An IANA zone's canonical name: "europe/berlin" → "Europe/Berlin"; a link names the zone it
 * points to ("US/Pacific" → "America/Los_Angeles", "Asia/Calcutta" → "Asia/Kolkata"), so equal
 * zones compare equal. UTC by any of its names ("utc", "Etc/UTC", "GMT") is "UTC".
 */
export function canonicalTimeZone(zone: string): string {
  const id = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  return RENAMED_ZONES.get(id) ?? id;
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
  // The next period's start, found as this one's was: where a period began late because its
  // midnight does not exist (America/Santiago skips 00:00 to 01:00 when DST begins), one period
  // later is not the next period's start, which has a midnight.
  const end = start.plus({ [`${rule.period}s`]: 1 }).startOf(rule.period === 'week' ? 'day' : rule.period);
  return { start: start.toJSDate(), end: end.toJSDate() };
}

/** The period just before the one containing `at`. */
export function previousPeriod(rule: PeriodRule, at: Date): PeriodWindow {
  const current = periodAt(rule, at);
  return periodAt(rule, new Date(current.start.getTime() - 1));
}

/** A period's key: its start as an ISO instant (UTC, milliseconds), stable and sortable. */
export const periodKey = (window: PeriodWindow) => window.start.toISOString();
