import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  NumberValue,
  PutCommand,
  paginateQuery,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { batchGetAll } from '../db/batch-get.js';
import {
  type CappedCount,
  markCountedSlotReleased,
  releaseCountedSlot,
  takeCountedSlot,
} from '../db/capped-count.js';
import type { Db } from '../db/client.js';
import { deleted, storedItemIs, succeeded, succeededOrOwn } from '../db/conditional.js';
import { keys } from '../db/keys.js';
import { Decimal, parseDecimal, toDecimalString, ZERO } from '../money/money.js';
import type { BudgetDefinition } from './schema.js';

/**
 * The budget store. Counters hold exact numbers (DynamoDB adds decimals exactly, 38 digits) and
 * are read through `exactClient`, so no float ever touches money. A counter keeps:
 * - `spent`: usage applied to the period; `reserved`: live and not-yet-swept reservations;
 * - `used` = spent + reserved, kept by the same UpdateItem that changes either, so that an
 *   authorization's condition `used <= :max` needs no arithmetic in the engine;
 * - one attribute `r_<reservation id>` = {a: amount, x: expiry in epoch ms} per reservation, which
 *   makes taking and giving back a reservation idempotent (conditional on the attribute);
 * - one attribute `b_<usage batch id>` = when its spend was added, per usage batch applied lately,
 *   which makes adding a batch's spend idempotent (conditional on the attribute): a write the SDK
 *   retried after its answer was lost, or a batch the rollup finishes after ingestion stopped
 *   part-way, adds nothing twice. Cleared once no one can apply that batch again;
 * - `fired`: the notices already recorded for the period (so evaluation does not re-try them).
 */
export interface CounterRecord {
  budgetId: string;
  periodStart: string;
  periodEnd: string;
  spent: Decimal;
  used: Decimal;
  reservations: { id: string; amount: Decimal; expiresAt: number }[];
  /** Usage batches whose spend is on the counter and whose mark is not cleared yet. */
  batches: { id: string; addedAt: number }[];
  fired: Set<string>;
  /**
   * How many holds the counter carries, kept beside them by every write that adds or removes
   * one (see MAX_HOLDS_PER_COUNTER); undefined on a counter written before it was kept.
   */
  holdCount: number | undefined;
}

export interface BudgetPartition {
  /** The revision of the set of definitions (0 before the first change). */
  revision: number;
  definitions: BudgetDefinition[];
  /** Per budget, its counters by period start. */
  counters: Map<string, Map<string, CounterRecord>>;
}

const RESERVATION_ATTRIBUTE = 'r_';
const BATCH_ATTRIBUTE = 'b_';
/** The counter attribute that counts its holds. */
const HOLD_COUNT_ATTRIBUTE = 'nh';

/**
 * The most holds a counter takes. Each is an attribute of about 75 bytes, and DynamoDB refuses
 * to grow an item past 400 KB: a counter filled with holds had no room left for the mark a usage
 * write adds, so usage on it was never counted. 4,000 holds take about 300 KB, and the rest is
 * left to usage batches' marks and the counter's own figures. A hold past it is refused
 * (`TOO_MANY_RESERVATIONS`) by the hold's own condition.
 */
export const MAX_HOLDS_PER_COUNTER = 4_000;
const COUNTER_RETENTION_MS = 2 * 24 * 3600 * 1000;

/**
 * Decimal places of the amounts counters hold (1e-20 USD). DynamoDB keeps 38 significant digits
 * and refuses a number with more; costs are exact to 50 (a negotiated discount of many digits
 * makes them so). Rounded here, every amount and every sum of them below 1e18 fits, at a
 * precision no answer shows (8 places). Holds and their releases round the same way, so a
 * release still finds its hold's amount.
 */
export const COUNTER_DECIMAL_PLACES = 20;

const number = (value: Decimal) =>
  NumberValue.from(toDecimalString(value.toDecimalPlaces(COUNTER_DECIMAL_PLACES, Decimal.ROUND_HALF_EVEN)));

