import { describe, expect, it } from 'vitest';
import { type DailyAmount, forecastMonth, naiveForecast } from '../../../shared/kpis/forecast.js';
import { Decimal, parseDecimal, toMoneyString, ZERO } from '../../../shared/money/money.js';
import { gaussian, mulberry32 } from '../../helpers/random.js';

const DAY_MS = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

interface Scenario {
  monthStart: number;
  monthEnd: number;
  days: DailyAmount[];
}

/**
 * One synthetic month of spend with the 8 weeks before it: weekends at ~30% of weekdays, a slow trend,
 * occasional level shifts and multiplicative log-normal noise; amounts rounded to cents.
 */
function scenario(random: () => number, index: number): Scenario {
  const year = 2025 + Math.floor((index % 24) / 12);
  const month = index % 12;
  const monthStart = Date.UTC(year, month, 1);
  const monthEnd = Date.UTC(year, month + 1, 0);
  const weekend = 0.22 + 0.16 * random();
  const weekdayShape = [0, 1, 2, 3, 4].map(() => 0.9 + 0.2 * random());
  const trend = (random() - 0.4) * 0.01;
  const noise = 0.08 + 0.17 * random();
  let level = 20 + 480 * random();
  const days: DailyAmount[] = [];
  for (let ms = monthStart - 56 * DAY_MS; ms <= monthEnd; ms += DAY_MS) {
    if (random() < 1 / 40) level *= 0.6 + 1.1 * random();
    level *= 1 + trend;
    const weekday = new Date(ms).getUTCDay();
    const season = weekday === 0 || weekday === 6 ? weekend : (weekdayShape[weekday - 1] ?? 1);
    const amount = level * season * Math.exp(noise * gaussian(random) - (noise * noise) / 2);
    days.push({ date: isoDay(ms), amount: parseDecimal(amount.toFixed(2)) });
  }
  return { monthStart, monthEnd, days };
}

const total = (days: DailyAmount[]) => days.reduce((sum, day) => sum.plus(day.amount), ZERO);
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** Daily amounts from `from` to `to` inclusive, each from `amountOf(date, weekday)`. */
function series(
  from: string,
  to: string,
  amountOf: (date: string, weekday: number) => string,
): DailyAmount[] {
  const days: DailyAmount[] = [];
  for (let ms = Date.parse(`${from}T00:00:00Z`); ms <= Date.parse(`${to}T00:00:00Z`); ms += DAY_MS) {
    days.push({ date: isoDay(ms), amount: new Decimal(amountOf(isoDay(ms), new Date(ms).getUTCDay())) });
  }
  return days;
}

const weekdaysAndWeekends = (weekday: number) => (weekday === 0 || weekday === 6 ? '30' : '100');

describe('forecastMonth back-test', () => {
  it('beats the last-7-days average on synthetic seasonal series, with an ~80% band', () => {
    const random = mulberry32(20_261_101);
    const ape = { method: [] as number[], naive: [] as number[] };
    const byHorizon = new Map<number, { method: number[]; naive: number[]; covered: number }>();
    let covered = 0;
    let cases = 0;
    for (let index = 0; index < 240; index++) {
      const { monthStart, monthEnd, days } = scenario(random, index);
      const truth = total(days.filter((day) => day.date >= isoDay(monthStart)));
      for (const dayOfMonth of [8, 15, 22]) {
        const today = isoDay(monthStart + (dayOfMonth - 1) * DAY_MS);
        const history = days.filter((day) => day.date <= today);
        const result = forecastMonth(history, today, isoDay(monthEnd));
        const naive = naiveForecast(history, today, isoDay(monthEnd));
        const methodError = result.forecast.minus(truth).abs().div(truth).toNumber();
        const naiveError = naive.minus(truth).abs().div(truth).toNumber();
        const inside =
          result.band.low.lessThanOrEqualTo(truth) && result.band.high.greaterThanOrEqualTo(truth);
        ape.method.push(methodError);
        ape.naive.push(naiveError);
        const bucket = byHorizon.get(dayOfMonth) ?? { method: [], naive: [], covered: 0 };
        bucket.method.push(methodError);
        bucket.naive.push(naiveError);
        if (inside) bucket.covered++;
        byHorizon.set(dayOfMonth, bucket);
        if (inside) covered++;
        cases++;
        expect(result.band.low.greaterThanOrEqualTo(result.month_to_date)).toBe(true);
        expect(result.band.low.lessThanOrEqualTo(result.forecast)).toBe(true);
        expect(result.band.high.greaterThanOrEqualTo(result.forecast)).toBe(true);
      }
    }
    const coverage = covered / cases;
    console.log(
      `forecast back-test: ${cases} forecasts (240 series × days 8, 15, 22); ` +
        `mean APE method ${pct(mean(ape.method))}, ` +
        `naive ${pct(mean(ape.naive))}; band coverage ${pct(coverage)}`,
    );
    for (const [dayOfMonth, bucket] of byHorizon) {
      console.log(
        `  day ${dayOfMonth}: mean APE method ${pct(mean(bucket.method))}, ` +
          `naive ${pct(mean(bucket.naive))}, ` +
          `coverage ${pct(bucket.covered / bucket.method.length)}`,
      );
    }
    expect(mean(ape.method)).toBeLessThan(mean(ape.naive));
    expect(coverage).toBeGreaterThanOrEqual(0.65);
    expect(coverage).toBeLessThanOrEqual(0.95);
  });
});

