import pLimit from 'p-limit';
import type { Restrict } from '../api-keys/schema.js';
import type { EventBus } from '../bus/bus.js';
import type { Db } from '../db/client.js';
import { keys } from '../db/keys.js';
import { decodeCursor, encodeCursor, type Page, type PageRequest } from '../db/pagination.js';
import {
  ConflictError,
  NotFoundError,
  TooManyReservationsError,
  UnprocessableError,
  ValidationError,
} from '../errors/errors.js';
import { ExpiringCache } from '../expiring-cache.js';
import { type RunSeed, requestFingerprint } from '../idempotency/idempotency.js';
import { hashedId, newId, seededId } from '../ids.js';
import { flushOutbox, recordNotice } from '../kpis/notices.js';
import { type Decimal, parseDecimal, toDecimalString, ZERO } from '../money/money.js';
import type { Logger } from '../observability/logger.js';
import { computeCost } from '../pricing/cost.js';
import type { PricingService } from '../pricing/service.js';
import { emptyUsage } from '../usage/canonical.js';
import {
  blockLevel,
  decideBudget,
  formatAmount,
  limitOf,
  matches,
  noticesOf,
  type Subject,
  stateOf,
  statusOf,
  strictest,
  unitOf,
  windowsOf,
} from './evaluate.js';
import { canonicalTimeZone, periodAt, previousPeriod } from './period.js';
import {
  addSpend,
  appliedBatches,
  BATCH_RECORD_RETENTION_MS,
  type BudgetPartition,
  bumpBudgetSet,
  CounterFullError,
  type CounterRecord,
  type CounterTarget,
  clearAbandonedReservation,
  clearBatchMark,
  confirmReservation,
  correctHoldCount,
  deleteBudgetItems,
  deleteCounter,
  ensureCounter,
  getReservation,
  holdIdOf,
  isBudgetDefinitionStored,
  loadBudgetPartition,
  MAX_HOLDS_PER_COUNTER,
  markBatchApplied,
  markFired,
  moveReservation,
  moveReservationReturning,
  putBudgetDefinition,
  type ReservationRecord,
  readCounters,
  releaseBudgetSlot,
  releaseOnCounter,
  reserveOnCounter,
  takeBudgetSlot,
  unclaimReservation,
  writeReservation,
} from './repository.js';
import type {
  AuthorizeRequest,
  AuthorizeResult,
  Budget,
  BudgetDefinition,
  CheckRequest,
  CheckResult,
  CreateBudget,
  Decision,
  Settlement,
  UpdateBudget,
} from './schema.js';

/**
 * A tenant's budgets are read whole when an instance loads their definitions (and by evaluation,
 * the budget views and deletes): a bound keeps that read small.
 */
export const MAX_BUDGETS_PER_TENANT = 200;

const budgetLimitReached = () =>
  new ConflictError(`A tenant has at most ${MAX_BUDGETS_PER_TENANT} budgets.`, 'BUDGET_LIMIT_REACHED');

const PROVIDER_SEARCH_ORDER = ['openai', 'anthropic', 'google', 'mistral', 'bedrock', 'azure'];

/** A usage event as stored (the attributes budgets read). */
export interface StoredUsage {
  ts: string;
  cost?: string;
  u?: Record<string, number>;
  rsv?: string;
  /** Budgets the event matched when it was ingested. */
  bud?: string[];
  /** The ingest request (batch) that applies it to the counters. */
  bj?: string;
}

/** A hold of a settled reservation, to give back to its counter. */
interface SettledHold {
  budgetId: string;
  periodStart: string;
  /** The hold's attribute on the counter: the reservation's attempt. */
  id: string;
  amount: Decimal;
}

function settlementOf(record: ReservationRecord | undefined, movedNow: boolean): Settlement {
  if (!record) return 'not_found';
  if (movedNow) return 'settled';
  switch (record.state) {
    case 'settled':
      return 'already_settled';
    case 'released':
      return 'released';
    case 'blocked':
      return 'blocked';
    default:
      // Still reserved (or half-claimed) after the move found it elsewhere: a racing change.
      return 'pending';
  }
}

/** What an ingest request learned about the tenant's budgets before storing its events. */
export interface UsageBudgetPlan {
  batchId: string;
  /** When the plan was made (epoch ms): before any of the batch's events was stored. */
  plannedAt: number;
  definitions: BudgetDefinition[];
  /** The attributes an event stores so its application can be finished by the rollup. */
  attributesFor(subject: Subject, reservationId: string | undefined): Record<string, unknown>;
}

const tokensOf = (usage: Record<string, number> | undefined) =>
  Object.entries(usage ?? {}).reduce(
    (sum, [field, count]) => (field === 'reasoning_tokens' ? sum : sum + count),
    0,
  );

/** A restricted key sees the budgets inside its slice: those whose scope pins every restricted pair. */
const visibleTo = (restrict: Restrict | null | undefined) => (definition: BudgetDefinition) =>
  !restrict || Object.entries(restrict).every(([key, value]) => definition.scope[key] === value);