function toCounter(item: Record<string, unknown>): CounterRecord {
  const reservations: CounterRecord['reservations'] = [];
  const batches: CounterRecord['batches'] = [];
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(BATCH_ATTRIBUTE)) {
      batches.push({ id: name.slice(BATCH_ATTRIBUTE.length), addedAt: Number(value) });
      continue;
    }
    if (!name.startsWith(RESERVATION_ATTRIBUTE)) continue;
    const entry = value as { a: string; x: string };
    reservations.push({
      id: name.slice(RESERVATION_ATTRIBUTE.length),
      amount: parseDecimal(entry.a),
      expiresAt: Number(entry.x),
    });
  }
  return {
    budgetId: item.bid as string,
    periodStart: item.ps as string,
    periodEnd: item.pe as string,
    spent: item.spent === undefined ? ZERO : parseDecimal(item.spent as string),
    used: item.used === undefined ? ZERO : parseDecimal(item.used as string),
    reservations,
    batches,
    fired: new Set((item.fired as Set<string> | undefined) ?? []),
    holdCount: item[HOLD_COUNT_ATTRIBUTE] === undefined ? undefined : Number(item[HOLD_COUNT_ATTRIBUTE]),
  };
}

/** Every definition and counter of the tenant's budgets, in one consistent read (paged if large). */
export async function loadBudgetPartition(db: Db, tenantId: string): Promise<BudgetPartition> {
  const definitions: BudgetDefinition[] = [];
  const counters = new Map<string, Map<string, CounterRecord>>();
  let revision = 0;
  for await (const page of paginateQuery(
    { client: db.exactClient },
    {
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.budgetsPartition(tenantId) },
      ConsistentRead: true,
    },
  )) {
    for (const item of page.Items ?? []) {
      if (item.entity === 'budget') definitions.push(JSON.parse(item.doc as string) as BudgetDefinition);
      else if (item.entity === 'budget_counter') addCounter(counters, toCounter(item));
      else if (item.entity === 'budget_set') revision = Number(String(item.rev));
    }
  }
  return { revision, definitions, counters };
}

function addCounter(counters: BudgetPartition['counters'], counter: CounterRecord) {
  const perBudget = counters.get(counter.budgetId) ?? new Map<string, CounterRecord>();
  perBudget.set(counter.periodStart, counter);
  counters.set(counter.budgetId, perBudget);
}

/**
 * The revision of the tenant's budget definitions and the named counters, in one consistent
 * BatchGetItem: what an instance that keeps the definitions needs to decide from them.
 */
export async function readCounters(
  db: Db,
  tenantId: string,
  targets: { budgetId: string; periodStart: string }[],
): Promise<{ revision: number; counters: BudgetPartition['counters'] }> {
  const items = await batchGetAll(
    db,
    [
      keys.budgetSet(tenantId),
      ...targets.map((t) => keys.budgetCounter(tenantId, t.budgetId, t.periodStart)),
    ],
    { exact: true },
  );
  const counters: BudgetPartition['counters'] = new Map();
  let revision = 0;
  for (const item of items) {
    if (item.entity === 'budget_counter') addCounter(counters, toCounter(item));
    else if (item.entity === 'budget_set') revision = Number(String(item.rev));
  }
  return { revision, counters };
}

/**
 * Raises the revision of the tenant's budget definitions. Called after each change to one is
 * stored: an instance that read the old revision then reads the definitions again.
 */
export async function bumpBudgetSet(db: Db, tenantId: string): Promise<void> {
  await db.client.send(
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.budgetSet(tenantId),
      UpdateExpression: 'SET entity = :entity ADD rev :one',
      ExpressionAttributeValues: { ':entity': 'budget_set', ':one': 1 },
    }),
  );
}

/**
 * Writes a definition; `expectedUpdatedAt` makes it a compare-and-set on the stored one. The set's
 * revision is raised after the write, so whoever reads the new revision reads this definition.
 */
export async function putBudgetDefinition(
  db: Db,
  tenantId: string,
  definition: BudgetDefinition,
  expectedUpdatedAt?: string,
): Promise<boolean> {
  const key = keys.budget(tenantId, definition.id);
  const doc = JSON.stringify(definition);
  // The SDK's retry of a write whose answer was lost meets the write itself: still stored, and
  // the revision is still raised (else other instances would miss the change until their copy
  // expires).
  const stored = await succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: { ...key, entity: 'budget', updated: definition.updated_at, doc },
        ...(expectedUpdatedAt === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : {
              ConditionExpression: 'attribute_exists(pk) AND #u = :u',
              ExpressionAttributeNames: { '#u': 'updated' },
              ExpressionAttributeValues: { ':u': expectedUpdatedAt },
            }),
      }),
    ),
    storedItemIs(db, key, (item) => item.doc === doc),
  );
  if (stored) await bumpBudgetSet(db, tenantId);
  return stored;
}