describe('forecastMonth with a short history', () => {
  it('still beats the naive forecast for tenants with 14 to 27 days of history', () => {
    const random = mulberry32(42);
    const ape = { method: [] as number[], naive: [] as number[] };
    let covered = 0;
    for (let index = 0; index < 200; index++) {
      const { monthStart, monthEnd, days } = scenario(random, index);
      const keep = 14 + (index % 14);
      const today = isoDay(monthStart + 21 * DAY_MS);
      // A tenant that made its first call `keep` days ago: nothing before that, in history or in truth.
      const start = isoDay(monthStart + (22 - keep) * DAY_MS);
      const lived = days.filter((day) => day.date >= start);
      const truth = total(lived.filter((day) => day.date >= isoDay(monthStart)));
      const history = lived.filter((day) => day.date <= today);
      const result = forecastMonth(history, today, isoDay(monthEnd));
      ape.method.push(result.forecast.minus(truth).abs().div(truth).toNumber());
      ape.naive.push(
        naiveForecast(history, today, isoDay(monthEnd)).minus(truth).abs().div(truth).toNumber(),
      );
      if (result.band.low.lessThanOrEqualTo(truth) && result.band.high.greaterThanOrEqualTo(truth)) covered++;
    }
    console.log(
      `short-history back-test: 200 forecasts on day 22 with 14–27 days of history; mean APE method ` +
        `${pct(mean(ape.method))}, naive ${pct(mean(ape.naive))}; band coverage ${pct(covered / 200)}`,
    );
    expect(mean(ape.method)).toBeLessThan(mean(ape.naive));
    expect(covered / 200).toBeGreaterThanOrEqual(0.6);
    expect(covered / 200).toBeLessThanOrEqual(0.95);
  });
});

