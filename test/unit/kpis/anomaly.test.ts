import { describe, expect, it } from 'vitest';
import { type DailyValue, detectAnomaly } from '../../../shared/kpis/anomaly.js';
import { gaussian, mulberry32 } from '../../helpers/random.js';

const DAY_MS = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** `days` daily values ending the day before `day`, from `valueAt(weekday, index)`; then `day` itself. */
function seriesBefore(
  day: string,
  days: number,
  valueAt: (weekday: number, index: number) => number | null,
  dayValue: number | null,
): DailyValue[] {
  const end = Date.parse(`${day}T00:00:00Z`);
  const out: DailyValue[] = [];
  for (let i = days; i >= 1; i--) {
    const ms = end - i * DAY_MS;
    out.push({ date: isoDay(ms), value: valueAt(new Date(ms).getUTCDay(), days - i) });
  }
  out.push({ date: day, value: dayValue });
  return out;
}

const isWeekend = (weekday: number) => weekday === 0 || weekday === 6;
// Spend with a strong weekly shape, weekdays ~100 and weekends ~30, and ±10% of deterministic wiggle that
// rotates week by week, so each weekday sees different values.
const WIGGLE = [90, 110, 100, 93, 107, 97, 103];
const wiggle = (index: number) => (WIGGLE[(index + 3 * Math.floor(index / 7)) % 7] ?? 100) / 100;
const seasonal = (weekday: number, index: number) => (isWeekend(weekday) ? 30 : 100) * wiggle(index);

// 2026-11-14 is a Saturday, 2026-11-18 a Wednesday.
const SATURDAY = '2026-11-14';
const WEDNESDAY = '2026-11-18';