/**
 * Deletes a budget: its definition, then its counters. Its slot under the cap goes back, once,
 * before the counters are deleted: a failure there (the rollup drops counters without a
 * definition) then leaves no slot counted for a budget that is gone.
 */
export async function deleteBudgetItems(
  db: Db,
  tenantId: string,
  budgetId: string,
  nowMs: number,
): Promise<boolean> {
  const budgetDeleted = await deleted(
    db.client.send(
      new DeleteCommand({
        TableName: db.tableName,
        Key: keys.budget(tenantId, budgetId),
        ConditionExpression: 'attribute_exists(pk)',
      }),
    ),
  );
  if (!budgetDeleted) return false;
  await bumpBudgetSet(db, tenantId);
  // Two deletes of one budget can both count as done (see `deleted()`): the mark gives one back.
  const releasedMark = keys.budgetSlotReleased(tenantId, budgetId);
  if (await markCountedSlotReleased(db, releasedMark, 'budget_slot_released', nowMs))
    await releaseBudgetSlot(db, tenantId, nowMs);
  const { Items = [] } = await db.client.send(
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: {
        ':pk': keys.budgetsPartition(tenantId),
        ':prefix': `${keys.budget(tenantId, budgetId).sk}#`,
      },
      ProjectionExpression: 'pk, sk',
    }),
  );
  for (const item of Items) {
    await db.client.send(new DeleteCommand({ TableName: db.tableName, Key: { pk: item.pk, sk: item.sk } }));
  }
  return true;
}

/** Whether `definition`, exactly as given, is stored: a create that failed part-way asks. */
export function isBudgetDefinitionStored(
  db: Db,
  tenantId: string,
  definition: BudgetDefinition,
): Promise<boolean> {
  const doc = JSON.stringify(definition);
  return storedItemIs(db, keys.budget(tenantId, definition.id), (item) => item.doc === doc)();
}

/**
 * The tenant's budget count: the conditional counter behind the budget cap (see
 * shared/db/capped-count.ts). A tenant whose budgets predate it gets one counted from them.
 */
function budgetCount(db: Db, tenantId: string): CappedCount {
  return {
    key: keys.budgetCount(tenantId),
    entity: 'budget_count',
    countAttribute: 'budget_count',
    initialAttributes: { tenant_id: tenantId },
    // The partition's consistent read, as every create makes: only the first count and a recount at the cap ask.
    countStored: async () => (await loadBudgetPartition(db, tenantId)).definitions.length,
  };
}

/**
 * Takes one of the tenant's `max` budget slots, before its definition is written; false when
 * every slot is taken. Concurrent creations never pass the cap, the SDK's retry of a change whose
 * answer was lost counts once, and a slot left by a creation that stopped before writing is
 * recounted at the cap once the count has been still for a minute (see takeCountedSlot).
 */
export function takeBudgetSlot(db: Db, tenantId: string, max: number, nowMs: number): Promise<boolean> {
  return takeCountedSlot(db, budgetCount(db, tenantId), max, nowMs);
}

/** Gives a slot back: a budget deleted, or a creation that took one and did not store its budget. */
export function releaseBudgetSlot(db: Db, tenantId: string, nowMs: number): Promise<void> {
  return releaseCountedSlot(db, budgetCount(db, tenantId), nowMs);
}

export interface CounterTarget {
  budgetId: string;
  periodStart: string;
  periodEnd: string;
}

/** The attributes every counter write (re)states: an UpdateItem creates the counter when missing. */
function counterIdentity(target: CounterTarget) {
  return {
    set: 'bid = :bid, ps = :ps, pe = :pe, entity = :entity, expires_at_epoch = :exp',
    values: {
      ':bid': target.budgetId,
      ':ps': target.periodStart,
      ':pe': target.periodEnd,
      ':entity': 'budget_counter',
      ':exp': Math.ceil((Date.parse(target.periodEnd) + COUNTER_RETENTION_MS) / 1000),
    },
  };
}

