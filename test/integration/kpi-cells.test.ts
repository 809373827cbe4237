import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CellSums, emptySums } from '../../shared/kpis/cells.js';
import { applyToCells, queryCells } from '../../shared/kpis/repository.js';
import { parseDecimal, toDecimalString } from '../../shared/money/money.js';
import { createTestStore, ENGINES, type TestStore } from '../helpers/tollgate.js';

/** Sums with a recognisable cost and outcome, so double counting shows in the totals. */
function sums(cost: string, events = 1): CellSums {
  const result = emptySums();
  result.events = events;
  result.input_tokens = 1000 * events;
  result.cost = parseDecimal(cost);
  result.outcomes.ticket_resolved = { value: parseDecimal('1.5'), count: events };
  return result;
}

const deltas = (entries: [string, CellSums][]) => new Map(entries);

describe.each(ENGINES)('KPI cell items on %s', (engine) => {
  let store: TestStore;
  const pk = `v1#tenant#ten_cells_${engine}#kpi2#d1#d:customer`;
  beforeAll(async () => {
    store = await createTestStore(engine);
  });
  afterAll(async () => {
    await store?.cleanup();
  });

  it('keeps every value of a day in one item and reads them back exactly', async () => {
    const key = `${pk}-exact`;
    await applyToCells(
      store.db,
      key,
      '2026-11-01',
      deltas([
        ['acme', sums('0.10000001')],
        ['globex', sums('2.5')],
      ]),
      1,
    );
    await applyToCells(store.db, key, '2026-11-01', deltas([['acme', sums('0.00000009', 2)]]), 2);
    const rows = await queryCells(store.db, key, '2026-11-01', '2026-11-02');
    const byValue = Object.fromEntries(rows.map((row) => [row.sk, row.sums]));
    expect(Object.keys(byValue).sort()).toEqual(['2026-11-01#acme', '2026-11-01#globex']);
    expect(toDecimalString(byValue['2026-11-01#acme']?.cost ?? parseDecimal('0'))).toBe('0.1000001');
    expect(byValue['2026-11-01#acme']?.events).toBe(3);
    expect(byValue['2026-11-01#acme']?.outcomes.ticket_resolved?.count).toBe(3);
    expect(
      toDecimalString(byValue['2026-11-01#acme']?.outcomes.ticket_resolved?.value ?? parseDecimal('0')),
    ).toBe('3');
  });

  it('takes a window once, even when it is repeated, resumed, or run twice at the same time', async () => {
    const key = `${pk}-once`;
    // A run that reached only part of window 1 (acme), then a resumed run with all of it.
    await applyToCells(store.db, key, '2026-11-02', deltas([['acme', sums('1')]]), 1);
    const whole = deltas([
      ['acme', sums('1')],
      ['globex', sums('2')],
    ]);
    await Promise.all([
      applyToCells(store.db, key, '2026-11-02', whole, 1),
      applyToCells(store.db, key, '2026-11-02', whole, 1),
    ]);
    await applyToCells(store.db, key, '2026-11-02', whole, 1);
    const rows = await queryCells(store.db, key, '2026-11-02', '2026-11-03');
    expect(rows.map((row) => [row.sk, toDecimalString(row.sums.cost), row.sums.events]).sort()).toEqual([
      ['2026-11-02#acme', '1', 1],
      ['2026-11-02#globex', '2', 1],
    ]);
  });

  it('spills a day with very many values into more items, each value in exactly one', async () => {
    const key = `${pk}-wide`;
    const long = (i: number) => `customer-${String(i).padStart(5, '0')}-${'x'.repeat(230)}`;
    const first = deltas(
      Array.from({ length: 1500 }, (_, i) => [long(i), sums('0.01')] as [string, CellSums]),
    );
    await applyToCells(store.db, key, '2026-11-03', first, 1);
    // The next window adds to old values and brings new ones.
    const second = deltas(
      Array.from({ length: 1000 }, (_, i) => [long(i + 1000), sums('0.01')] as [string, CellSums]),
    );
    await applyToCells(store.db, key, '2026-11-03', second, 2);
    await applyToCells(store.db, key, '2026-11-03', second, 2);
    const rows = await queryCells(store.db, key, '2026-11-03', '2026-11-04');
    expect(rows).toHaveLength(2000);
    expect(new Set(rows.map((row) => row.sk)).size).toBe(2000);
    const total = rows.reduce((sum, row) => sum.plus(row.sums.cost), parseDecimal('0'));
    expect(toDecimalString(total)).toBe('25');
    expect(rows.find((row) => row.sk === `2026-11-03#${long(1200)}`)?.sums.events).toBe(2);
    expect(rows.find((row) => row.sk === `2026-11-03#${long(5)}`)?.sums.events).toBe(1);
  });

  it('reads only the times asked for', async () => {
    const key = `${pk}-range`;
    for (const [seq, day] of ['2026-10-30', '2026-10-31', '2026-11-01'].entries()) {
      await applyToCells(store.db, key, day, deltas([['acme', sums('1')]]), seq + 1);
    }
    const rows = await queryCells(store.db, key, '2026-10-31', '2026-11-01');
    expect(rows.map((row) => row.sk)).toEqual(['2026-10-31#acme']);
  });
});
