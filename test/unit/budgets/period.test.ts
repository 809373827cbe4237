import { describe, expect, it } from 'vitest';
import { periodAt, previousPeriod } from '../../../shared/budgets/period.js';

const iso = (window: { start: Date; end: Date }) => [window.start.toISOString(), window.end.toISOString()];

describe('budget periods', () => {
  it('aligns days to local midnight, including the 23-hour and 25-hour days of DST', () => {
    const zone = 'America/New_York';
    // 2026-03-08: clocks go forward at 02:00 local; the day lasts 23 hours.
    expect(iso(periodAt({ period: 'day', timezone: zone }, new Date('2026-03-08T12:00:00Z')))).toEqual([
      '2026-03-08T05:00:00.000Z',
      '2026-03-09T04:00:00.000Z',
    ]);
    // 2026-11-01: clocks go back; the day lasts 25 hours.
    expect(iso(periodAt({ period: 'day', timezone: zone }, new Date('2026-11-01T12:00:00Z')))).toEqual([
      '2026-11-01T04:00:00.000Z',
      '2026-11-02T05:00:00.000Z',
    ]);
  });

  it('starts weeks on week_start', () => {
    // Wednesday 2026-11-25 in UTC.
    const at = new Date('2026-11-25T10:00:00Z');
    expect(iso(periodAt({ period: 'week', timezone: 'UTC' }, at))).toEqual([
      '2026-11-23T00:00:00.000Z',
      '2026-11-30T00:00:00.000Z',
    ]);
    expect(iso(periodAt({ period: 'week', timezone: 'UTC', week_start: 'sunday' }, at))).toEqual([
      '2026-11-22T00:00:00.000Z',
      '2026-11-29T00:00:00.000Z',
    ]);
    expect(iso(periodAt({ period: 'week', timezone: 'UTC', week_start: 'wednesday' }, at))).toEqual([
      '2026-11-25T00:00:00.000Z',
      '2026-12-02T00:00:00.000Z',
    ]);
    // Sunday 2026-11-29 23:30 in Tokyo is still Sunday there, already Sunday 14:30 UTC.
    expect(
      iso(
        periodAt(
          { period: 'week', timezone: 'Asia/Tokyo', week_start: 'monday' },
          new Date('2026-11-29T14:30:00Z'),
        ),
      ),
    ).toEqual(['2026-11-22T15:00:00.000Z', '2026-11-29T15:00:00.000Z']);
  });

  it('aligns months, quarters and years in the zone, across a DST change', () => {
    const berlin = 'Europe/Berlin';
    // March 2026 in Berlin starts in winter time (UTC+1) and ends in summer time (UTC+2).
    expect(iso(periodAt({ period: 'month', timezone: berlin }, new Date('2026-03-15T00:00:00Z')))).toEqual([
      '2026-02-28T23:00:00.000Z',
      '2026-03-31T22:00:00.000Z',
    ]);
    expect(iso(periodAt({ period: 'quarter', timezone: berlin }, new Date('2026-05-20T00:00:00Z')))).toEqual([
      '2026-03-31T22:00:00.000Z',
      '2026-06-30T22:00:00.000Z',
    ]);
    expect(iso(periodAt({ period: 'year', timezone: 'UTC' }, new Date('2026-05-20T00:00:00Z')))).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2027-01-01T00:00:00.000Z',
    ]);
    // 2026-12-31 23:30 UTC is already 2027 in Berlin.
    expect(iso(periodAt({ period: 'year', timezone: berlin }, new Date('2026-12-31T23:30:00Z')))[0]).toBe(
      '2026-12-31T23:00:00.000Z',
    );
  });

  it('knows the period before', () => {
    expect(
      iso(previousPeriod({ period: 'quarter', timezone: 'UTC' }, new Date('2026-01-10T00:00:00Z'))),
    ).toEqual(['2025-10-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
  });
});