/**
 * Adds a usage batch's spend to a counter, once per batch: usage is never refused (what was used
 * was used), but a batch whose mark is already on the counter was added before (by an attempt
 * whose answer was lost, or by the other of ingestion and the rollup). The same write removes the
 * marks in `clear` (batches no one can apply again), when it adds. Answers the counter after the
 * change, and whether this call added; the counter is undefined only if it was deleted since (a
 * period past keeping).
 */
export async function addSpend(
  db: Db,
  tenantId: string,
  target: CounterTarget,
  amount: Decimal,
  batch: { id: string; at: number },
  clear: string[] = [],
  releasing: { id: string; amount: Decimal }[] = [],
): Promise<{ counter: CounterRecord | undefined; added: boolean; released: boolean }> {
  const identity = counterIdentity(target);
  const key = keys.budgetCounter(tenantId, target.budgetId, target.periodStart);
  const cleared = clear.map((_, index) => `#c${index}`);
  const clearedNames = Object.fromEntries(
    clear.map((batchId, index) => [`#c${index}`, `${BATCH_ATTRIBUTE}${batchId}`]),
  );
  if (releasing.length > 0) {
    // The spend of settled calls and the release of their holds in one write: a reader never
    // finds a call counted twice (its spend and its hold), which would refuse calls that fit.
    // Only while every hold is still there as taken; else the two happen apart, as below.
    const held = releasing.reduce((sum, hold) => sum.plus(hold.amount), ZERO);
    const holdNames = releasing.map((_, index) => `#h${index}`);
    try {
      const { Attributes } = await db.exactClient.send(
        new UpdateCommand({
          TableName: db.tableName,
          Key: key,
          UpdateExpression: `SET ${identity.set}, #b = :at ADD spent :a, used :u, reserved :r, ${HOLD_COUNT_ATTRIBUTE} :gone REMOVE ${[...holdNames, ...cleared].join(', ')}`,
          ConditionExpression: [
            'attribute_not_exists(#b)',
            ...holdNames.map((name, index) => `${name}.a = :h${index}`),
          ].join(' AND '),
          ExpressionAttributeNames: {
            '#b': `${BATCH_ATTRIBUTE}${batch.id}`,
            ...clearedNames,
            ...Object.fromEntries(
              releasing.map((hold, index) => [`#h${index}`, `${RESERVATION_ATTRIBUTE}${hold.id}`]),
            ),
          },
          ExpressionAttributeValues: {
            ...identity.values,
            ':a': number(amount),
            ':u': number(amount.minus(held)),
            ':r': number(held.negated()),
            ':gone': -releasing.length,
            ':at': batch.at,
            ...Object.fromEntries(releasing.map((hold, index) => [`:h${index}`, number(hold.amount)])),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { counter: toCounter(Attributes ?? {}), added: true, released: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
  try {
    const { Attributes } = await db.exactClient.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        // Adding 0 to the hold count creates it at 0 on a counter this write creates.
        UpdateExpression: `SET ${identity.set}, #b = :at ADD spent :a, used :a, ${HOLD_COUNT_ATTRIBUTE} :zero${cleared.length > 0 ? ` REMOVE ${cleared.join(', ')}` : ''}`,
        ConditionExpression: 'attribute_not_exists(#b)',
        ExpressionAttributeNames: { '#b': `${BATCH_ATTRIBUTE}${batch.id}`, ...clearedNames },
        ExpressionAttributeValues: { ...identity.values, ':a': number(amount), ':at': batch.at, ':zero': 0 },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return { counter: toCounter(Attributes ?? {}), added: true, released: false };
  } catch (error) {
    // A counter written before holds were counted may be full of them: no room for the mark.
    if (isItemTooLarge(error)) throw new CounterFullError(target.budgetId);
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
  const { Item } = await db.exactClient.send(
    new GetCommand({ TableName: db.tableName, Key: key, ConsistentRead: true }),
  );
  return { counter: Item ? toCounter(Item) : undefined, added: false, released: false };
}

/**
 * Clears a usage batch's mark from a counter, once no one can apply that batch again. Conditional
 * on the mark, so a counter deleted meanwhile is not brought back as an empty item.
 */
export async function clearBatchMark(
  db: Db,
  tenantId: string,
  target: { budgetId: string; periodStart: string },
  batchId: string,
): Promise<boolean> {
  return succeeded(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.budgetCounter(tenantId, target.budgetId, target.periodStart),
        UpdateExpression: 'REMOVE #b',
        ConditionExpression: 'attribute_exists(#b)',
        ExpressionAttributeNames: { '#b': `${BATCH_ATTRIBUTE}${batchId}` },
      }),
    ),
  );
}

/**
 * Takes `amount` of a counter for a hold (`hold.id`: one attempt of a reservation). With
 * `maxUsed`, only while used ≤ maxUsed (the caller computed maxUsed = block level − amount): the
 * engine checks and adds in one step, so concurrent holds can never take together more than the
 * level. Answers the counter as it is after the hold; undefined when refused (or already taken by
 * this hold, or the counter does not exist yet: see `ensureCounter`).
 *
 * The hold does not restate the counter's identity (it only takes an existing counter): about a
 * tenth less work for the engine per authorize, which parses every expression it is sent. For the
 * same reason a blocking hold's condition has no parenthesised alternative: `used <= :max` is false
 * on a missing item or attribute, and every counter has `used` from its creation (see
 * `ensureCounter`). dynalite parses `A AND B AND (C OR D)` in about 240 µs, `B AND D` in about 50.
 */
export async function reserveOnCounter(
  db: Db,
  tenantId: string,
  target: CounterTarget,
  reservation: { id: string; amount: Decimal; expiresAt: number },
  maxUsed: { value: Decimal; strict: boolean } | undefined,
): Promise<CounterRecord | undefined> {
  const values: Record<string, unknown> = {
    ':a': number(reservation.amount),
    ':entry': { a: number(reservation.amount), x: reservation.expiresAt },
    ':one': 1,
    ':cap': MAX_HOLDS_PER_COUNTER,
  };
  // The hold count's comparison is also false on a counter that does not exist (yet).
  let condition = `attribute_not_exists(#r) AND ${HOLD_COUNT_ATTRIBUTE} < :cap`;
  if (maxUsed) {
    // A zero-amount reservation must still find the level not yet reached: strict.
    condition += ` AND used ${maxUsed.strict ? '<' : '<='} :max`;
    values[':max'] = number(maxUsed.value);
  }
  try {
    const { Attributes } = await db.exactClient.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.budgetCounter(tenantId, target.budgetId, target.periodStart),
        UpdateExpression: `SET #r = :entry ADD reserved :a, used :a, ${HOLD_COUNT_ATTRIBUTE} :one`,
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#r': `${RESERVATION_ATTRIBUTE}${reservation.id}` },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toCounter(Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    if (isItemTooLarge(error)) throw new CounterFullError(target.budgetId);
    throw error;
  }
}

/**
 * A hold refused because the counter item would pass DynamoDB's 400 KB: it carries one attribute
 * per live reservation, a few thousand at most.
 */
export class CounterFullError extends Error {
  constructor(readonly budgetId: string) {
    super(`The counter of budget ${budgetId} holds as many reservations as one item can.`);
    this.name = 'CounterFullError';
  }
}

/** DynamoDB's refusal of a write that would make an item larger than 400 KB. */
const isItemTooLarge = (error: unknown) =>
  error instanceof Error &&
  error.name === 'ValidationException' &&
  /item size .*exceeded the maximum allowed size/i.test(error.message);

/**
 * Creates a counter that does not exist yet (the first hold of a budget's period finds none), with
 * `used` and the hold count at zero, which a hold's condition compares; restates the identity of
 * one that does and gives it whichever of the two it lacks (a counter written before holds relied
 * on them: its hold count starts at `holds`, the holds it was read with), changing nothing else.
 */
export async function ensureCounter(
  db: Db,
  tenantId: string,
  target: CounterTarget,
  holds = 0,
): Promise<void> {
  const identity = counterIdentity(target);
  await db.client.send(
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.budgetCounter(tenantId, target.budgetId, target.periodStart),
      UpdateExpression: `SET ${identity.set}, used = if_not_exists(used, :zero), ${HOLD_COUNT_ATTRIBUTE} = if_not_exists(${HOLD_COUNT_ATTRIBUTE}, :holds)`,
      ExpressionAttributeValues: { ...identity.values, ':zero': number(ZERO), ':holds': holds },
    }),
  );
}

/**
 * Sets a counter's hold count to `holds` where it is not: a counter written before holds were
 * counted has none, or a negative one (a release before its first hold added -1 to nothing).
 * `expected` is the count read with the holds that `holds` counts, in one consistent read: as
 * every write that adds or removes a hold moves the count with it, the count still being
 * `expected` means `holds` is still right. Else nothing is written (the next sweep looks again).
 */
export async function correctHoldCount(
  db: Db,
  tenantId: string,
  target: { budgetId: string; periodStart: string },
  expected: number | undefined,
  holds: number,
): Promise<void> {
  if (expected === holds) return;
  await succeeded(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.budgetCounter(tenantId, target.budgetId, target.periodStart),
        UpdateExpression: `SET ${HOLD_COUNT_ATTRIBUTE} = :holds`,
        ConditionExpression:
          expected === undefined
            ? `attribute_exists(pk) AND attribute_not_exists(${HOLD_COUNT_ATTRIBUTE})`
            : `${HOLD_COUNT_ATTRIBUTE} = :expected`,
        ExpressionAttributeValues: {
          ':holds': holds,
          ...(expected === undefined ? {} : { ':expected': expected }),
        },
      }),
    ),
  );
}

