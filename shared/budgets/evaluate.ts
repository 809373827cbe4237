import { Decimal, parseDecimal, toMoneyString, ZERO } from '../money/money.js';
import { modelNameCandidates } from '../pricing/model-names.js';
import { type PeriodWindow, periodAt, previousPeriod } from './period.js';
import type { CounterRecord } from './repository.js';
import type {
  BudgetAction,
  BudgetDefinition,
  BudgetScope,
  BudgetState,
  BudgetStatus,
  Decision,
} from './schema.js';

export type Unit = 'usd' | 'tokens';

export const unitOf = (definition: BudgetDefinition): Unit =>
  'tokens' in definition.limit ? 'tokens' : 'usd';

export function limitOf(definition: BudgetDefinition): Decimal {
  return 'tokens' in definition.limit
    ? new Decimal(definition.limit.tokens)
    : parseDecimal(definition.limit.amount);
}

/** An amount as the API shows it: money as an 8-place decimal string, tokens as an integer. */
export function formatAmount(unit: Unit, amount: Decimal): string | number {
  return unit === 'usd' ? toMoneyString(amount) : Number(amount.toFixed(0, Decimal.ROUND_CEIL));
}

/** What a usage event or an enforcement call is about. */
export interface Subject {
  dimensions: Record<string, string>;
  model: string;
  /** Unknown on a check that does not say: a provider-scoped budget then applies (the safe side). */
  provider?: string | undefined;
}

/**
 * A budget applies when the subject carries every pair of its scope. `model` matches any name the
 * model goes by (`gpt-4o-2024-08-06` is `gpt-4o`), case-insensitively.
 */
export function matches(scope: BudgetScope, subject: Subject): boolean {
  for (const [key, value] of Object.entries(scope)) {
    if (key === 'model') {
      const wanted = value.toLowerCase();
      if (!modelNameCandidates(subject.model).some((name) => name.toLowerCase() === wanted)) return false;
    } else if (key === 'provider') {
      if (subject.provider !== undefined && subject.provider !== value) return false;
    } else if (subject.dimensions[key] !== value) {
      return false;
    }
  }
  return true;
}

/** Reservations not yet expired: an expired one no longer counts, whether or not it was swept. */
export function liveReserved(counter: CounterRecord | undefined, nowMs: number): Decimal {
  if (!counter) return ZERO;
  return counter.reservations.reduce(
    (sum, reservation) => (reservation.expiresAt > nowMs ? sum.plus(reservation.amount) : sum),
    ZERO,
  );
}

export const SEVERITY: Record<Exclude<BudgetState, 'resolved'>, number> = { ok: 0, warning: 1, exceeded: 2 };

function severityOf(definition: BudgetDefinition, spent: Decimal): 'ok' | 'warning' | 'exceeded' {
  const limit = limitOf(definition);
  if (spent.greaterThanOrEqualTo(limit)) return 'exceeded';
  const crossed = definition.thresholds.some((t) =>
    spent.greaterThanOrEqualTo(limit.times(t).dividedBy(100)),
  );
  return crossed ? 'warning' : 'ok';
}

/** The periods a budget's status is about at `now`. */
export function windowsOf(
  definition: BudgetDefinition,
  now: Date,
): { current: PeriodWindow; previous: PeriodWindow } {
  return { current: periodAt(definition, now), previous: previousPeriod(definition, now) };
}

const DAY_MS = 86_400_000;
// Early in a period one call extrapolates to anything: no forecast alert before this much of it.
const forecastWarmupMs = (window: PeriodWindow) =>
  Math.min(DAY_MS, (window.end.getTime() - window.start.getTime()) / 4);

interface Projection {
  burnPerDay: Decimal;
  forecast: Decimal;
  projectedExceededAt: string | null;
}

/**
 * Where a budget's counting starts in a period: the period's start, or the budget's creation when
 * it was created within the period (usage before that is not counted, so it must not be divided
 * over the days before it either).
 */
export function countingSince(definition: BudgetDefinition, window: PeriodWindow): number {
  return Math.max(window.start.getTime(), Date.parse(definition.created_at) || 0);
}

/**
 * Linear over the period so far: the burn rate is what was spent divided by the days elapsed
 * since counting started (at least one hour, so the first minutes do not explode), the forecast is
 * spent plus that rate over the days left, and `projected_exceeded_at` is when that line meets the
 * limit, if within the period.
 */