function targetOf(definition: BudgetDefinition, at: Date): CounterTarget {
  const window = periodAt(definition, at);
  return {
    budgetId: definition.id,
    periodStart: window.start.toISOString(),
    periodEnd: window.end.toISOString(),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How long an instance keeps a tenant's budget definitions without reading them whole again.
 * Enforcement reads the set's revision beside its counters (checks always, authorizations once
 * per DEFINITIONS_TRUSTED_MS) and starts over on a change, so this bounds only the case of a
 * process that stopped between storing a definition and raising the revision.
 */
const DEFINITIONS_CACHE_MS = 60_000;

/**
 * How long an authorization trusts definitions confirmed current without reading the revision
 * again: a change made through another instance applies to this one's authorizations within this
 * long (at once to checks, and on the instance that made it).
 */
export const DEFINITIONS_TRUSTED_MS = 1_000;

/**
 * How long after its claim a first authorization that has not taken all its holds is taken to have
 * stopped (a crash, a timeout), so that a retry with its id clears it and reserves afresh. Its
 * writes are in flight together, so a live call takes them within a round trip or two.
 */
export const ABANDONED_AFTER_MS = 5_000;

/**
 * An authorization that took its holds this long after its claim confirms the claim before it
 * answers: half of ABANDONED_AFTER_MS, so clocks that differ by less than that between instances
 * cannot let a retry clear a claim whose holds were all taken.
 */
const LATE_AFTER_MS = ABANDONED_AFTER_MS / 2;

/** A tenant's budget definitions as one instance last read them. */
interface KeptBudgets {
  revision: number;
  definitions: BudgetDefinition[];
  /** When the revision was last read and found to be this one. */
  checkedAt: number;
  /** The counters read since, by budget and period start: the previous periods' feed `resolved`. */
  counters: BudgetPartition['counters'];
}

const byId = (a: BudgetDefinition, b: BudgetDefinition) => (a.id < b.id ? -1 : 1);
const matchingOf = (definitions: BudgetDefinition[], subject: Subject) =>
  definitions.filter((definition) => matches(definition.scope, subject)).sort(byId);

/** The counters a decision about a budget reads: its current period's and its previous one's. */
function periodTargets(definition: BudgetDefinition, at: Date) {
  const { current, previous } = windowsOf(definition, at);
  return [
    { budgetId: definition.id, periodStart: current.start.toISOString() },
    { budgetId: definition.id, periodStart: previous.start.toISOString() },
  ];
}

/**
 * What a counter has used: spent plus the live holds. Holds of `reservationId` other than
 * `keptHold` are left out: they belong to racing retries of the same call, which give them back.
 */
function usedOf(
  counter: CounterRecord | undefined,
  nowMs: number,
  reservationId?: string,
  keptHold?: string,
): Decimal {
  if (!counter) return ZERO;
  const twin = `${reservationId}~`;
  let used = counter.spent;
  for (const hold of counter.reservations) {
    if (hold.expiresAt <= nowMs) continue;
    if (reservationId && hold.id.startsWith(twin) && hold.id !== keptHold) continue;
    used = used.plus(hold.amount);
  }
  return used;
}

/** One budget's part in an authorization's answer. */
interface AnsweredBudget {
  definition: BudgetDefinition;
  counters: Map<string, CounterRecord> | undefined;
  used: Decimal;
  /** What the call would add, for a refused call (an admitted one's `used` includes it). */
  estimate: Decimal;
  refused?: boolean;
}

/**
 * The answer to an authorization: admitted, with the reservation, or a block. Used for the call
 * itself (from the counters its holds answered) and for a retry (from the counters as they are).
 */
function authorizationAnswer(input: {
  at: Date;
  model: string;
  reservation: { id: string; expiresAt: number; reserved: { cost: string; tokens: number; priced: boolean } };
  budgets: AnsweredBudget[];
  admitted: boolean;
}): AuthorizeResult {
  const { at, model, reservation, admitted } = input;
  let downgrade: string | undefined;
  const least = { usd: undefined as Decimal | undefined, tokens: undefined as Decimal | undefined };
  const entries = input.budgets.map(({ definition, counters, used, estimate, refused }) => {
    const outcome = decideBudget(definition, used, admitted ? ZERO : estimate, model, { admitted });
    if (outcome.model && !downgrade) downgrade = outcome.model;
    const unit = unitOf(definition);
    const remaining = atLeastZero(limitOf(definition).minus(used));
    const shown = least[unit];
    if (!shown || remaining.lessThan(shown)) least[unit] = remaining;
    return {
      id: definition.id,
      name: definition.name,
      state: stateOf(definition, counters, at),
      decision: refused ? ('block' as Decision) : outcome.decision,
      remaining: formatAmount(unit, remaining),
    };
  });
  const decision = admitted ? strictest(entries.map((entry) => entry.decision)) : 'block';
  return {
    decision,
    model: downgrade && decision !== 'block' && decision !== 'allow' ? downgrade : model,
    reservation_id: admitted ? reservation.id : null,
    reserved: admitted
      ? reservation.reserved
      : { cost: formatAmount('usd', ZERO) as string, tokens: 0, priced: reservation.reserved.priced },
    remaining: {
      cost: least.usd ? (formatAmount('usd', least.usd) as string) : null,
      tokens: least.tokens ? (formatAmount('tokens', least.tokens) as number) : null,
    },
    expires_at: admitted ? new Date(reservation.expiresAt).toISOString() : null,
    budgets: entries,
  };
}

export interface BudgetServiceOptions {
  now?: () => Date;
  logger?: Logger;
  /**
   * How long the rollup leaves newly ingested events alone (TOLLGATE_ROLLUP_LAG_SECONDS): an
   * ingest request that applied its batch well within it knows the rollup cannot be applying the
   * same batch, and clears the batch's marks at once.
   */
  rollupLagMs?: number;
}

/**
 * Margin kept below the rollup's lag (clocks of different instances, the time between the plan
 * and the stored events' timestamps) before an ingest request clears its batch's marks itself.
 */
const MARK_CLEAR_MARGIN_MS = 5_000;

/**
 * Marks this instance may clear are removed by its next spend on the same counter, this many at
 * most per write; counters it keeps such marks for, at most (the oldest are left to the sweep).
 */
const MARKS_CLEARED_PER_WRITE = 25;
const MAX_COUNTERS_WITH_CLEARABLE_MARKS = 10_000;

/**
 * A batch's marks stay on the counters this long after the batch was recorded applied, when the
 * ingest request did not clear them itself: longer than an ingest request or a rollup run can
 * last (Lambda stops either at 15 minutes), so none that might still apply the batch is left.
 */
export const BATCH_MARK_HORIZON_MS = 20 * 60_000;

export function createBudgetService(
  db: Db,
  pricing: PricingService,
  bus: EventBus,
  options: BudgetServiceOptions = {},
) {
  const now = options.now ?? (() => new Date());
  /** Per tenant, the budget definitions as this instance last read them. */
  const definitionsCache = new ExpiringCache<KeptBudgets>(DEFINITIONS_CACHE_MS, 1_000);
  /**
   * Per counter, the batches this instance applied and recorded applied before any rollup could
   * look at them: no one can apply those again, so the instance's next spend on the counter
   * removes their marks in the same write (a mark costs no write of its own).
   */
  const clearableMarks = new Map<string, Set<string>>();
  const counterKey = (tenantId: string, target: { budgetId: string; periodStart: string }) =>
    `${tenantId}\u0000${target.budgetId}\u0000${target.periodStart}`;

  /** The whole partition, read once; its definitions are kept for the next enforcement requests. */
  async function loadPartition(tenantId: string): Promise<{ partition: BudgetPartition; kept: KeptBudgets }> {
    const readAt = now().getTime();
    const partition = await loadBudgetPartition(db, tenantId);
    const kept: KeptBudgets = {
      revision: partition.revision,
      definitions: partition.definitions,
      checkedAt: readAt,
      counters: partition.counters,
    };
    definitionsCache.set(tenantId, kept, readAt);
    return { partition, kept };
  }

  /** Reads counters with the set's revision; answers undefined when the kept definitions are stale. */
  async function readKeptCounters(
    tenantId: string,
    kept: KeptBudgets,
    targets: { budgetId: string; periodStart: string }[],
  ) {
    const readAt = now().getTime();
    const snapshot = await readCounters(db, tenantId, targets);
    if (snapshot.revision !== kept.revision) return undefined;
    kept.checkedAt = Math.max(kept.checkedAt, readAt);
    for (const [budgetId, perBudget] of snapshot.counters) {
      const keptPerBudget = kept.counters.get(budgetId) ?? new Map<string, CounterRecord>();
      for (const [periodStart, counter] of perBudget) keptPerBudget.set(periodStart, counter);
      kept.counters.set(budgetId, keptPerBudget);
    }
    return snapshot.counters;
  }

  /**
   * The budgets that match `subject` and their counters (current and previous periods). With the
   * definitions kept, that is one BatchGetItem of the counters and the set's revision; a revision
   * that moved (a budget changed) means reading the partition whole.
   */
  async function viewFor(tenantId: string, subject: Subject, at: Date) {
    const kept = definitionsCache.get(tenantId, at.getTime());
    if (kept) {
      const matching = matchingOf(kept.definitions, subject);
      const counters = await readKeptCounters(
        tenantId,
        kept,
        matching.flatMap((definition) => periodTargets(definition, at)),
      );
      if (counters) return { matching, counters };
    }
    const { partition } = await loadPartition(tenantId);
    return { matching: matchingOf(partition.definitions, subject), counters: partition.counters };
  }

  function toBudget(definition: BudgetDefinition, partition: BudgetPartition, at: Date): Budget {
    const { revision: _revision, ...visible } = definition;
    return { ...visible, status: statusOf(definition, partition.counters.get(definition.id), at) };
  }

  async function findVisible(tenantId: string, budgetId: string, restrict: Restrict | null | undefined) {
    const partition = await loadBudgetPartition(db, tenantId);
    const definition = partition.definitions.find((d) => d.id === budgetId);
    if (!definition || !visibleTo(restrict)(definition)) {
      throw new NotFoundError(`No budget ${budgetId}.`, 'BUDGET_NOT_FOUND');
    }
    return { definition, partition };
  }

  /** Records what should be told about these budgets (once each) and publishes it. */
  async function evaluate(
    tenantId: string,
    definitions: BudgetDefinition[],
    counters: BudgetPartition['counters'],
    at: Date,
    publish: boolean,
  ): Promise<number> {
    let recorded = 0;
    for (const definition of definitions) {
      const notices = noticesOf(definition, counters.get(definition.id), at);
      const byCounter = new Map<string, string[]>();
      for (const notice of notices) {
        if (notice.type && notice.data) {
          const event = await recordNotice(
            db,
            tenantId,
            `v1#notice#budget#${definition.id}#${notice.periodStart}#${notice.name}`,
            notice.type,
            notice.data,
            at,
          );
          if (event) recorded++;
        }
        byCounter.set(notice.periodStart, [...(byCounter.get(notice.periodStart) ?? []), notice.name]);
      }
      for (const [periodStart, names] of byCounter) {
        await markFired(db, tenantId, { budgetId: definition.id, periodStart }, names);
      }
    }
    if (publish && recorded > 0) await flushOutbox(db, tenantId, bus);
    return recorded;
  }

  async function priceOf(tenantId: string, provider: string | undefined, model: string, at: Date) {
    const pricer = await pricing.estimatePricer(tenantId);
    for (const candidate of provider ? [provider] : PROVIDER_SEARCH_ORDER) {
      const price = pricer.priceAt(candidate, model, at);
      if (price) return price;
    }
    return undefined;
  }

  /** Gives back every hold of a reservation; idempotent (each release is conditional). */
  async function releaseHolds(tenantId: string, record: ReservationRecord): Promise<void> {
    await Promise.all(
      record.holds.map((hold) =>
        releaseOnCounter(db, tenantId, hold, { id: holdIdOf(record), amount: parseDecimal(hold.amount) }),
      ),
    );
  }

  /**
   * Settles reservations named by usage events: answers, per reservation id, what became of it,
   * and the holds to give back, those of settled reservations. A reservation settled already
   * gives its holds back again (each release is conditional), as a crash may have left one.
   */
  async function settle(
    tenantId: string,
    reservationIds: string[],
  ): Promise<{ outcomes: Map<string, Settlement>; holds: SettledHold[] }> {
    const outcomes = new Map<string, Settlement>();
    const holds: SettledHold[] = [];
    await Promise.all(
      [...new Set(reservationIds)].map(async (reservationId) => {
        const moved = await moveReservationReturning(db, tenantId, reservationId, ['reserved'], 'settled');
        const record = moved ?? (await getReservation(db, tenantId, reservationId));
        outcomes.set(reservationId, settlementOf(record, moved !== undefined));
        if (record?.state !== 'settled') return;
        for (const hold of record.holds) {
          holds.push({ ...hold, id: holdIdOf(record), amount: parseDecimal(hold.amount) });
        }
      }),
    );
    return { outcomes, holds };
  }

  /**
   * Applies one usage batch's events to the counters of the budgets they matched at ingestion:
   * money budgets take the event's cost (unpriced events add nothing), token budgets its tokens.
   * Periods older than the previous one are past enforcing and are left alone. Each counter takes
   * the batch once, however often this runs for it. Reservations the events carry are settled.
   * Answers the counters as they are after the change, and those that carry the batch's mark.
   */
  async function applyEvents(
    tenantId: string,
    definitions: BudgetDefinition[],
    batch: { id: string; events: StoredUsage[] },
    at: Date,
  ): Promise<{
    updated: Map<string, Map<string, CounterRecord>>;
    marked: CounterTarget[];
    settlements: Map<string, Settlement>;
  }> {
    const { events } = batch;
    const byId = new Map(definitions.map((definition) => [definition.id, definition]));
    const deltas = new Map<
      string,
      { definition: BudgetDefinition; target: CounterTarget; amount: Decimal }
    >();
    const reservations: string[] = [];
    for (const event of events) {
      if (event.rsv) reservations.push(event.rsv);
      const timestamp = new Date(event.ts);
      for (const budgetId of event.bud ?? []) {
        const definition = byId.get(budgetId);
        if (!definition) continue; // deleted since
        const target = targetOf(definition, timestamp);
        if (target.periodStart < previousPeriod(definition, at).start.toISOString()) continue;
        const amount =
          unitOf(definition) === 'usd'
            ? event.cost === undefined
              ? ZERO
              : parseDecimal(event.cost)
            : parseDecimal(String(tokensOf(event.u)));
        if (amount.isZero()) continue;
        const key = `${budgetId}#${target.periodStart}`;
        const entry = deltas.get(key) ?? { definition, target, amount: ZERO };
        entry.amount = entry.amount.plus(amount);
        deltas.set(key, entry);
      }
    }
    const updated = new Map<string, Map<string, CounterRecord>>();
    const marked: CounterTarget[] = [];
    const limit = pLimit(16);
    // Settled first, so each hold goes back in the same write as the spend of its counter.
    const settled = await settle(tenantId, reservations);
    const holdsByCounter = new Map<string, SettledHold[]>();
    for (const hold of settled.holds) {
      const key = `${hold.budgetId}#${hold.periodStart}`;
      holdsByCounter.set(key, [...(holdsByCounter.get(key) ?? []), hold]);
    }
    const release = (holds: SettledHold[]) =>
      Promise.all(holds.map((hold) => releaseOnCounter(db, tenantId, hold, hold)));
    // Every write settles before this answers (or throws): a failed one leaves no other in flight.
    const outcomes = await Promise.allSettled([
      ...[...deltas.entries()].map(([deltaKey, delta]) =>
        limit(async () => {
          const key = counterKey(tenantId, delta.target);
          const pending = clearableMarks.get(key);
          const clear = [...(pending ?? [])].slice(0, MARKS_CLEARED_PER_WRITE);
          const releasing = holdsByCounter.get(deltaKey) ?? [];
          const spend = () =>
            addSpend(
              db,
              tenantId,
              delta.target,
              delta.amount,
              { id: batch.id, at: at.getTime() },
              clear,
              releasing,
            );
          let spent: Awaited<ReturnType<typeof spend>>;
          try {
            spent = await spend();
          } catch (error) {
            // Full of holds (a counter written before they were counted): expired ones make room.
            // Else the error names the budget, and the batch is applied once holds are gone.
            if (!(error instanceof CounterFullError)) throw error;
            if ((await sweepExpiredHolds(tenantId, delta.target, now().getTime())) === 0) throw error;
            spent = await spend();
          }
          const { counter, added, released } = spent;
          // A hold already gone, or the batch applied before: the holds go on their own.
          if (releasing.length > 0 && !released) await release(releasing);
          if (added && pending) {
            for (const batchId of clear) pending.delete(batchId);
            if (pending.size === 0) clearableMarks.delete(key);
          }
          if (!counter) return; // deleted meanwhile: a period past keeping
          marked.push(delta.target);
          const perBudget = updated.get(delta.definition.id) ?? new Map<string, CounterRecord>();
          perBudget.set(counter.periodStart, counter);
          updated.set(delta.definition.id, perBudget);
        }),
      ),
      // Holds on counters this batch adds nothing to (another period, a budget the usage missed).
      release(
        [...holdsByCounter.entries()].filter(([key]) => !deltas.has(key)).flatMap(([, holds]) => holds),
      ),
    ]);
    const failure = outcomes.find(
      (outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected',
    );
    if (failure) throw failure.reason;
    return { updated, marked, settlements: settled.outcomes };
  }

  /** Clears a batch's marks (best effort: a mark left behind is cleared by the rollup's sweep). */
  async function clearBatchMarks(tenantId: string, batchId: string, targets: CounterTarget[]) {
    await Promise.all(
      targets.map((target) =>
        clearBatchMark(db, tenantId, target, batchId).catch((error: unknown) => {
          options.logger?.warn(
            { err: error, tenant_id: tenantId, batch: batchId },
            'a usage batch mark was not cleared; the next rollup will',
          );
        }),
      ),
    );
  }

  /**
   * Clears the marks of batches recorded applied more than BATCH_MARK_HORIZON_MS ago: those an
   * ingest request left (it ran long, or stopped part-way and the rollup finished it). A mark
   * older than the records of applied batches are kept is past anyone's reach and goes too.
   */
  async function sweepBatchMarks(tenantId: string, partition: BudgetPartition, at: Date) {
    const cutoff = at.getTime() - BATCH_MARK_HORIZON_MS;
    /** Per batch, the counters carrying its mark and the newest time one was added. */
    const candidates = new Map<string, { counters: CounterRecord[]; newest: number }>();
    for (const perPeriod of partition.counters.values()) {
      for (const counter of perPeriod.values()) {
        // A batch is recorded applied after its spend was added: a younger mark cannot qualify.
        for (const batch of counter.batches) {
          if (batch.addedAt > cutoff) continue;
          const candidate = candidates.get(batch.id) ?? { counters: [], newest: 0 };
          candidate.counters.push(counter);
          candidate.newest = Math.max(candidate.newest, batch.addedAt);
          candidates.set(batch.id, candidate);
        }
      }
    }
    if (candidates.size === 0) return;
    const applied = await appliedBatches(db, tenantId, [...candidates.keys()]);
    const forgotten = at.getTime() - BATCH_RECORD_RETENTION_MS;
    for (const [batchId, { counters, newest }] of candidates) {
      const recordedAt = applied.get(batchId);
      if ((recordedAt !== undefined && recordedAt <= cutoff) || newest <= forgotten) {
        await clearBatchMarks(tenantId, batchId, counters);
      }
    }
  }

  /**
   * Gives back the holds of `counter` (as read) that expired by `nowMs`; answers how many it gave
   * back (each release is conditional, so one another sweep gave back first does not count).
   */
  async function releaseExpiredHolds(
    tenantId: string,
    counter: CounterRecord,
    nowMs: number,
  ): Promise<number> {
    const expired = counter.reservations.filter((hold) => hold.expiresAt <= nowMs);
    const released = await Promise.all(expired.map((hold) => releaseOnCounter(db, tenantId, counter, hold)));
    return released.filter(Boolean).length;
  }

  /** Reads one counter and gives back its expired holds; answers how many it gave back. */
  async function sweepExpiredHolds(tenantId: string, target: CounterTarget, nowMs: number): Promise<number> {
    const { counters } = await readCounters(db, tenantId, [target]);
    const counter = counters.get(target.budgetId)?.get(target.periodStart);
    return counter ? releaseExpiredHolds(tenantId, counter, nowMs) : 0;
  }

  /**
   * A retry's answer, from the record of the first call with its id: a block as it was answered;
   * a reservation with the same id, amounts and expiry, and the budgets' figures as they are now.
   * Undefined when the id is free again (the first call failed, or stopped part-way and its claim
   * was cleared here): the retry then reserves afresh.
   */
  async function answerOfReservation(
    tenantId: string,
    reservationId: string,
    fingerprint: string,
  ): Promise<AuthorizeResult | undefined> {
    // The first call may still be taking its holds: wait until every one is visible (or it
    // turned into a block).
    /** The record of a first call this retry took for stopped: its holds go back once it is cleared. */
    let abandoned: ReservationRecord | undefined;
    for (let attempt = 0; ; attempt++) {
      const record = await getReservation(db, tenantId, reservationId);
      if (!record) {
        // Cleared: by this retry (the answer of its delete may have been lost) or by another one.
        if (abandoned) await releaseHolds(tenantId, abandoned);
        return undefined;
      }
      if (record.fingerprint !== undefined && record.fingerprint !== fingerprint) {
        // Answering the first request's reservation would hand this one a decision (and a model)
        // made for another call, and hold nothing for it.
        throw new UnprocessableError(
          `The authorization id ${record.request_id} was used for another request (another model, estimate, dimensions or ttl); use a new id for a new call.`,
          'AUTHORIZATION_ID_REUSED',
        );
      }
      if (attempt > 100)
        throw new ConflictError(
          'The first authorization with this id is still in progress.',
          'AUTHORIZATION_IN_PROGRESS',
        );
      if (record.state === 'blocked' && record.answer) return record.answer as AuthorizeResult;
      const partition = await loadBudgetPartition(db, tenantId);
      const at = now();
      const held = record.holds.every((hold) =>
        partition.counters
          .get(hold.budgetId)
          ?.get(hold.periodStart)
          ?.reservations.some((r) => r.id === holdIdOf(record)),
      );
      const over = at.getTime() >= record.expires_at;
      if (record.state !== 'reserved' || held || over) {
        return (record.answer as AuthorizeResult | undefined) ?? answerFromRecord(record, partition, at);
      }
      if (at.getTime() - Date.parse(record.created_at) > ABANDONED_AFTER_MS) {
        // The first call stopped between its claim and its holds, so its answer never reached the
        // caller: its claim is cleared, so that this retry reserves as the first call would have,
        // and then what it took goes back (each release is conditional on its hold). Cleared
        // first: a first call that was only slow and confirmed its claim meanwhile keeps it, and
        // its holds (the next read finds them).
        abandoned = record;
        if (await clearAbandonedReservation(db, tenantId, record)) {
          await releaseHolds(tenantId, record);
          return undefined;
        }
        continue;
      }
      await sleep(20);
    }
  }

  /** An admitted reservation's answer, with the budgets it holds as they are at `at`. */
  function answerFromRecord(
    record: ReservationRecord,
    partition: BudgetPartition,
    at: Date,
  ): AuthorizeResult {
    const budgets: AnsweredBudget[] = [];
    for (const hold of record.holds) {
      const definition = partition.definitions.find((d) => d.id === hold.budgetId);
      if (!definition) continue; // deleted since
      const counters = partition.counters.get(definition.id);
      const used = usedOf(
        counters?.get(targetOf(definition, at).periodStart),
        at.getTime(),
        record.id,
        holdIdOf(record),
      );
      budgets.push({ definition, counters, used, estimate: ZERO });
    }
    return authorizationAnswer({
      at,
      model: record.model ?? '',
      reservation: {
        id: record.id,
        expiresAt: record.expires_at,
        reserved: record.reserved ?? { cost: formatAmount('usd', ZERO) as string, tokens: 0, priced: false },
      },
      budgets,
      admitted: true,
    });
  }

  /**
   * Reserves the worst case of a call against every matching budget. For budgets that block, the
   * engine admits a hold only while used ≤ block level − amount, so however many calls race the
   * holds never take a blocking budget past its level; if one refuses, the holds already taken
   * are given back and the answer is block. Idempotent on the caller's `id`: the reservation's id
   * derives from it, and the first call to write the reservation's record owns it.
   *
   * With the tenant's definitions kept by this instance, an admitted call is one round of
   * requests in parallel: the record (the claim), one conditional UpdateItem per budget (its
   * hold, answering the counter), and a BatchGetItem of the definitions' revision and the
   * previous periods' counters. A changed revision, a refusal or a retry take slower paths.
   */
  async function authorizeOnce(
    tenantId: string,
    request: AuthorizeRequest,
  ): Promise<AuthorizeResult | undefined> {
    const at = now();
    const nowMs = at.getTime();
    const subject: Subject = {
      dimensions: request.dimensions,
      model: request.model,
      provider: request.provider,
    };
    const reservationId = hashedId('rsv', request.id);
    const fingerprint = authorizationFingerprint(request);
    const expiresAt = nowMs + request.ttl_seconds * 1000;
    const price =
      request.estimated_cost === undefined
        ? await priceOf(tenantId, request.provider, request.model, at)
        : undefined;
    const tokens = request.estimated_input_tokens + (request.max_output_tokens ?? 0);
    const priced = request.estimated_cost !== undefined || price !== undefined;
    const cost =
      request.estimated_cost !== undefined
        ? parseDecimal(request.estimated_cost)
        : price
          ? computeCost(
              {
                ...emptyUsage(),
                input_tokens: request.estimated_input_tokens,
                output_tokens: request.max_output_tokens ?? 0,
              },
              price,
              'standard',
            ).cost
          : ZERO;
    const reserved = { cost: formatAmount('usd', cost) as string, tokens, priced };
    const planOf = (definitions: BudgetDefinition[]) =>
      matchingOf(definitions, subject).map((definition) => {
        const amount = unitOf(definition) === 'usd' ? cost : parseDecimal(String(tokens));
        const level = blockLevel(definition);
        return {
          definition,
          target: targetOf(definition, at),
          amount,
          maxUsed: level === undefined ? undefined : { value: level.minus(amount), strict: amount.isZero() },
        };
      });
    type Plan = ReturnType<typeof planOf>;
    // Each attempt's holds carry an id of their own, prefixed by the reservation's: a racing
    // retry's holds are recognised, and only this attempt's are ever given back by it.
    const newHoldId = () => `${reservationId}~${newId('rsv', nowMs).slice(4)}`;
    const recordOf = (holdId: string, plan: Plan): ReservationRecord => ({
      id: reservationId,
      request_id: request.id,
      state: 'reserved',
      created_at: at.toISOString(),
      expires_at: expiresAt,
      hold_id: holdId,
      holds: plan.map((hold) => ({
        budgetId: hold.definition.id,
        periodStart: hold.target.periodStart,
        amount: toDecimalString(hold.amount),
      })),
      reserved,
      model: request.model,
      fingerprint,
    });
    const take = async (holdId: string, hold: Plan[number]) => {
      const reserve = () =>
        reserveOnCounter(
          db,
          tenantId,
          hold.target,
          { id: holdId, amount: hold.amount, expiresAt },
          hold.maxUsed,
        );
      try {
        return await reserve();
      } catch (error) {
        // A full counter may be full of expired holds the rollup has not swept yet.
        if (error instanceof CounterFullError && (await sweepExpiredHolds(tenantId, hold.target, nowMs)) > 0)
          return reserve();
        throw error;
      }
    };
    // Every hold of the attempt, taken or not: a hold whose answer was lost (the SDK retried it
    // and the retry met the hold itself) looks refused but holds. Each release is conditional
    // on the attempt's attribute, so one never taken costs a request and changes nothing.
    const giveBack = (holdId: string, plan: Plan) =>
      Promise.all(
        plan.map((hold) => releaseOnCounter(db, tenantId, hold.target, { id: holdId, amount: hold.amount })),
      );
    /** The store failed part-way: what was taken goes back and the id is given up for a retry. */
    const giveUp = async (holdId: string, plan: Plan, claimed: boolean, reason: unknown): Promise<never> => {
      await giveBack(holdId, plan);
      if (claimed) await unclaimReservation(db, tenantId, reservationId, holdId);
      throw reason;
    };
    const settledValues = <T>(results: PromiseSettledResult<T>[]) =>
      results.map((result) => (result.status === 'fulfilled' ? result.value : undefined));
    const firstFailure = (results: PromiseSettledResult<unknown>[]) =>
      results.find((result): result is PromiseRejectedResult => result.status === 'rejected');

    // Definitions confirmed current less than DEFINITIONS_TRUSTED_MS ago are used as they are;
    // older ones are confirmed by reading the revision beside the holds.
    let partition: BudgetPartition | undefined;
    let kept = definitionsCache.get(tenantId, nowMs);
    const confirm = kept !== undefined && nowMs - kept.checkedAt >= DEFINITIONS_TRUSTED_MS;
    if (!kept) ({ partition, kept } = await loadPartition(tenantId));
    let plan = planOf(kept.definitions);
    let holdId = newHoldId();
    const [claim, snapshot, ...holdResults] = await Promise.allSettled([
      writeReservation(db, tenantId, recordOf(holdId, plan), { claimAt: nowMs }),
      confirm
        ? readKeptCounters(
            tenantId,
            kept,
            plan.map((hold) => periodTargets(hold.definition, at)[1] as CounterTarget),
          ).then((counters) => ({ stale: counters === undefined }))
        : Promise.resolve({ stale: false }),
      ...plan.map((hold) => take(holdId, hold)),
    ]);
    let taken = settledValues(holdResults);
    const failure = firstFailure([claim, snapshot, ...holdResults]);
    if (failure) await giveUp(holdId, plan, claim.status === 'fulfilled' && claim.value, failure.reason);
    if (claim.status === 'fulfilled' && !claim.value) {
      // A retry (or a twin racing in): the first call owns the reservation.
      await giveBack(holdId, plan);
      return answerOfReservation(tenantId, reservationId, fingerprint);
    }
    // The previous periods' counters (for the `resolved` state) as this instance last read them.
    let previousCounters = partition?.counters ?? kept.counters;
    if (snapshot.status === 'fulfilled' && snapshot.value.stale) {
      // A budget changed since this instance read the definitions: start over from a fresh read,
      // under the same claim.
      await giveBack(holdId, plan);
      ({ partition } = await loadPartition(tenantId));
      previousCounters = partition.counters;
      const staleHoldId = holdId;
      holdId = newHoldId();
      plan = planOf(partition.definitions);
      if (!(await writeReservation(db, tenantId, recordOf(holdId, plan), { holdId: staleHoldId }))) {
        return answerOfReservation(tenantId, reservationId, fingerprint);
      }
      const retaken = await Promise.allSettled(plan.map((hold) => take(holdId, hold)));
      taken = settledValues(retaken);
      const retakeFailure = firstFailure(retaken);
      if (retakeFailure) await giveUp(holdId, plan, true, retakeFailure.reason);
    }

    // A refusal may come from holds that expired and were not swept yet, from a racing retry
    // of this call that is giving its holds back, or from a counter that does not exist yet (the
    // period's first hold): sweep the first, wait for the second, create the third, try again.
    let counters: BudgetPartition['counters'] | undefined;
    for (let round = 0; round < 25 && taken.some((counter) => !counter); round++) {
      counters = (
        await readCounters(
          db,
          tenantId,
          plan.map((hold) => hold.target),
        )
      ).counters;
      /** Expired holds swept, missing counters created: each a reason to try again. */
      const repairs: Promise<unknown>[] = [];
      let twins = false;
      let roomNow = false;
      /** A budget whose counter holds as many live holds as it takes. */
      let full: string | undefined;
      for (const [index, hold] of plan.entries()) {
        if (taken[index]) continue;
        const counter = counters.get(hold.definition.id)?.get(hold.target.periodStart);
        if (!counter) {
          repairs.push(ensureCounter(db, tenantId, hold.target));
          continue;
        }
        if (counter.reservations.some((other) => other.id === holdId)) {
          // This attempt's own hold: taken, its answer lost and the SDK's retry refused by it.
          taken[index] = counter;
          continue;
        }
        const expired = counter.reservations.filter((other) => other.expiresAt <= nowMs).length;
        if (expired > 0) repairs.push(releaseExpiredHolds(tenantId, counter, nowMs));
        if (counter.holdCount === undefined) {
          // Written before holds compared `used` and the hold count, it refuses them all: it gets
          // them, counting the holds it carries.
          repairs.push(ensureCounter(db, tenantId, hold.target, counter.reservations.length));
        } else if (counter.holdCount - expired >= MAX_HOLDS_PER_COUNTER) {
          // As many live holds as a counter takes: nothing frees one but their owners.
          full ??= hold.definition.id;
        }
        twins ||= counter.reservations.some(
          (other) =>
            other.expiresAt > nowMs && other.id.startsWith(`${reservationId}~`) && other.id !== holdId,
        );
        // The hold fits the counter as it is now: it was refused by a counter created since, or
        // by holds given back since.
        const max = hold.maxUsed;
        if (
          !max ||
          (max.strict ? counter.used.lessThan(max.value) : counter.used.lessThanOrEqualTo(max.value))
        )
          roomNow = true;
      }
      if (full !== undefined) {
        await Promise.allSettled(repairs);
        await giveUp(holdId, plan, true, new CounterFullError(full));
      }
      if (repairs.length === 0 && !twins && !roomNow) break;
      await Promise.all(repairs);
      if (twins) await sleep(10);
      const again = await Promise.allSettled(plan.map((hold, index) => taken[index] ?? take(holdId, hold)));
      const againFailure = firstFailure(again);
      if (againFailure) await giveUp(holdId, plan, true, againFailure.reason);
      taken = settledValues(again);
    }

    if (taken.every(Boolean)) {
      // A call this slow may have been taken for stopped by a retry, which then gave back its
      // holds and claimed the id afresh: it confirms its claim, and if the claim is no longer
      // its own, gives back the holds it took late and answers as the retry's first call.
      if (
        now().getTime() - nowMs >= LATE_AFTER_MS &&
        !(await confirmReservation(db, tenantId, reservationId, holdId))
      ) {
        await giveBack(holdId, plan);
        return undefined;
      }
      const budgets = plan.map((hold, index) => {
        const current = taken[index] as CounterRecord;
        const perBudget = new Map(previousCounters.get(hold.definition.id) ?? []);
        perBudget.set(current.periodStart, current);
        return {
          definition: hold.definition,
          counters: perBudget,
          used: usedOf(current, nowMs, reservationId, holdId),
          estimate: ZERO,
        };
      });
      return authorizationAnswer({
        at,
        model: request.model,
        reservation: { id: reservationId, expiresAt, reserved },
        budgets,
        admitted: true,
      });
    }

    await giveBack(holdId, plan);
    const seen = counters ?? new Map<string, Map<string, CounterRecord>>();
    const blockedAnswer = authorizationAnswer({
      at,
      model: request.model,
      reservation: { id: reservationId, expiresAt, reserved },
      budgets: plan.map((hold, index) => {
        const perBudget = new Map(previousCounters.get(hold.definition.id) ?? []);
        const current = seen.get(hold.definition.id)?.get(hold.target.periodStart);
        if (current) perBudget.set(current.periodStart, current);
        return {
          definition: hold.definition,
          counters: perBudget,
          used: usedOf(current, nowMs, reservationId),
          estimate: hold.amount,
          refused: !taken[index],
        };
      }),
      admitted: false,
    });
    // Not this attempt's any more (a retry cleared it as stopped and claimed the id): answer
    // as that retry's first call.
    if (!(await moveReservation(db, tenantId, reservationId, ['reserved'], 'blocked', blockedAnswer, holdId)))
      return undefined;
    return blockedAnswer;
  }

  /**
   * After a create that took a slot failed: the slot goes back unless the definition was stored
   * (only raising the set's revision failed, and a rerun answers that budget). When that cannot
   * be told, or the give-back fails, the slot stays counted: a count too high is corrected by
   * the recount at the cap, one too low would let the cap be passed.
   */
  async function giveBackSlotUnlessStored(tenantId: string, definition: BudgetDefinition) {
    try {
      if (!(await isBudgetDefinitionStored(db, tenantId, definition)))
        await releaseBudgetSlot(db, tenantId, now().getTime());
    } catch (error) {
      options.logger?.warn(
        { err: error, tenant_id: tenantId, budget_id: definition.id },
        'budget slot not given back; the recount at the cap will',
      );
    }
  }

  return {
    /**
     * Creates a budget. With `run` (a request under an Idempotency-Key) its id is drawn from the
     * run's seed, so a rerun of a request whose answer was not kept finds the budget it created.
     */
    async create(tenantId: string, body: CreateBudget, run?: RunSeed): Promise<Budget> {
      const at = now();
      const partition = await loadBudgetPartition(db, tenantId);
      const id = run
        ? seededId('bud', run.firstRunAt, `${tenantId} ${run.seed}`)
        : newId('bud', at.getTime());
      const earlier = partition.definitions.find((definition) => definition.id === id);
      if (earlier) {
        // An earlier run stored it and may have stopped before raising the set's revision. Its
        // slot was taken by that run: this one takes none.
        await bumpBudgetSet(db, tenantId);
        definitionsCache.delete(tenantId);
        return toBudget(earlier, partition, at);
      }
      // Full as read: refused without touching the count (which decides among racing creations).
      if (partition.definitions.length >= MAX_BUDGETS_PER_TENANT) throw budgetLimitReached();
      // Taken before the definition is written, so that concurrent creations never pass the cap.
      if (!(await takeBudgetSlot(db, tenantId, MAX_BUDGETS_PER_TENANT, at.getTime())))
        throw budgetLimitReached();
      const definition: BudgetDefinition = {
        id,
        name: body.name,
        scope: body.scope,
        period: body.period,
        ...(body.period === 'week' ? { week_start: body.week_start ?? 'monday' } : {}),
        timezone: body.timezone,
        limit: body.limit,
        thresholds: [...body.thresholds].sort((a, b) => a - b),
        forecast_alert: body.forecast_alert,
        actions: body.actions,
        revision: 1,
        created_at: at.toISOString(),
        updated_at: at.toISOString(),
      };
      let stored: boolean;
      try {
        stored = await putBudgetDefinition(db, tenantId, definition);
      } catch (error) {
        await giveBackSlotUnlessStored(tenantId, definition);
        throw error;
      }
      // Refused only when a run of the same request stored it since the partition was read: that
      // run took a slot of its own for it.
      if (!stored) {
        await releaseBudgetSlot(db, tenantId, now().getTime());
        throw new ConflictError('This request is being run by another call; retry.', 'CONFLICT');
      }
      definitionsCache.delete(tenantId);
      return toBudget(definition, partition, at);
    },

    async list(tenantId: string, page: PageRequest, restrict?: Restrict | null): Promise<Page<Budget>> {
      const at = now();
      const partition = await loadBudgetPartition(db, tenantId);
      let visible = partition.definitions.filter(visibleTo(restrict)).sort((a, b) => (a.id < b.id ? -1 : 1));
      if (page.cursor) {
        const partitionKey = keys.budgetsPartition(tenantId);
        const after =
          decodeCursor(page.cursor, {
            attributes: ['pk', 'sk'],
            partitionAttribute: 'pk',
            partition: partitionKey,
            sortAttribute: 'sk',
            sortKeyPrefix: keys.budget(tenantId, '').sk,
          }).sk ?? '';
        visible = visible.filter((definition) => keys.budget(tenantId, definition.id).sk > after);
      }
      const data = visible.slice(0, page.limit);
      const last = data[data.length - 1];
      return {
        data: data.map((definition) => toBudget(definition, partition, at)),
        next_cursor:
          visible.length > page.limit && last ? encodeCursor(keys.budget(tenantId, last.id)) : null,
      };
    },

    /**
     * The budgets as a forest: a budget's parent is the budget with the largest scope strictly
     * inside its own (tenant-wide ⊂ feature ⊂ feature+customer). Each node rolls up what its direct
     * children of the same unit spent and were allotted, each in its own current period.
     */
    async tree(tenantId: string, restrict?: Restrict | null) {
      const at = now();
      const partition = await loadBudgetPartition(db, tenantId);
      const visible = partition.definitions
        .filter(visibleTo(restrict))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      const contains = (outer: BudgetDefinition, inner: BudgetDefinition) => {
        const outerPairs = Object.entries(outer.scope);
        return (
          outerPairs.length < Object.keys(inner.scope).length &&
          outerPairs.every(([key, value]) => inner.scope[key] === value)
        );
      };
      const parentOf = new Map<string, string>();
      for (const budget of visible) {
        let parent: BudgetDefinition | undefined;
        for (const candidate of visible) {
          if (candidate.id === budget.id || !contains(candidate, budget)) continue;
          if (!parent || Object.keys(candidate.scope).length > Object.keys(parent.scope).length)
            parent = candidate;
        }
        if (parent) parentOf.set(budget.id, parent.id);
      }
      interface Node {
        budget: Budget;
        rollup: {
          unit: 'usd' | 'tokens';
          children: number;
          children_spent: string | number;
          children_limit: string | number;
        };
        children: Node[];
      }
      const build = (definition: BudgetDefinition): Node => {
        const children = visible.filter((child) => parentOf.get(child.id) === definition.id).map(build);
        const unit = unitOf(definition);
        let spent = ZERO;
        let allotted = ZERO;
        let counted = 0;
        for (const child of children) {
          const childDefinition = visible.find((d) => d.id === child.budget.id) as BudgetDefinition;
          // Only children that count the same thing over the same stretch of time add up: a daily
          // child's limit or a child's month in another zone is not part of this budget's month.
          if (unitOf(childDefinition) !== unit || !samePeriods(childDefinition, definition)) continue;
          counted++;
          spent = spent.plus(parseDecimal(String(child.budget.status.spent)));
          allotted = allotted.plus(limitOf(childDefinition));
        }
        return {
          budget: toBudget(definition, partition, at),
          rollup: {
            unit,
            children: counted,
            children_spent: formatAmount(unit, spent),
            children_limit: formatAmount(unit, allotted),
          },
          children,
        };
      };
      return { data: visible.filter((budget) => !parentOf.has(budget.id)).map(build) };
    },

    async get(tenantId: string, budgetId: string, restrict?: Restrict | null): Promise<Budget> {
      const { definition, partition } = await findVisible(tenantId, budgetId, restrict);
      return toBudget(definition, partition, now());
    },

    /**
     * Changes a budget. A new limit takes effect for the current period at once (counters hold
     * what was spent, not what is left); it starts a new revision, so a raised limit resolves the
     * alerts of the old one and later crossings alert again.
     */
    async update(tenantId: string, budgetId: string, body: UpdateBudget): Promise<Budget> {
      for (let attempt = 0; attempt < 5; attempt++) {
        const { definition } = await findVisible(tenantId, budgetId, null);
        if (body.limit && 'tokens' in body.limit !== 'tokens' in definition.limit) {
          throw new ValidationError(
            'A budget keeps its unit: create another budget to count the other one.',
            [
              {
                path: 'limit',
                message: `must be in ${'tokens' in definition.limit ? 'tokens' : 'USD'} like the budget`,
              },
            ],
          );
        }
        const thresholds = body.thresholds
          ? [...body.thresholds].sort((a, b) => a - b)
          : definition.thresholds;
        const actions = body.actions ?? definition.actions;
        const orphan = Object.keys(actions).find((key) => !thresholds.includes(Number(key)));
        if (orphan) {
          throw new ValidationError('Every action must name one of the thresholds.', [
            { path: `actions.${orphan}`, message: `${orphan} is not one of the thresholds` },
          ]);
        }
        const limitChanged =
          body.limit !== undefined &&
          !limitOf({ ...definition, limit: body.limit }).equals(limitOf(definition));
        const at = now();
        const next: BudgetDefinition = {
          ...definition,
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.limit !== undefined ? { limit: body.limit } : {}),
          ...(body.forecast_alert !== undefined ? { forecast_alert: body.forecast_alert } : {}),
          thresholds,
          actions,
          revision: definition.revision + (limitChanged ? 1 : 0),
          updated_at:
            at.toISOString() > definition.updated_at
              ? at.toISOString()
              : new Date(Date.parse(definition.updated_at) + 1).toISOString(),
        };
        if (!(await putBudgetDefinition(db, tenantId, next, definition.updated_at))) continue;
        definitionsCache.delete(tenantId);
        const partition = await loadBudgetPartition(db, tenantId);
        if (limitChanged) await evaluate(tenantId, [next], partition.counters, at, true);
        const fresh = await loadBudgetPartition(db, tenantId);
        return toBudget(next, fresh, at);
      }
      throw new ConflictError('The budget kept changing; retry.', 'CONFLICT');
    },

    async remove(tenantId: string, budgetId: string): Promise<void> {
      // After the delete, as create and update do: a request racing it cannot put the old
      // definitions back into this instance's copy.
      const deleted = await deleteBudgetItems(db, tenantId, budgetId, now().getTime()).finally(() =>
        definitionsCache.delete(tenantId),
      );
      if (!deleted) {
        throw new NotFoundError(`No budget ${budgetId}.`, 'BUDGET_NOT_FOUND');
      }
    },

    /** Budget states for the KPI summary. */
    async states(tenantId: string) {
      const at = now();
      const partition = await loadBudgetPartition(db, tenantId);
      return partition.definitions
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .map((definition) => {
          const status = statusOf(definition, partition.counters.get(definition.id), at);
          return {
            id: definition.id,
            name: definition.name,
            scope: definition.scope,
            state: status.state,
            unit: status.unit,
            spent: status.spent,
            limit: formatAmount(status.unit, limitOf(definition)),
            utilization_pct: status.utilization_pct,
            forecast: status.forecast,
            period_end: status.period_end,
          };
        });
    },

    /**
     * The decision for one call, from consistent reads of the matching budgets' counters: every
     * usage event acknowledged before the call is in them. The definitions are this instance's
     * copy, checked against the set's revision in the same read.
     */
    async check(tenantId: string, request: CheckRequest): Promise<CheckResult> {
      const at = now();
      const subject: Subject = {
        dimensions: request.dimensions,
        model: request.model,
        provider: request.provider,
      };
      const estimateTokens = request.estimated_tokens ?? 0;
      const [view, price] = await Promise.all([
        viewFor(tenantId, subject, at),
        estimateTokens > 0
          ? priceOf(tenantId, request.provider, request.model, at)
          : Promise.resolve(undefined),
      ]);
      const estimatedCost = price
        ? computeCost({ ...emptyUsage(), output_tokens: estimateTokens }, price, 'standard').cost
        : ZERO;
      const budgets: CheckResult['budgets'] = [];
      let model = request.model;
      for (const definition of view.matching) {
        const counters = view.counters.get(definition.id);
        const { current } = windowsOf(definition, at);
        const counter = counters?.get(current.start.toISOString());
        const used = usedOf(counter, at.getTime());
        const unit = unitOf(definition);
        const estimate = unit === 'usd' ? estimatedCost : parseDecimal(String(estimateTokens));
        const outcome = decideBudget(definition, used, estimate, request.model);
        if (outcome.model && model === request.model) model = outcome.model;
        budgets.push({
          id: definition.id,
          name: definition.name,
          state: stateOf(definition, counters, at),
          decision: outcome.decision,
          remaining: formatAmount(unit, atLeastZero(limitOf(definition).minus(used))),
        });
      }
      const decision = strictest(budgets.map((b) => b.decision));
      return {
        decision,
        model:
          decision === 'downgrade' || decision === 'throttle' || decision === 'warn' ? model : request.model,
        budgets,
      };
    },

    /**
     * Reserves the worst case of a call against every matching budget (see authorizeOnce). A retry
     * whose first call failed, or stopped part-way, finds the id free again and claims it.
     */
    async authorize(tenantId: string, request: AuthorizeRequest): Promise<AuthorizeResult> {
      for (let attempt = 0; attempt < 3; attempt++) {
        let answer: AuthorizeResult | undefined;
        try {
          answer = await authorizeOnce(tenantId, request);
        } catch (error) {
          if (error instanceof CounterFullError) throw new TooManyReservationsError(error.budgetId);
          throw error;
        }
        if (answer) return answer;
      }
      throw new ConflictError(
        'Other calls with this authorization id keep claiming it and giving it up; retry.',
        'CONFLICT',
      );
    },

    /** Releases a reservation (idempotent). */
    async release(tenantId: string, reservationId: string): Promise<void> {
      const moved = await moveReservationReturning(db, tenantId, reservationId, ['reserved'], 'released');
      const record = moved ?? (await getReservation(db, tenantId, reservationId));
      if (!record) throw new NotFoundError(`No reservation ${reservationId}.`, 'RESERVATION_NOT_FOUND');
      // Whatever the state, a hold still on a counter goes back (a crash may have left one).
      if (record.state !== 'blocked') await releaseHolds(tenantId, record);
    },

    /** Called by ingestion before it stores events: which budgets each event matches. */
    async planUsage(tenantId: string): Promise<UsageBudgetPlan> {
      const plannedAt = now().getTime();
      const partition = await loadBudgetPartition(db, tenantId);
      const batchId = newId('run');
      return {
        batchId,
        plannedAt,
        definitions: partition.definitions,
        attributesFor(subject, reservationId) {
          const matched = partition.definitions.filter((d) => matches(d.scope, subject)).map((d) => d.id);
          if (matched.length === 0 && !reservationId) return {};
          return { bj: batchId, ...(matched.length > 0 ? { bud: matched } : {}) };
        },
      };
    },

    /**
     * Called by ingestion after it stored events: applies them, records the batch applied, and
     * tells about thresholds they crossed. A failure here is logged, not answered: the rollup
     * finishes a batch that was not recorded applied, and the counters' marks keep it from adding
     * what was added already. Answers what became of the reservations the events name, per id;
     * undefined when the events were not applied here (the rollup settles them).
     */
    async applyUsage(
      tenantId: string,
      plan: UsageBudgetPlan,
      events: StoredUsage[],
    ): Promise<Map<string, Settlement> | undefined> {
      const relevant = events.filter((event) => event.bj === plan.batchId);
      if (relevant.length === 0) return new Map();
      const at = now();
      /** Known once the events were applied: a later failure (recording, evaluating) does not undo them. */
      let settlements: Map<string, Settlement> | undefined;
      try {
        const applied = await applyEvents(
          tenantId,
          plan.definitions,
          { id: plan.batchId, events: relevant },
          at,
        );
        const { updated, marked } = applied;
        settlements = applied.settlements;
        // Recorded with the time of recording: the sweep's horizon counts from it.
        await markBatchApplied(db, tenantId, plan.batchId, 'ingest', now());
        // Recorded applied well before the rollup may look at these events: no one else can be
        // applying the batch, so its marks go with this instance's next spend on each counter.
        const safeMs = (options.rollupLagMs ?? 0) - MARK_CLEAR_MARGIN_MS;
        if (now().getTime() - plan.plannedAt < safeMs) {
          for (const target of marked) {
            const key = counterKey(tenantId, target);
            clearableMarks.set(key, (clearableMarks.get(key) ?? new Set()).add(plan.batchId));
          }
          // Bounded: the marks of counters dropped here are cleared by the rollup's sweep.
          for (const key of clearableMarks.keys()) {
            if (clearableMarks.size <= MAX_COUNTERS_WITH_CLEARABLE_MARKS) break;
            clearableMarks.delete(key);
          }
        }
        const touched = plan.definitions.filter((d) => updated.has(d.id));
        await evaluate(tenantId, touched, updated, at, true);
      } catch (error) {
        options.logger?.error(
          { err: error, tenant_id: tenantId },
          'budget counters not updated; the rollup will',
        );
      }
      return settlements;
    },

    /**
     * Part of the kpi-rollup's window, before it is recorded done: finishes the usage batches of
     * `rolledUp` that ingestion stored but did not record applied (a crash or a failure between
     * the two). Answers how many events it applied. A failure leaves the window to the next run.
     */
    async finishBatches(tenantId: string, rolledUp: StoredUsage[]): Promise<number> {
      const at = now();
      let repaired = 0;
      const pending = rolledUp.filter((event) => event.bj);
      if (pending.length > 0) {
        const batches = [...new Set(pending.map((event) => event.bj as string))];
        const applied = await appliedBatches(db, tenantId, batches);
        const missing = batches.filter((batch) => !applied.has(batch));
        if (missing.length > 0) {
          const { definitions } = await loadBudgetPartition(db, tenantId);
          for (const batch of missing) {
            const events = pending.filter((event) => event.bj === batch);
            // Counters the batch reached before ingestion stopped carry its mark and take nothing;
            // the marks stay until the sweep below finds the batch applied long enough ago.
            await applyEvents(tenantId, definitions, { id: batch, events }, at);
            await markBatchApplied(db, tenantId, batch, 'rollup', now());
            repaired += events.length;
          }
        }
      }
      return repaired;
    },

    /**
     * The kpi-rollup job's per-tenant step after its window: releases expired reservations,
     * clears batch marks no one can need any more, drops counters of periods before the previous
     * one, and records the notices due (new periods resolve old alerts).
     */
    async runTenantStep(tenantId: string) {
      const at = now();
      let swept = 0;
      const partition = await loadBudgetPartition(db, tenantId);
      await sweepBatchMarks(tenantId, partition, at);
      const definitions = new Map(partition.definitions.map((d) => [d.id, d]));
      for (const [budgetId, perPeriod] of partition.counters) {
        const definition = definitions.get(budgetId);
        for (const counter of perPeriod.values()) {
          if (!definition || counter.periodStart < previousPeriod(definition, at).start.toISOString()) {
            await deleteCounter(db, tenantId, counter);
            perPeriod.delete(counter.periodStart);
            continue;
          }
          const released = await releaseExpiredHolds(tenantId, counter, at.getTime());
          swept += released;
          // Each release moved the count with its hold: both are `released` lower than read.
          await correctHoldCount(
            db,
            tenantId,
            counter,
            counter.holdCount === undefined ? undefined : counter.holdCount - released,
            counter.reservations.length - released,
          );
        }
      }
      const notices = await evaluate(tenantId, partition.definitions, partition.counters, at, false);
      return { swept, notices };
    },
  };
}

/**
 * What an authorization asks, hashed: its parsed body (defaults applied, so a retry that spells
 * out a default asks the same) with dimension pairs in key order.
 */
function authorizationFingerprint(request: AuthorizeRequest): string {
  const dimensions = Object.fromEntries(
    Object.entries(request.dimensions).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  const asked = [
    request.id,
    dimensions,
    request.model,
    request.provider ?? null,
    request.estimated_input_tokens,
    request.max_output_tokens ?? null,
    request.estimated_cost ?? null,
    request.ttl_seconds,
  ];
  return requestFingerprint('POST', '/v1/enforcement/authorize', JSON.stringify(asked));
}

/** True when two budgets' periods are the same windows: same kind, week start and zone. */
function samePeriods(a: BudgetDefinition, b: BudgetDefinition): boolean {
  return (
    a.period === b.period &&
    (a.week_start ?? 'monday') === (b.week_start ?? 'monday') &&
    // An older name of the same zone (a budget stored before names were kept as IANA's) is the same zone.
    canonicalTimeZone(a.timezone) === canonicalTimeZone(b.timezone)
  );
}

function atLeastZero(value: Decimal): Decimal {
  return value.isNegative() ? ZERO : value;
}

export type BudgetService = ReturnType<typeof createBudgetService>;
