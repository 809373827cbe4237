import pLimit from 'p-limit';
import type { Db } from '../db/client.js';
import { getRawEvents, type IngestedKey, listIngestedKeys } from '../ingest/raw-event-repository.js';
import { addSums, attributesOfEvent, type CellSums, cellsOfEvent, emptySums, sumsOfEvent } from './cells.js';
import { applyToCells, getCursor, putCursor, type RollupCursor, recordAttributes } from './repository.js';

export interface RollupOptions {
  now: Date;
  /** Only events ingested at least this long ago: a write acknowledged late (retries) is never skipped. */
  lagMs: number;
  /** At most this many events per window, so one large tenant cannot starve the others. */
  maxEvents: number;
  /**
   * Runs on the window's usage events that ingestion marked for budget counters, after the cells
   * and before the window is recorded done: if it fails, the window stays `applying` and the next
   * run does it again (cells are recognised by the window's sequence), so a batch whose counters
   * ingestion did not finish is never left behind by a failure here.
   */
  beforeDone?: (budgetEvents: Record<string, unknown>[]) => Promise<void>;
}

export interface RollupResult {
  events: number;
  /** Unpriced usage the window brought, per provider/model and day: for the data-quality notice. */
  unpriced: { provider: string; model: string; day: string; tokens: number }[];
  cells: number;
  /** False when the window was capped: more is waiting for the next run. */
  caughtUp: boolean;
  /** Usage events of the window that ingestion marked for budget counters (the budgets step checks them). */
  budgetEvents: Record<string, unknown>[];
}

const EPOCH = '1970-01-01T00:00:00.000Z';

/**
 * Usage and outcome keys of a window. With a cap, each shard is read only up to the cap, so a
 * large backlog costs what the window takes, not the whole backlog; `completeBefore` says up to
 * when the listing is whole.
 */
async function keysInWindow(
  db: Db,
  tenantId: string,
  from: string,
  to: string,
  maxPerShard?: number,
): Promise<{ keys: IngestedKey[]; completeBefore?: string }> {
  const options = maxPerShard === undefined ? {} : { maxPerShard };
  const [usage, outcomes] = await Promise.all([
    listIngestedKeys(db, tenantId, 'usage', from, to, options),
    listIngestedKeys(db, tenantId, 'outcome', from, to, options),
  ]);
  const bounds = [usage.completeBefore, outcomes.completeBefore]
    .filter((bound) => bound !== undefined)
    .sort();
  const keys = [...usage.keys, ...outcomes.keys];
  return bounds[0] === undefined ? { keys } : { keys, completeBefore: bounds[0] };
}

/**
 * Rolls one tenant's newly ingested events into its KPI cells: incremental (it reads only events
 * ingested since its cursor), idempotent (each window has a sequence number and a cell takes a
 * window once, so a crashed or concurrent run that repeats it changes nothing) and correct for
 * late events (a cell is chosen by the event's own timestamp, however late it arrives).
 */
export async function rollupTenant(db: Db, tenantId: string, options: RollupOptions): Promise<RollupResult> {
  const cursor = await getCursor(db, tenantId);
  let window: { seq: number; from: string; to: string };
  let keys: IngestedKey[];
  let caughtUp = true;

  if (cursor?.state === 'applying' && cursor.planned_until) {
    // A run stopped (or is running) mid-window: finish that exact window.
    window = { seq: cursor.seq, from: cursor.until, to: cursor.planned_until };
    keys = (await keysInWindow(db, tenantId, window.from, window.to)).keys;
  } else {
    const from = cursor?.until ?? EPOCH;
    let to = new Date(options.now.getTime() - options.lagMs).toISOString();
    if (to <= from) return { events: 0, unpriced: [], cells: 0, caughtUp: true, budgetEvents: [] };
    const listing = await keysInWindow(db, tenantId, from, to, options.maxEvents);
    keys = listing.keys;
    if (listing.completeBefore !== undefined) {
      // A shard had more than the cap: only events ingested before its last listed one are sure.
      to = listing.completeBefore;
      caughtUp = false;
    }
    if (keys.length > options.maxEvents) {
      keys.sort((a, b) => (a.ingested < b.ingested ? -1 : 1));
      // End the window at the first event left out; events of that same instant all wait.
      const cut = (keys[options.maxEvents] as IngestedKey).ingested.slice(0, 24);
      if (cut < to) to = cut;
      caughtUp = false;
    }
    keys = keys.filter((key) => key.ingested < to);
    if (keys.length === 0) {
      // Nothing new: move the cursor on without a window, so the next run reads less.
      const moved: RollupCursor = { seq: cursor?.seq ?? 0, until: to, state: 'done' };
      await putCursor(db, tenantId, moved, { seq: cursor?.seq, state: cursor?.state });
      return { events: 0, unpriced: [], cells: 0, caughtUp, budgetEvents: [] };
    }
    window = { seq: (cursor?.seq ?? 0) + 1, from, to };
    const started = await putCursor(
      db,
      tenantId,
      { seq: window.seq, until: from, planned_until: to, state: 'applying' },
      { seq: cursor?.seq, state: cursor?.state },
    );
    if (!started) return { events: 0, unpriced: [], cells: 0, caughtUp: false, budgetEvents: [] }; // another run took this window
  }

  const events = await getRawEvents(db, keys);
  // Deltas per cell item (partition and time), then per value: one read and one write per item.
  const cells = new Map<string, { pk: string; time: string; deltas: Map<string, CellSums> }>();
  for (const event of events) {
    const delta = sumsOfEvent(event);
    for (const ref of cellsOfEvent(tenantId, event)) {
      const id = `${ref.pk}\u0000${ref.time}`;
      let cell = cells.get(id);
      if (!cell) {
        cell = { pk: ref.pk, time: ref.time, deltas: new Map() };
        cells.set(id, cell);
      }
      cell.deltas.set(ref.value, addSums(cell.deltas.get(ref.value) ?? emptySums(), delta));
    }
  }
  const limit = pLimit(16);
  await Promise.all(
    [...cells.values()].map((cell) =>
      limit(() => applyToCells(db, cell.pk, cell.time, cell.deltas, window.seq)),
    ),
  );
  const attributes = new Set(
    events.flatMap((event) => attributesOfEvent(event).map(([attribute]) => attribute)),
  );
  await recordAttributes(db, tenantId, [...attributes]);
  const budgetEvents = events.filter((event) => event.kind === 'usage' && event.bj !== undefined);
  await options.beforeDone?.(budgetEvents);
  await putCursor(
    db,
    tenantId,
    { seq: window.seq, until: window.to, state: 'done' },
    { seq: window.seq, state: 'applying' },
  );
  const unpriced = new Map<string, { provider: string; model: string; day: string; tokens: number }>();
  for (const event of events) {
    if (event.kind !== 'usage' || event.cost !== undefined) continue;
    const day = (event.ts as string).slice(0, 10);
    const key = `${event.prov}/${event.model}/${day}`;
    const entry = unpriced.get(key) ?? {
      provider: event.prov as string,
      model: event.model as string,
      day,
      tokens: 0,
    };
    entry.tokens += sumsOfEvent(event, true).unpriced_tokens;
    unpriced.set(key, entry);
  }
  return {
    events: events.length,
    unpriced: [...unpriced.values()],
    cells: cells.size,
    caughtUp,
    budgetEvents,
  };
}