function project(spent: Decimal, limit: Decimal, window: PeriodWindow, now: Date, since: number): Projection {
  const elapsed = Math.max(now.getTime() - since, 3_600_000);
  const left = Math.max(window.end.getTime() - now.getTime(), 0);
  const burnPerDay = spent.times(DAY_MS).dividedBy(elapsed);
  const forecast = spent.plus(burnPerDay.times(left).dividedBy(DAY_MS));
  let projectedExceededAt: string | null = null;
  if (spent.lessThan(limit) && burnPerDay.greaterThan(0)) {
    const at = now.getTime() + limit.minus(spent).dividedBy(burnPerDay).times(DAY_MS).toNumber();
    if (at < window.end.getTime()) projectedExceededAt = new Date(Math.ceil(at)).toISOString();
  }
  return { burnPerDay, forecast, projectedExceededAt };
}

/** Notice names that are alerts (not bookkeeping) under a limit revision. */
const ALERT_NAME = /^r(\d+):(t\d+|exceeded|forecast)$/;

function wasResolved(counter: CounterRecord | undefined): boolean {
  if (!counter) return false;
  return [...counter.fired].some((name) => name === 'resolved' || /^r\d+:resolved$/.test(name));
}

/**
 * Whether a period ended with an alert standing (fired, or reached and not yet evaluated): the
 * next period resolves it from its first instant, before the job publishes `budget.resolved`.
 */
function endedInAlert(definition: BudgetDefinition, counter: CounterRecord | undefined): boolean {
  if (!counter) return false;
  return (
    [...counter.fired].some((name) => ALERT_NAME.test(name)) || severityOf(definition, counter.spent) !== 'ok'
  );
}

/**
 * A budget's state at `now`, from its counters: what the enforcement answers show (they need no
 * forecast, which costs more than the rest of the status together).
 */
export function stateOf(
  definition: BudgetDefinition,
  counters: Map<string, CounterRecord> | undefined,
  now: Date,
): BudgetState {
  const { current, previous } = windowsOf(definition, now);
  const counter = counters?.get(current.start.toISOString());
  const state = severityOf(definition, counter?.spent ?? ZERO);
  const previousCounter = counters?.get(previous.start.toISOString());
  // A period that ended resolved had an alert first: endedInAlert covers it.
  return state === 'ok' && (endedInAlert(definition, previousCounter) || wasResolved(counter))
    ? 'resolved'
    : state;
}

/** The live status of a budget at `now`, from its counters. */
export function statusOf(
  definition: BudgetDefinition,
  counters: Map<string, CounterRecord> | undefined,
  now: Date,
): BudgetStatus {
  const unit = unitOf(definition);
  const limit = limitOf(definition);
  const { current } = windowsOf(definition, now);
  const counter = counters?.get(current.start.toISOString());
  const spent = counter?.spent ?? ZERO;
  const reserved = liveReserved(counter, now.getTime());
  const remaining = Decimal.max(limit.minus(spent).minus(reserved), ZERO);
  const projection = project(spent, limit, current, now, countingSince(definition, current));
  const state = stateOf(definition, counters, now);
  return {
    unit,
    spent: formatAmount(unit, spent),
    reserved: formatAmount(unit, reserved),
    remaining: formatAmount(unit, remaining),
    utilization_pct: Number(spent.times(100).dividedBy(limit).toDecimalPlaces(2).toString()),
    burn_rate_per_day: formatAmount(unit, projection.burnPerDay),
    forecast: formatAmount(unit, projection.forecast),
    projected_exceeded_at: projection.projectedExceededAt,
    period_start: current.start.toISOString(),
    period_end: current.end.toISOString(),
    state,
  };
}

export const DECISION_ORDER: Record<Decision, number> = {
  allow: 0,
  warn: 1,
  downgrade: 2,
  throttle: 3,
  block: 4,
};

export function strictest(decisions: Decision[]): Decision {
  return decisions.reduce<Decision>(
    (worst, d) => (DECISION_ORDER[d] > DECISION_ORDER[worst] ? d : worst),
    'allow',
  );
}

const BEDROCK_VENDOR = /^(anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen|writer)\./;

/** The model a downgrade maps `model` to (by any of its names), if the map has it. */
export function downgradeOf(action: BudgetAction, model: string): string | undefined {
  if (action.type !== 'downgrade') return undefined;
  const entries = Object.entries(action.model_map).map(([from, to]) => [from.toLowerCase(), to] as const);
  const names = modelNameCandidates(model);
  // Bedrock ids put the model's vendor first (anthropic.claude-sonnet-4-5-…): a map written with
  // the model's own name (claude-sonnet-4-5) names it too, after the Bedrock spellings.
  const unprefixed = names
    .map((name) => name.replace(BEDROCK_VENDOR, ''))
    .filter((name) => !names.includes(name));
  for (const name of [...names, ...unprefixed]) {
    const found = entries.find(([from]) => from === name.toLowerCase());
    if (found) return found[1];
  }
  return undefined;
}