/**
 * Gives a reservation's amount back to a counter, once: the condition on its attribute makes a
 * second release (settlement racing expiry, a retried DELETE) a no-op. True when it released.
 */
export async function releaseOnCounter(
  db: Db,
  tenantId: string,
  target: { budgetId: string; periodStart: string },
  reservation: { id: string; amount: Decimal },
): Promise<boolean> {
  return succeeded(
    db.exactClient.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.budgetCounter(tenantId, target.budgetId, target.periodStart),
        UpdateExpression: `REMOVE #r ADD reserved :minus, used :minus, ${HOLD_COUNT_ATTRIBUTE} :gone`,
        ConditionExpression: 'attribute_exists(#r) AND #r.a = :a',
        ExpressionAttributeNames: { '#r': `${RESERVATION_ATTRIBUTE}${reservation.id}` },
        ExpressionAttributeValues: {
          ':minus': number(reservation.amount.negated()),
          ':a': number(reservation.amount),
          ':gone': -1,
        },
      }),
    ),
  );
}

/** Remembers notices recorded for a counter's period, so later evaluations skip them. */
export async function markFired(
  db: Db,
  tenantId: string,
  target: { budgetId: string; periodStart: string },
  names: string[],
): Promise<void> {
  if (names.length === 0) return;
  await db.client
    .send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.budgetCounter(tenantId, target.budgetId, target.periodStart),
        UpdateExpression: 'ADD fired :names',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':names': new Set(names) },
      }),
    )
    .catch((error: unknown) => {
      // The counter was cleaned up meanwhile: nothing left to remember on.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}

export async function deleteCounter(
  db: Db,
  tenantId: string,
  target: { budgetId: string; periodStart: string },
): Promise<void> {
  await db.client.send(
    new DeleteCommand({
      TableName: db.tableName,
      Key: keys.budgetCounter(tenantId, target.budgetId, target.periodStart),
    }),
  );
}

/**
 * A reservation as stored. Its id is derived from the caller's authorization id, so the record is
 * also the idempotency claim: the first attempt to write it owns the reservation. `hold_id` names
 * that attempt's holds on the counters (`r_<hold id>`), so a racing retry's holds are told apart
 * and given back.
 */
export interface ReservationRecord {
  id: string;
  request_id: string;
  state: 'pending' | 'reserved' | 'blocked' | 'settled' | 'released';
  created_at: string;
  expires_at: number;
  /** The attribute suffix of the holds (records before it existed used the reservation id). */
  hold_id?: string;
  /** Per counter, the amount taken (in the budget's unit: USD or tokens), as a decimal string. */
  holds: { budgetId: string; periodStart: string; amount: string }[];
  /** What was reserved, and the model asked for: a retry's answer is built from them. */
  reserved?: { cost: string; tokens: number; priced: boolean };
  model?: string;
  /** The answer, when it was stored (blocks; records written before answers were computed per call). */
  answer?: Record<string, unknown>;
  /** What the request asked (its parsed body, hashed): a retry must ask the same. Absent on older records. */
  fingerprint?: string;
}

export const holdIdOf = (record: ReservationRecord) => record.hold_id ?? record.id;

const reservationItem = (tenantId: string, record: ReservationRecord) => ({
  ...keys.reservation(tenantId, record.id),
  entity: 'reservation',
  record,
  // Kept a day past the reservation: a retry arriving later than that is a new call.
  expires_at_epoch: Math.ceil(record.expires_at / 1000) + 86_400,
});

/**
 * Writes a reservation record. `{ claimAt }`: a new record, which claims its authorization id; a
 * record past its keeping that TTL has not removed yet is free again. `{ holdId }`: replaces the
 * record this call claimed (its plan changed), only while it still names that attempt's holds.
 * False when the condition refused it (a live record holds the id; the record moved on); a retried
 * write that had already applied is recognised by its hold id and counts as written.
 */
export async function writeReservation(
  db: Db,
  tenantId: string,
  record: ReservationRecord,
  expected: { claimAt: number } | { holdId: string },
): Promise<boolean> {
  return succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: reservationItem(tenantId, record),
        ...('claimAt' in expected
          ? {
              ConditionExpression: 'attribute_not_exists(pk) OR expires_at_epoch < :now',
              ExpressionAttributeValues: { ':now': Math.floor(expected.claimAt / 1000) },
            }
          : {
              ConditionExpression: '#rec.hold_id = :hold',
              ExpressionAttributeNames: { '#rec': 'record' },
              ExpressionAttributeValues: { ':hold': expected.holdId },
            }),
      }),
    ),
    // The record carrying this attempt's hold id (unique to it) is this write.
    async () =>
      record.hold_id !== undefined &&
      (await getReservation(db, tenantId, record.id))?.hold_id === record.hold_id,
  );
}