describe('detectAnomaly', () => {
  it('does not flag the normal weekend dip of a strongly weekly series', () => {
    const series = seriesBefore(SATURDAY, 56, seasonal, 29);
    expect(detectAnomaly(series, SATURDAY)).toBeUndefined();
    // The same series read on a weekday: a normal weekday is not flagged either.
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, seasonal, 101), WEDNESDAY)).toBeUndefined();
  });

  it('flags a weekday spike, critical when huge', () => {
    const huge = detectAnomaly(seriesBefore(WEDNESDAY, 56, seasonal, 250), WEDNESDAY);
    expect(huge).toMatchObject({ date: WEDNESDAY, value: 250, direction: 'spike', severity: 'critical' });
    expect(huge?.expected).toBeGreaterThan(95);
    expect(huge?.expected).toBeLessThan(105);
    expect(huge?.score).toBeGreaterThan(6);

    const moderate = detectAnomaly(seriesBefore(WEDNESDAY, 56, seasonal, 150), WEDNESDAY);
    expect(moderate).toMatchObject({ direction: 'spike', severity: 'warning' });
    expect(moderate?.score).toBeGreaterThanOrEqual(3.5);
    expect(moderate?.score).toBeLessThan(6);
  });

  it('flags drops on a weekday, critical when deep', () => {
    const finding = detectAnomaly(seriesBefore(WEDNESDAY, 56, seasonal, 30), WEDNESDAY);
    expect(finding).toMatchObject({ direction: 'drop', severity: 'warning' });
    expect(finding?.score).toBeLessThan(-3.5);
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, seasonal, 5), WEDNESDAY)).toMatchObject({
      direction: 'drop',
      severity: 'critical',
    });
  });

  it('flags a weekend spike that is only weekday-sized', () => {
    // 100 on a Saturday is a normal Wednesday but three times a normal Saturday.
    expect(detectAnomaly(seriesBefore(SATURDAY, 56, seasonal, 100), SATURDAY)).toMatchObject({
      direction: 'spike',
      severity: 'critical',
    });
  });

  it('follows a level shift: the new normal, weekends included, is not flagged', () => {
    const doubled = (weekday: number, index: number) => seasonal(weekday, index) * (index >= 46 ? 2 : 1);
    expect(detectAnomaly(seriesBefore(SATURDAY, 56, doubled, 61), SATURDAY)).toBeUndefined();
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, doubled, 199), WEDNESDAY)).toBeUndefined();
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, doubled, 100), WEDNESDAY)?.direction).toBe('drop');
  });

  it('works on ratio series between 0 and 1', () => {
    const ratio = (weekday: number, index: number) =>
      (isWeekend(weekday) ? 0.7 : 0.6) + ((index * 7) % 5) * 0.005;
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, ratio, 0.61), WEDNESDAY)).toBeUndefined();
    const drop = detectAnomaly(seriesBefore(WEDNESDAY, 56, ratio, 0.2), WEDNESDAY);
    expect(drop).toMatchObject({ direction: 'drop', severity: 'critical' });
    expect(drop?.expected).toBeCloseTo(0.61, 1);
    // Saturdays run higher: 0.71 is a normal Saturday, 0.8 on a Wednesday is not. (Near-flat histories
    // meet the 5% floor, so 0.71 on a Wednesday, +16%, scores only about 3.)
    expect(detectAnomaly(seriesBefore(SATURDAY, 56, ratio, 0.71), SATURDAY)).toBeUndefined();
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, ratio, 0.8), WEDNESDAY)?.direction).toBe('spike');
  });

  it('says nothing with too little history', () => {
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 20, seasonal, 500), WEDNESDAY)).toBeUndefined();
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 21, seasonal, 500), WEDNESDAY)?.direction).toBe('spike');
    expect(
      detectAnomaly(seriesBefore(WEDNESDAY, 21, seasonal, 500), WEDNESDAY, { minHistoryDays: 28 }),
    ).toBeUndefined();
    expect(detectAnomaly([], WEDNESDAY)).toBeUndefined();
  });

  it('does not flag a small wiggle after a perfectly flat history (the dispersion floor)', () => {
    const flat = () => 100;
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, flat, 103), WEDNESDAY)).toBeUndefined();
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, flat, 110), WEDNESDAY)).toBeUndefined();
    // The floor is 5% of expected: +20% scores 4 (warning), +40% scores 8 (critical), never Infinity.
    const warning = detectAnomaly(seriesBefore(WEDNESDAY, 56, flat, 120), WEDNESDAY);
    expect(warning).toMatchObject({ expected: 100, direction: 'spike', severity: 'warning' });
    expect(warning?.score).toBeCloseTo(4, 10);
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, flat, 140), WEDNESDAY)?.score).toBeCloseTo(8, 10);
  });

  it('skips null days, in the history and on the day itself', () => {
    // Sundays have no outcomes, so their cost per outcome is undefined.
    const perOutcome = (weekday: number, index: number) => (weekday === 0 ? null : 0.4 + (index % 3) * 0.01);
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, perOutcome, 0.41), WEDNESDAY)).toBeUndefined();
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, perOutcome, 0.9), WEDNESDAY)?.direction).toBe('spike');
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, perOutcome, null), WEDNESDAY)).toBeUndefined();
    // Nulls do not count as history: 24 days of which 4 are null leave 20.
    const sparse = seriesBefore('2026-11-16', 24, perOutcome, 5);
    expect(sparse.filter((point) => point.value !== null)).toHaveLength(21);
    expect(detectAnomaly(sparse, '2026-11-16')).toBeUndefined();
  });

  it('ignores a day that is not in the series', () => {
    expect(detectAnomaly(seriesBefore(WEDNESDAY, 56, seasonal, 500), '2026-11-19')).toBeUndefined();
  });

  it('honours minAbsoluteChange and custom thresholds', () => {
    const tiny = (weekday: number, index: number) => seasonal(weekday, index) / 10_000;
    const series = seriesBefore(WEDNESDAY, 56, tiny, 0.05);
    expect(detectAnomaly(series, WEDNESDAY)?.severity).toBe('critical');
    expect(detectAnomaly(series, WEDNESDAY, { minAbsoluteChange: 1 })).toBeUndefined();
    const moderate = seriesBefore(WEDNESDAY, 56, seasonal, 150);
    expect(detectAnomaly(moderate, WEDNESDAY, { threshold: 10 })).toBeUndefined();
    expect(detectAnomaly(moderate, WEDNESDAY, { criticalThreshold: 4 })?.severity).toBe('critical');
  });

  it('rarely flags noisy seasonal series and catches doubled weekdays', () => {
    const random = mulberry32(1729);
    let falseAlarms = 0;
    let caught = 0;
    let normals = 0;
    let spikes = 0;
    for (let run = 0; run < 300; run++) {
      const level = 10 + 1000 * random();
      const weekend = 0.2 + 0.2 * random();
      const noise = 0.05 + 0.1 * random();
      const day = isoDay(Date.parse('2026-11-01T00:00:00Z') + (run % 28) * DAY_MS);
      const draw = (weekday: number) =>
        level * (isWeekend(weekday) ? weekend : 1) * Math.exp(noise * gaussian(random) - (noise * noise) / 2);
      const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
      const normal = draw(weekday);
      const history = seriesBefore(day, 56, draw, normal);
      normals++;
      if (detectAnomaly(history, day)) falseAlarms++;
      if (!isWeekend(weekday)) {
        spikes++;
        const spiked = [...history.slice(0, -1), { date: day, value: level * 2 }];
        if (detectAnomaly(spiked, day)?.direction === 'spike') caught++;
      }
    }
    console.log(
      `anomaly check: ${falseAlarms}/${normals} normal days flagged, ` +
        `${caught}/${spikes} doubled weekdays caught`,
    );
    expect(falseAlarms / normals).toBeLessThan(0.03);
    expect(caught / spikes).toBeGreaterThan(0.9);
  });

  it('rejects dates that are not calendar days', () => {
    expect(() => detectAnomaly([], '2026-02-30')).toThrow(RangeError);
    expect(() => detectAnomaly([{ date: '18/11/2026', value: 1 }], WEDNESDAY)).toThrow(RangeError);
  });
});