const actionAt = (definition: BudgetDefinition, threshold: number): BudgetAction =>
  definition.actions[String(threshold)] ?? { type: 'notify' };

/** The lowest level (in the budget's unit) from which the budget blocks; undefined if it never does. */
export function blockLevel(definition: BudgetDefinition): Decimal | undefined {
  const limit = limitOf(definition);
  const blocking = definition.thresholds
    .filter((t) => actionAt(definition, t).type === 'block')
    .sort((a, b) => a - b)[0];
  return blocking === undefined ? undefined : limit.times(blocking).dividedBy(100);
}

/**
 * One budget's answer for a call: the strictest action among the thresholds that `used` (spent
 * plus live reservations) plus the call's own estimate reaches. A block threshold blocks once
 * `used` has reached it, or when the estimate would go past it; an estimate that reaches it exactly
 * fits, and warns. With `admitted` (an authorization that was just granted), a block threshold
 * reached is never a block.
 */
export function decideBudget(
  definition: BudgetDefinition,
  used: Decimal,
  estimate: Decimal,
  model: string,
  options: { admitted?: boolean } = {},
): { decision: Decision; model?: string } {
  const limit = limitOf(definition);
  let decision: Decision = 'allow';
  let mapped: string | undefined;
  for (const threshold of definition.thresholds) {
    const level = limit.times(threshold).dividedBy(100);
    const action = actionAt(definition, threshold);
    if (!used.plus(estimate).greaterThanOrEqualTo(level)) continue;
    let here: Decision;
    if (action.type === 'block') {
      // A call that takes the budget exactly to its block level fits: admitted, as authorize
      // admits it, with the threshold reached (warn). Past the level, or already at it, it blocks.
      const blocks =
        !options.admitted &&
        (used.greaterThanOrEqualTo(level) ||
          (estimate.greaterThan(0) && used.plus(estimate).greaterThan(level)));
      here = blocks ? 'block' : 'warn';
    } else if (action.type === 'throttle') here = 'throttle';
    else if (action.type === 'downgrade') {
      const target = downgradeOf(action, model);
      here = target ? 'downgrade' : 'warn';
      if (target && !mapped) mapped = target;
    } else here = 'warn';
    decision = strictest([decision, here]);
  }
  return mapped ? { decision, model: mapped } : { decision };
}

export interface PendingNotice {
  /** Which counter remembers it, and under which name. */
  periodStart: string;
  name: string;
  /** Recorded silently (bookkeeping) when undefined. */
  type?: string;
  data?: Record<string, unknown>;
}

function actionData(action: BudgetAction | undefined) {
  if (!action) return null;
  return action.type === 'downgrade'
    ? { type: action.type, model_map: action.model_map }
    : { type: action.type };
}

/**
 * What should be told about a budget now, once each per period (and limit revision): each
 * threshold crossed, the limit exceeded, the forecast over the limit (forecast_alert), and a
 * resolution when a new period starts after an alert or a raised limit brings the state down.
 */