describe('forecastMonth', () => {
  it('forecasts a flat series as level × days, with a band collapsed onto it', () => {
    const history = series('2026-02-01', '2026-03-15', () => '10.00');
    const result = forecastMonth(history, '2026-03-15', '2026-03-31');
    expect(result.month_to_date.toFixed()).toBe('150');
    expect(result.burn_rate_per_day.toFixed()).toBe('10');
    expect(result.forecast.toFixed()).toBe('310');
    expect(result.band.low.toFixed()).toBe('310');
    expect(result.band.high.toFixed()).toBe('310');
    expect(result.method).toBe('weekday-seasonal level (EWMA), 43-day history');
  });

  it('gives exact decimals for a hand-computed weekday/weekend series', () => {
    // Weekdays 100, weekends 30: a week's mean is 80, so the profile is exactly 1.25 and 0.375 and every
    // deseasonalised day is 80. Nov 1–20 2026 have 15 weekdays and 5 weekend days (1650); Nov 21–30 have
    // 6 weekdays and 4 weekend days: 720 more.
    const history = series('2026-10-01', '2026-11-20', (_, weekday) => weekdaysAndWeekends(weekday));
    const result = forecastMonth(history, '2026-11-20', '2026-11-30');
    expect(toMoneyString(result.month_to_date)).toBe('1650.00000000');
    expect(toMoneyString(result.burn_rate_per_day)).toBe('80.00000000');
    expect(result.forecast.toFixed()).toBe('2370');
    expect(result.band.low.toFixed()).toBe('2370');
    expect(result.band.high.toFixed()).toBe('2370');
    // The naive forecast spreads the weekly mean over the rest and ignores its four weekend days.
    expect(naiveForecast(history, '2026-11-20', '2026-11-30').toFixed()).toBe('2450');
  });

  it('sums a fractional hand-computed case exactly (no float drift)', () => {
    const history = series('2026-10-01', '2026-11-20', (_, weekday) =>
      weekday === 0 || weekday === 6 ? '0.3' : '0.1',
    );
    // Mean of a week: (5 × 0.1 + 2 × 0.3) / 7 = 1.1 / 7; remaining: 6 × 0.1 + 4 × 0.3 = 1.8.
    const result = forecastMonth(history, '2026-11-20', '2026-11-30');
    expect(result.month_to_date.toFixed()).toBe('3');
    expect(result.forecast.toDecimalPlaces(40).toFixed()).toBe('4.8');
    expect(toMoneyString(result.burn_rate_per_day)).toBe('0.15714286');
  });

  it('answers month-to-date and a collapsed band without history', () => {
    const result = forecastMonth([], '2026-11-10', '2026-11-30');
    expect(result.month_to_date.isZero()).toBe(true);
    expect(result.burn_rate_per_day.isZero()).toBe(true);
    expect(result.forecast.isZero()).toBe(true);
    expect(result.band.low.isZero() && result.band.high.isZero()).toBe(true);
    expect(result.method).toMatch(/no history/);
    expect(naiveForecast([], '2026-11-10', '2026-11-30').isZero()).toBe(true);
  });

  it('treats an all-zero history, and leading zero days, as no history', () => {
    const zeros = series('2026-09-15', '2026-11-10', () => '0');
    expect(forecastMonth(zeros, '2026-11-10', '2026-11-30').method).toMatch(/no history/);
    // Padding the window with zeros before the first call must not drag the level down.
    const padded = [
      ...zeros.filter((day) => day.date < '2026-10-20'),
      ...series('2026-10-20', '2026-11-10', () => '5'),
    ];
    const result = forecastMonth(padded, '2026-11-10', '2026-11-30');
    expect(result.burn_rate_per_day.toFixed()).toBe('5');
    expect(result.forecast.toFixed()).toBe('150');
    expect(result.method).toBe('weekday-seasonal level (EWMA), 22-day history');
  });

  it('falls back to the recent average with a ±50% band below 14 days of history', () => {
    const history = series('2026-11-01', '2026-11-05', (date) => String(10 * Number(date.slice(8))));
    const result = forecastMonth(history, '2026-11-05', '2026-11-30');
    // 10 + 20 + 30 + 40 + 50 = 150 so far, 30 a day for the 25 days left.
    expect(result.month_to_date.toFixed()).toBe('150');
    expect(result.burn_rate_per_day.toFixed()).toBe('30');
    expect(result.forecast.toFixed()).toBe('900');
    expect(result.band.low.toFixed()).toBe('525');
    expect(result.band.high.toFixed()).toBe('1275');
    expect(result.method).toMatch(/5-day average, 5-day history/);
  });

  it('keeps low at or above month-to-date even for wildly noisy series', () => {
    const random = mulberry32(3);
    const history = series('2026-09-20', '2026-11-12', () =>
      random() < 0.15 ? (1000 * random()).toFixed(2) : '1.00',
    );
    const result = forecastMonth(history, '2026-11-12', '2026-11-30');
    expect(result.band.low.greaterThanOrEqualTo(result.month_to_date)).toBe(true);
    expect(result.band.low.lessThanOrEqualTo(result.forecast)).toBe(true);
    expect(result.band.high.greaterThan(result.forecast)).toBe(true);
  });

  it('follows a level shift within a week', () => {
    const before = series('2026-09-15', '2026-11-03', (_, weekday) => weekdaysAndWeekends(weekday));
    const after = series('2026-11-04', '2026-11-10', (_, weekday) =>
      weekday === 0 || weekday === 6 ? '60' : '200',
    );
    const result = forecastMonth([...before, ...after], '2026-11-10', '2026-11-30');
    // The weekly mean went from 80 to 160; after seven days the EWMA has covered 1 − 0.7⁷ ≈ 92% of the way.
    expect(result.burn_rate_per_day.toNumber()).toBeGreaterThan(150);
    expect(result.burn_rate_per_day.toNumber()).toBeLessThan(160);
  });

  it('forecasts the whole month on its eve (today = last day of the previous month)', () => {
    const history = series('2026-09-01', '2026-10-31', () => '2');
    const result = forecastMonth(history, '2026-10-31', '2026-11-30');
    expect(result.month_to_date.isZero()).toBe(true);
    expect(result.forecast.toFixed()).toBe('60');
    expect(naiveForecast(history, '2026-10-31', '2026-11-30').toFixed()).toBe('60');
  });

  it('answers month-to-date on the last day of the month', () => {
    const history = series('2026-10-01', '2026-11-30', (_, weekday) => weekdaysAndWeekends(weekday));
    const result = forecastMonth(history, '2026-11-30', '2026-11-30');
    expect(result.forecast.equals(result.month_to_date)).toBe(true);
    expect(
      result.band.low.equals(result.month_to_date) && result.band.high.equals(result.month_to_date),
    ).toBe(true);
  });

  it('ignores days after today and adds up duplicate dates', () => {
    const history = [
      ...series('2026-10-01', '2026-11-10', () => '4'),
      { date: '2026-11-11', amount: new Decimal('9999') },
    ];
    const split = history.flatMap((day) => [
      { date: day.date, amount: day.amount.div(2) },
      { date: day.date, amount: day.amount.div(2) },
    ]);
    const result = forecastMonth(split, '2026-11-10', '2026-11-30');
    expect(result.month_to_date.toFixed()).toBe('40');
    expect(result.forecast.toFixed()).toBe('120');
  });

  it('naive forecast: last-7-days average × days left + month-to-date', () => {
    const history = series('2026-10-20', '2026-11-10', (date) => (date >= '2026-11-04' ? '7' : '1'));
    // Nov 1–3 at 1, Nov 4–10 at 7: 52 so far; the last 7 days average 7, 20 days left.
    expect(naiveForecast(history, '2026-11-10', '2026-11-30').toFixed()).toBe('192');
  });

  it('rejects dates that are not calendar days and a today outside the month', () => {
    expect(() => forecastMonth([], '2026-02-30', '2026-02-28')).toThrow(RangeError);
    expect(() => forecastMonth([], '2026-11-5', '2026-11-30')).toThrow(RangeError);
    expect(() => forecastMonth([], '2026-12-01', '2026-11-30')).toThrow(RangeError);
    expect(() => forecastMonth([], '2026-10-30', '2026-11-30')).toThrow(RangeError);
    expect(() => forecastMonth([{ date: 'yesterday', amount: ZERO }], '2026-11-05', '2026-11-30')).toThrow(
      RangeError,
    );
  });
});

