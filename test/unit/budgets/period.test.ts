import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  canonicalTimeZone,
  isTimeZone,
  periodAt,
  previousPeriod,
  RENAMED_ZONES,
} from '../../../shared/budgets/period.js';

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

  it('ends a period that began late, because its midnight does not exist, where the next one begins', () => {
    // America/Santiago springs forward at midnight: 2026-09-06 begins at 01:00 (-03), 04:00Z, and
    // ends at the next midnight, 03:00Z on the 7th; it used to end an hour into the 7th.
    const santiago = (period: 'day' | 'week' | 'month', at: string) =>
      iso(periodAt({ period, timezone: 'America/Santiago', week_start: 'sunday' }, new Date(at)));
    expect(santiago('day', '2026-09-05T12:00:00Z')).toEqual([
      '2026-09-05T04:00:00.000Z',
      '2026-09-06T04:00:00.000Z',
    ]);
    expect(santiago('day', '2026-09-06T12:00:00Z')).toEqual([
      '2026-09-06T04:00:00.000Z',
      '2026-09-07T03:00:00.000Z',
    ]);
    // Asked after the day before (kept by this process): the new day from its first instant.
    expect(santiago('day', '2026-09-07T03:30:00Z')).toEqual([
      '2026-09-07T03:00:00.000Z',
      '2026-09-08T03:00:00.000Z',
    ]);
    expect(santiago('week', '2026-09-06T12:00:00Z')).toEqual([
      '2026-09-06T04:00:00.000Z',
      '2026-09-13T03:00:00.000Z',
    ]);
    expect(santiago('month', '2026-08-31T12:00:00Z')).toEqual([
      '2026-08-01T04:00:00.000Z',
      '2026-09-01T04:00:00.000Z',
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

/** The runtime's own id for a zone (ICU's CLDR id): equal ids are one zone. */
const runtimeId = (zone: string) =>
  new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;

describe('canonical time zone names', () => {
  it('keeps a name IANA itself calls canonical, case corrected, where the runtime says an older one', () => {
    for (const zone of [
      'Asia/Kolkata',
      'Europe/Kyiv',
      'Asia/Kathmandu',
      'Asia/Ho_Chi_Minh',
      'America/Argentina/Buenos_Aires',
      'Atlantic/Faroe',
      'Asia/Yangon',
      'America/Nuuk',
      'Pacific/Kanton',
      'Europe/Berlin',
      'America/Los_Angeles',
    ]) {
      expect(canonicalTimeZone(zone)).toBe(zone);
      expect(canonicalTimeZone(zone.toLowerCase())).toBe(zone);
      expect(canonicalTimeZone(zone.toUpperCase())).toBe(zone);
    }
  });

  it('names a link by the zone it points to, old spellings included', () => {
    for (const [link, zone] of [
      ['US/Pacific', 'America/Los_Angeles'],
      ['Asia/Calcutta', 'Asia/Kolkata'],
      ['asia/calcutta', 'Asia/Kolkata'],
      ['Europe/Kiev', 'Europe/Kyiv'],
      ['Asia/Katmandu', 'Asia/Kathmandu'],
      ['Asia/Saigon', 'Asia/Ho_Chi_Minh'],
      ['America/Buenos_Aires', 'America/Argentina/Buenos_Aires'],
      ['Atlantic/Faeroe', 'Atlantic/Faroe'],
      ['Asia/Rangoon', 'Asia/Yangon'],
      ['America/Godthab', 'America/Nuuk'],
      ['Pacific/Enderbury', 'Pacific/Kanton'],
      // Links to links: each ends at the zone's IANA name, not at the runtime's older one.
      ['America/Fort_Wayne', 'America/Indiana/Indianapolis'],
      ['US/East-Indiana', 'America/Indiana/Indianapolis'],
      ['Europe/Uzhgorod', 'Europe/Kyiv'],
      ['America/Argentina/ComodRivadavia', 'America/Argentina/Catamarca'],
    ] as const) {
      expect(canonicalTimeZone(link), link).toBe(zone);
    }
  });

  it('keeps a zone IANA merged into a neighbour under its own name', () => {
    for (const zone of [
      'Europe/Amsterdam',
      'Europe/Oslo',
      'Asia/Kuala_Lumpur',
      'Africa/Asmara',
      'Pacific/Chuuk',
    ]) {
      expect(canonicalTimeZone(zone)).toBe(zone);
    }
  });

  it('calls UTC by any of its names "UTC", as the KPI query expects', () => {
    for (const zone of ['UTC', 'utc', 'Etc/UTC', 'Etc/GMT', 'GMT', 'UCT', 'Zulu', 'Etc/Universal']) {
      expect(canonicalTimeZone(zone), zone).toBe('UTC');
    }
    expect([...RENAMED_ZONES.keys(), ...RENAMED_ZONES.values()]).not.toContain('UTC');
  });

  it('renames only the runtime ids of one zone, to a name the runtime takes for that zone', () => {
    for (const [old, current] of RENAMED_ZONES) {
      expect(runtimeId(old), old).toBe(old);
      expect(runtimeId(current), current).toBe(old);
      expect(isTimeZone(current), current).toBe(true);
    }
  });

  it('answers every zone the runtime knows with a valid name of the same zone, stable when asked again', () => {
    for (const zone of Intl.supportedValuesOf('timeZone')) {
      const canonical = canonicalTimeZone(zone);
      expect(isTimeZone(canonical), zone).toBe(true);
      expect(runtimeId(canonical), zone).toBe(runtimeId(zone));
      expect(canonicalTimeZone(canonical), zone).toBe(canonical);
    }
  });

  it('counts the same periods under an old name as under the new one (budgets stored before)', () => {
    const at = new Date('2026-03-31T20:00:00Z');
    for (const [old, current] of RENAMED_ZONES) {
      for (const period of ['day', 'week', 'month'] as const) {
        expect(iso(periodAt({ period, timezone: old }, at)), old).toEqual(
          iso(periodAt({ period, timezone: current }, at)),
        );
      }
    }
  });

  // IANA's links (tzdata 2025b, kept under test/fixtures): a zone IANA has renamed since (its old
  // name now only a link) that this runtime still calls by the old name must be in RENAMED_ZONES.
  const tzdata = fileURLToPath(new URL('../../fixtures/tzdata/links.zi', import.meta.url));
  it('misses no rename that the IANA data shows', () => {
    const links = new Map<string, string>();
    for (const line of readFileSync(tzdata, 'utf8').split('\n')) {
      const [kind, target, name] = line.split(/\s+/);
      if (kind === 'L' && target && name) links.set(name, target);
    }
    const missing: string[] = [];
    for (const id of Intl.supportedValuesOf('timeZone')) {
      const target = links.get(id);
      if (target === undefined || !isTimeZone(target) || runtimeId(target) !== id) continue;
      if (RENAMED_ZONES.get(id) !== target) missing.push(`${id} -> ${target}`);
    }
    expect(missing).toEqual([]);
  });
});