export function noticesOf(
  definition: BudgetDefinition,
  counters: Map<string, CounterRecord> | undefined,
  now: Date,
): PendingNotice[] {
  const unit = unitOf(definition);
  const limit = limitOf(definition);
  const { current, previous } = windowsOf(definition, now);
  const counter = counters?.get(current.start.toISOString());
  const previousCounter = counters?.get(previous.start.toISOString());
  const notices: PendingNotice[] = [];
  const rev = definition.revision;
  const budget = { id: definition.id, name: definition.name, scope: definition.scope };
  const limitShown = formatAmount(unit, limit);

  // A period ended in warning or exceeded: the new period resolves it.
  if (previousCounter && !previousCounter.fired.has('resolved')) {
    const alerted = [...previousCounter.fired].some((name) => ALERT_NAME.test(name));
    if (alerted) {
      notices.push({
        periodStart: previousCounter.periodStart,
        name: 'resolved',
        type: 'budget.resolved.v1',
        data: {
          budget,
          state: 'resolved',
          reason: 'new_period',
          threshold: null,
          spent: formatAmount(unit, previousCounter.spent),
          limit: limitShown,
          unit,
          period: { start: previous.start.toISOString(), end: previous.end.toISOString() },
          projected_exceeded_at: null,
          action: null,
        },
      });
    }
  }
  if (!counter) return notices;

  const spent = counter.spent;
  const projection = project(spent, limit, current, now, countingSince(definition, current));
  const severity = severityOf(definition, spent);
  const period = { start: current.start.toISOString(), end: current.end.toISOString() };
  const base = { budget, spent: formatAmount(unit, spent), limit: limitShown, unit, period };
  const fired = counter.fired;
  const stillTrue = (kind: string) => {
    if (kind === 'exceeded') return severity === 'exceeded';
    if (kind === 'forecast') return projection.forecast.greaterThan(limit);
    const t = Number(kind.slice(1));
    return definition.thresholds.includes(t) && spent.greaterThanOrEqualTo(limit.times(t).dividedBy(100));
  };

  // Alerts of an earlier limit: carried over where still true, resolved if the state came down.
  const olderRevisions = new Map<number, string[]>();
  for (const name of fired) {
    const match = ALERT_NAME.exec(name);
    if (!match || Number(match[1]) >= rev) continue;
    const r = Number(match[1]);
    if (fired.has(`r${r}:resolved`) || fired.has(`r${r}:carried`)) continue;
    olderRevisions.set(r, [...(olderRevisions.get(r) ?? []), match[2] as string]);
  }
  const carried = new Set<string>();
  for (const [r, kinds] of olderRevisions) {
    const before = kinds.includes('exceeded') ? 2 : kinds.some((k) => k.startsWith('t')) ? 1 : 0;
    for (const kind of kinds) if (stillTrue(kind)) carried.add(kind);
    if (SEVERITY[severity] < before) {
      notices.push({
        periodStart: counter.periodStart,
        name: `r${r}:resolved`,
        type: 'budget.resolved.v1',
        data: {
          ...base,
          state: severity === 'ok' ? 'resolved' : severity,
          reason: 'limit_raised',
          threshold: null,
          projected_exceeded_at: projection.projectedExceededAt,
          action: null,
        },
      });
    } else {
      notices.push({ periodStart: counter.periodStart, name: `r${r}:carried` });
    }
  }
  for (const kind of carried) {
    if (!fired.has(`r${rev}:${kind}`))
      notices.push({ periodStart: counter.periodStart, name: `r${rev}:${kind}` });
  }

  const fresh = (kind: string) => !fired.has(`r${rev}:${kind}`) && !carried.has(kind);
  for (const threshold of [...definition.thresholds].sort((a, b) => a - b)) {
    if (!stillTrue(`t${threshold}`) || !fresh(`t${threshold}`)) continue;
    notices.push({
      periodStart: counter.periodStart,
      name: `r${rev}:t${threshold}`,
      type: 'budget.threshold_crossed.v1',
      data: {
        ...base,
        state: severity,
        threshold,
        projected_exceeded_at: projection.projectedExceededAt,
        action: actionData(actionAt(definition, threshold)),
      },
    });
  }
  if (severity === 'exceeded' && fresh('exceeded')) {
    const reached = definition.thresholds
      .filter((t) => spent.greaterThanOrEqualTo(limit.times(t).dividedBy(100)))
      .sort((a, b) => a - b);
    const strictestAction = reached
      .map((t) => actionAt(definition, t))
      .reduce<BudgetAction | undefined>((worst, action) => {
        const d = (a: BudgetAction) => DECISION_ORDER[a.type === 'notify' ? 'warn' : a.type];
        return !worst || d(action) >= d(worst) ? action : worst;
      }, undefined);
    notices.push({
      periodStart: counter.periodStart,
      name: `r${rev}:exceeded`,
      type: 'budget.exceeded.v1',
      data: {
        ...base,
        state: 'exceeded',
        threshold: 100,
        projected_exceeded_at: null,
        action: actionData(strictestAction ?? { type: 'notify' }),
      },
    });
  }
  const warmedUp = now.getTime() - countingSince(definition, current) >= forecastWarmupMs(current);
  if (
    definition.forecast_alert &&
    severity !== 'exceeded' &&
    warmedUp &&
    stillTrue('forecast') &&
    fresh('forecast')
  ) {
    notices.push({
      periodStart: counter.periodStart,
      name: `r${rev}:forecast`,
      type: 'budget.forecast_exceeded.v1',
      data: {
        ...base,
        state: severity,
        threshold: null,
        forecast: formatAmount(unit, projection.forecast),
        projected_exceeded_at: projection.projectedExceededAt,
        action: null,
      },
    });
  }
  return notices;
}