describe('forecastMonth with the current day still running', () => {
  const share = (remaining: string) => new Decimal(remaining);

  it('adds the rest of the month to a spike today instead of collapsing onto month-to-date', () => {
    // The QA repro: 0.07 on Dec 4, 0.035 on Dec 6; on Dec 7 at 21:00 (1/8 of the day to come) 10.0025 so far.
    const history = [
      { date: '2026-12-04', amount: new Decimal('0.07') },
      { date: '2026-12-06', amount: new Decimal('0.035') },
    ];
    const result = forecastMonth(history, '2026-12-06', '2026-12-31', {
      amount: new Decimal('10.0025'),
      remaining: share('0.125'),
    });
    expect(result.month_to_date.toFixed()).toBe('10.1075');
    expect(result.burn_rate_per_day.toFixed()).toBe('0.035');
    // The rest: 0.035 × (1/8 of today + 24 days) = 0.844375, with a ±50% band around it.
    expect(result.forecast.toFixed()).toBe('10.951875');
    expect(result.band.low.toFixed()).toBe('10.5296875');
    expect(result.band.high.toFixed()).toBe('11.3740625');
    expect(
      naiveForecast(history, '2026-12-06', '2026-12-31', {
        amount: new Decimal('10.0025'),
        remaining: share('0.125'),
      }).toFixed(),
    ).toBe('10.951875');
  });

  it('counts what today spent so far rather than replacing it by a day of the level', () => {
    const history = series('2026-02-01', '2026-03-15', () => '10.00');
    const result = forecastMonth(history, '2026-03-15', '2026-03-31', {
      amount: new Decimal('3'),
      remaining: share('0.25'),
    });
    // 150 up to Mar 15, 3 so far on Mar 16; then 10 × (a quarter of Mar 16 + 15 days).
    expect(result.month_to_date.toFixed()).toBe('153');
    expect(result.forecast.toFixed()).toBe('305.5');
    expect(result.band.low.toFixed()).toBe('305.5');
    expect(result.band.high.toFixed()).toBe('305.5');
  });

  it('counts the spend of a tenant whose only spend is today', () => {
    const result = forecastMonth([], '2026-11-09', '2026-11-30', {
      amount: new Decimal('0.5'),
      remaining: share('0.5'),
    });
    expect(result.month_to_date.toFixed()).toBe('0.5');
    expect(result.forecast.toFixed()).toBe('0.5');
    expect(result.band.low.toFixed()).toBe('0.5');
    expect(result.band.high.toFixed()).toBe('0.5');
    expect(result.method).toMatch(/no history/);
  });

  it("weighs today's weekday profile by the share of today still to come", () => {
    // Weekdays 100, weekends 30 up to Friday Nov 20 (level 80, profiles 1.25 / 0.375); 12 so far on
    // Saturday Nov 21 with half of it to come: 80 × (0.375 / 2 + 6 × 1.25 + 3 × 0.375) = 705.
    const history = series('2026-10-01', '2026-11-20', (_, weekday) => weekdaysAndWeekends(weekday));
    const result = forecastMonth(history, '2026-11-20', '2026-11-30', {
      amount: new Decimal('12'),
      remaining: share('0.5'),
    });
    expect(result.month_to_date.toFixed()).toBe('1662');
    expect(result.forecast.toFixed()).toBe('2367');
  });

  it('keeps the band on the rest only: a running day with all of it to come shifts everything by its spend', () => {
    const random = mulberry32(3);
    const history = series('2026-09-20', '2026-11-12', () =>
      random() < 0.15 ? (1000 * random()).toFixed(2) : '1.00',
    );
    const complete = forecastMonth(history, '2026-11-12', '2026-11-30');
    const spike = new Decimal('5000');
    const result = forecastMonth(history, '2026-11-12', '2026-11-30', {
      amount: spike,
      remaining: share('1'),
    });
    expect(result.month_to_date.equals(complete.month_to_date.plus(spike))).toBe(true);
    expect(result.forecast.equals(complete.forecast.plus(spike))).toBe(true);
    expect(result.band.low.equals(complete.band.low.plus(spike))).toBe(true);
    expect(result.band.high.equals(complete.band.high.plus(spike))).toBe(true);
    expect(result.burn_rate_per_day.equals(complete.burn_rate_per_day)).toBe(true);

    const late = forecastMonth(history, '2026-11-12', '2026-11-30', {
      amount: spike,
      remaining: share('0.1'),
    });
    const rest = late.forecast.minus(late.month_to_date);
    expect(rest.greaterThan(late.burn_rate_per_day.times(17))).toBe(true);
    expect(late.band.low.greaterThanOrEqualTo(late.month_to_date)).toBe(true);
    expect(late.band.low.lessThan(late.forecast)).toBe(true);
    expect(late.band.high.greaterThan(late.forecast)).toBe(true);
  });

  it('forecasts the month left on its first day, and nothing more once the last day is over', () => {
    const history = series('2026-09-01', '2026-10-31', () => '2');
    const first = forecastMonth(history, '2026-10-31', '2026-11-30', {
      amount: new Decimal('1'),
      remaining: share('0.75'),
    });
    expect(first.month_to_date.toFixed()).toBe('1');
    expect(first.forecast.toFixed()).toBe('60.5');
    const last = forecastMonth(history, '2026-10-30', '2026-10-31', {
      amount: new Decimal('7'),
      remaining: ZERO,
    });
    expect(last.month_to_date.toFixed()).toBe('67');
    expect(last.forecast.toFixed()).toBe('67');
    expect(last.band.low.equals(last.forecast) && last.band.high.equals(last.forecast)).toBe(true);
  });

  it('rejects a share outside 0 to 1 and a running day after the month end', () => {
    const running = (remaining: string) => ({ amount: ZERO, remaining: share(remaining) });
    expect(() => forecastMonth([], '2026-11-10', '2026-11-30', running('1.5'))).toThrow(RangeError);
    expect(() => forecastMonth([], '2026-11-10', '2026-11-30', running('-0.1'))).toThrow(RangeError);
    expect(() => forecastMonth([], '2026-11-30', '2026-11-30', running('0.5'))).toThrow(RangeError);
  });
});