/** Gives up a claimed reservation id (nothing was reserved), only while it holds `holdId`. */
export async function unclaimReservation(
  db: Db,
  tenantId: string,
  reservationId: string,
  holdId: string,
): Promise<void> {
  try {
    await db.client.send(
      new DeleteCommand({
        TableName: db.tableName,
        Key: keys.reservation(tenantId, reservationId),
        ConditionExpression: '#rec.hold_id = :hold',
        ExpressionAttributeNames: { '#rec': 'record' },
        ExpressionAttributeValues: { ':hold': holdId },
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
}

/**
 * Deletes the record of a first call that stopped between its claim and its holds, only while it
 * is the record as read (the same attempt, still reserved), so that a retry can claim the id
 * afresh. False when the record moved on (another retry cleared it or took it; it was released).
 */
export async function clearAbandonedReservation(
  db: Db,
  tenantId: string,
  record: ReservationRecord,
): Promise<boolean> {
  const values: Record<string, unknown> = { ':reserved': 'reserved', ':created': record.created_at };
  if (record.hold_id !== undefined) values[':hold'] = record.hold_id;
  return succeeded(
    db.client.send(
      new DeleteCommand({
        TableName: db.tableName,
        Key: keys.reservation(tenantId, record.id),
        // A confirmed record is a first call that took its holds after all (late): it stands.
        ConditionExpression: `#rec.#state = :reserved AND #rec.created_at = :created AND attribute_not_exists(#rec.confirmed) AND ${
          record.hold_id === undefined ? 'attribute_not_exists(#rec.hold_id)' : '#rec.hold_id = :hold'
        }`,
        ExpressionAttributeNames: { '#rec': 'record', '#state': 'state' },
        ExpressionAttributeValues: values,
      }),
    ),
  );
}

/**
 * Marks a reservation's record confirmed by the attempt that took all its holds, only while the
 * record is still that attempt's and reserved; from then on no retry clears it as abandoned. False
 * when a retry cleared or took the id meanwhile, or it was released: the attempt's holds must go.
 */
export async function confirmReservation(
  db: Db,
  tenantId: string,
  reservationId: string,
  holdId: string,
): Promise<boolean> {
  return succeeded(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.reservation(tenantId, reservationId),
        // Setting it again is harmless, so an SDK retry after a lost answer succeeds too.
        UpdateExpression: 'SET #rec.confirmed = :true',
        ConditionExpression: '#rec.#state = :reserved AND #rec.hold_id = :hold',
        ExpressionAttributeNames: { '#rec': 'record', '#state': 'state' },
        ExpressionAttributeValues: { ':true': true, ':reserved': 'reserved', ':hold': holdId },
      }),
    ),
  );
}

export async function getReservation(
  db: Db,
  tenantId: string,
  reservationId: string,
): Promise<ReservationRecord | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({
      TableName: db.tableName,
      Key: keys.reservation(tenantId, reservationId),
      ConsistentRead: true,
    }),
  );
  return Item?.record as ReservationRecord | undefined;
}

