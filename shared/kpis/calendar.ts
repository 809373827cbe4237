/** Calendar arithmetic on YYYY-MM-DD days, shared by the forecast and the anomaly detector. */

export const DAY_MS = 86_400_000;
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Day number (days since 1970-01-01) of a YYYY-MM-DD date; RangeError when it is not a calendar day. */
export function dayNumber(date: string): number {
  if (!DATE_PATTERN.test(date)) throw new RangeError(`not a YYYY-MM-DD date: "${date}"`);
  const ms = Date.parse(`${date}T00:00:00Z`);
  // Date.parse rolls 2026-02-30 over to March; the round trip catches it.
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== date) {
    throw new RangeError(`not a calendar day: "${date}"`);
  }
  return ms / DAY_MS;
}

/** 0 = Sunday … 6 = Saturday; 1970-01-01 was a Thursday. */
export function weekdayOf(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}
