/**
 * When the next attempt of a delivery is due: the schedule (config `TOLLGATE_WEBHOOK_RETRY_SCHEDULE`)
 * gives the seconds to wait before attempt 1, 2, 3…; a delivery that used them all is dead-lettered.
 * A receiver's `Retry-After` makes the wait at least that long, up to `retryAfterCapSeconds` so a
 * receiver cannot park a delivery for months; it still counts as an attempt.
 */
export function nextAttemptAt(
  schedule: readonly number[],
  attemptsMade: number,
  now: Date,
  retryAfterSeconds: number | null,
  retryAfterCapSeconds: number,
): Date | undefined {
  const scheduled = schedule[attemptsMade];
  if (scheduled === undefined) return undefined;
  const asked = retryAfterSeconds === null ? 0 : Math.min(retryAfterSeconds, retryAfterCapSeconds);
  return new Date(now.getTime() + Math.max(scheduled, asked) * 1000);
}

/** `Retry-After` as seconds from `now`: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: Date): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - now.getTime()) / 1000));
}