export async function getReservations(
  db: Db,
  tenantId: string,
  reservationIds: string[],
): Promise<ReservationRecord[]> {
  const items = await batchGetAll(
    db,
    reservationIds.map((id) => keys.reservation(tenantId, id)),
  );
  return items.map((item) => item.record as ReservationRecord);
}

/**
 * Moves a reservation from one of `from` to `to`; false when it is in none of them (it was settled
 * or released meanwhile). The record's state decides who gives the amount back: only the caller
 * whose move succeeded does.
 */
export async function moveReservation(
  db: Db,
  tenantId: string,
  reservationId: string,
  from: ReservationRecord['state'][],
  to: ReservationRecord['state'],
  answer?: Record<string, unknown>,
  /** Only while the record is this attempt's (a retry may have cleared it and claimed the id). */
  holdId?: string,
): Promise<boolean> {
  const values: Record<string, unknown> = { ':to': to };
  from.forEach((state, index) => {
    values[`:from${index}`] = state;
  });
  if (answer) values[':answer'] = answer;
  if (holdId !== undefined) values[':hold'] = holdId;
  return succeeded(
    db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.reservation(tenantId, reservationId),
        UpdateExpression: `SET #rec.#state = :to${answer ? ', #rec.answer = :answer' : ''}`,
        ConditionExpression: `#rec.#state IN (${from.map((_, index) => `:from${index}`).join(', ')})${
          holdId === undefined ? '' : ' AND #rec.hold_id = :hold'
        }`,
        ExpressionAttributeNames: { '#rec': 'record', '#state': 'state' },
        ExpressionAttributeValues: values,
      }),
    ),
  );
}

/**
 * `moveReservation` that answers the record as moved (one round trip instead of a read and a
 * write); undefined when the reservation is unknown or in none of `from`.
 */
export async function moveReservationReturning(
  db: Db,
  tenantId: string,
  reservationId: string,
  from: ReservationRecord['state'][],
  to: ReservationRecord['state'],
): Promise<ReservationRecord | undefined> {
  const values: Record<string, unknown> = { ':to': to };
  from.forEach((state, index) => {
    values[`:from${index}`] = state;
  });
  try {
    const { Attributes } = await db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.reservation(tenantId, reservationId),
        UpdateExpression: 'SET #rec.#state = :to',
        ConditionExpression: `#rec.#state IN (${from.map((_, index) => `:from${index}`).join(', ')})`,
        ExpressionAttributeNames: { '#rec': 'record', '#state': 'state' },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return Attributes?.record as ReservationRecord | undefined;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}

/**
 * Usage batches (ingest requests) whose counters were updated, among `batchIds`: when each was
 * recorded applied (epoch ms).
 */
export async function appliedBatches(
  db: Db,
  tenantId: string,
  batchIds: string[],
): Promise<Map<string, number>> {
  const items = await batchGetAll(
    db,
    batchIds.map((id) => keys.budgetBatch(tenantId, id)),
  );
  return new Map(items.map((item) => [item.batch as string, Date.parse(item.at as string)]));
}

/** How long the record of an applied usage batch is kept: past the rollup's reach. */
export const BATCH_RECORD_RETENTION_MS = 3 * 86_400_000;

/** Marks a usage batch applied to the counters; kept BATCH_RECORD_RETENTION_MS. */
export async function markBatchApplied(
  db: Db,
  tenantId: string,
  batchId: string,
  by: 'ingest' | 'rollup',
  now: Date,
): Promise<boolean> {
  return succeeded(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: {
          ...keys.budgetBatch(tenantId, batchId),
          batch: batchId,
          by,
          at: now.toISOString(),
          expires_at_epoch: Math.ceil((now.getTime() + BATCH_RECORD_RETENTION_MS) / 1000),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
  );
}
