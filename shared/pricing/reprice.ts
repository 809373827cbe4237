import { createHash, randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { Db } from '../db/client.js';
import { ConflictError, ValidationError } from '../errors/errors.js';
import { MAX_AGE_MS, MAX_FUTURE_MS } from '../ingest/pipeline.js';
import {
  acquireLock,
  claimRawEvent,
  getRawEvents,
  listIngestedKeys,
  releaseLock,
  updateUsagePrice,
} from '../ingest/raw-event-repository.js';
import { type Decimal, parseDecimal, toDecimalString, toMoneyString, ZERO } from '../money/money.js';
import { type ServiceTier, totalTokens } from '../usage/canonical.js';
import { expandUsage } from '../usage/service.js';
import { cacheSavings, compactBreakdown, computeCost } from './cost.js';
import type { PricingService } from './service.js';

/** A re-price holds the tenant's lock at most this long (a crashed one frees it then). */
const LOCK_TTL_MS = 15 * 60 * 1000;

/** The longest range one re-price covers. */
const MAX_RANGE_MS = 366 * 24 * 60 * 60 * 1000;

interface ModelDiff {
  provider: string;
  model: string;
  events: number;
  changed: number;
  newly_priced: number;
  old_cost: Decimal;
  new_cost: Decimal;
}

export interface RepriceSummary {
  from: string;
  to: string;
  dry_run: boolean;
  events: number;
  changed: number;
  newly_priced: number;
  unpriced: number;
  old_cost: string;
  new_cost: string;
  by_model: {
    provider: string;
    model: string;
    events: number;
    changed: number;
    newly_priced: number;
    old_cost: string;
    new_cost: string;
  }[];
}

/**
 * Re-prices a tenant's usage events whose timestamps fall in [from, to) with the prices in force
 * now for their times (list prices, loaded price files and the tenant's overrides), and prices
 * formerly unpriced ones. A dry run only reports the difference.
 */
export async function repriceUsage(
  db: Db,
  pricing: PricingService,
  tenantId: string,
  range: { from: Date; to: Date; dryRun: boolean },
  now: Date,
): Promise<RepriceSummary> {
  const { from, to, dryRun } = range;
  if (to <= from)
    throw new ValidationError('"to" must be after "from".', [{ path: 'to', message: 'must be after from' }]);
  if (to.getTime() - from.getTime() > MAX_RANGE_MS) {
    throw new ValidationError('Re-price at most 366 days at once.', [
      { path: 'to', message: 'range over 366 days' },
    ]);
  }
  const pricer = await pricing.tenantPricer(tenantId);
  // Events are indexed by ingestion time; an event of time t arrives in [t − 5 min, t + 35 days].
  const ingestedFrom = new Date(from.getTime() - MAX_FUTURE_MS).toISOString();
  const ingestedTo = new Date(Math.min(now.getTime() + 1000, to.getTime() + MAX_AGE_MS + 1000)).toISOString();
  const candidates = await getRawEvents(
    db,
    (await listIngestedKeys(db, tenantId, 'usage', ingestedFrom, ingestedTo)).keys,
  );
  const events = candidates.filter((event) => {
    const at = Date.parse(event.ts as string);
    return event.kind === 'usage' && at >= from.getTime() && at < to.getTime();
  });

  const diffs = new Map<string, ModelDiff>();
  const updates: (() => Promise<boolean>)[] = [];
  let oldTotal = ZERO;
  let newTotal = ZERO;
  let changed = 0;
  let newlyPriced = 0;
  let unpriced = 0;

  for (const event of events) {
    const provider = event.prov as string;
    const model = event.model as string;
    const price = pricer.priceAt(provider, model, new Date(event.ts as string));
    const usage = expandUsage(event.u as Record<string, number>);
    const priced = price ? computeCost(usage, price, event.tier as ServiceTier) : undefined;
    const newCost = priced?.cost;
    const newSavings = priced ? cacheSavings(usage, priced) : ZERO;
    const oldSavings = event.sav === undefined ? ZERO : parseDecimal(event.sav as string);
    const oldCost = event.cost === undefined ? undefined : parseDecimal(event.cost as string);
    const oldPriceId = event.price as string | undefined;
    const isChange = price?.price_id !== oldPriceId || !(newCost ?? ZERO).equals(oldCost ?? ZERO);

    const key = `${provider}/${model}`;
    const diff = diffs.get(key) ?? {
      provider,
      model,
      events: 0,
      changed: 0,
      newly_priced: 0,
      old_cost: ZERO,
      new_cost: ZERO,
    };
    diff.events++;
    diff.old_cost = diff.old_cost.plus(oldCost ?? ZERO);
    diff.new_cost = diff.new_cost.plus(newCost ?? ZERO);
    oldTotal = oldTotal.plus(oldCost ?? ZERO);
    newTotal = newTotal.plus(newCost ?? ZERO);
    if (!price) unpriced++;
    if (isChange) {
      diff.changed++;
      changed++;
      if (!oldPriceId && price) {
        diff.newly_priced++;
        newlyPriced++;
      }
      const tokens = totalTokens(usage);
      const correction = {
        kind: 'usage-correction',
        ts: event.ts,
        dims: event.dims,
        model,
        prov: provider,
        of: event.sk,
        cost_delta: toDecimalString((newCost ?? ZERO).minus(oldCost ?? ZERO)),
        sav_delta: toDecimalString(newSavings.minus(oldSavings)),
        unpriced_tokens_delta: (price ? 0 : tokens) - (oldPriceId ? 0 : tokens),
        unpriced_events_delta: (price ? 0 : 1) - (oldPriceId ? 0 : 1),
      };
      // The same change always has the same key, so a retried re-price claims it once.
      const correctionKey = `corr:${createHash('sha256')
        .update(`${event.sk}|${oldPriceId ?? ''}|${price?.price_id ?? ''}|${correction.cost_delta}`)
        .digest('base64url')}`;
      updates.push(async () => {
        // The correction first: it is what carries the change into the KPI cells. Should the
        // event update below not happen, a retry finds the same correction already claimed.
        await claimRawEvent(db, tenantId, 'usage', correctionKey, now.toISOString(), correction);
        return updateUsagePrice(
          db,
          { pk: event.pk as string, sk: event.sk as string },
          oldPriceId,
          {
            cost: newCost ? toDecimalString(newCost) : undefined,
            priceId: price?.price_id,
            savings: newSavings.isZero() ? undefined : toDecimalString(newSavings),
            breakdown: priced ? compactBreakdown(priced) : undefined,
            repricedAt: now.toISOString(),
          },
          {
            ...(event.cost === undefined ? {} : { cost: event.cost as string }),
            ...(event.sav === undefined ? {} : { sav: event.sav as string }),
          },
        );
      });
    }
    diffs.set(key, diff);
  }

  if (!dryRun && updates.length > 0) {
    const holder = randomUUID();
    if (!(await acquireLock(db, tenantId, 'reprice', holder, now, LOCK_TTL_MS))) {
      throw new ConflictError(
        'A re-price is already running for this tenant; try again when it ends.',
        'REPRICE_RUNNING',
      );
    }
    try {
      const limit = pLimit(32);
      await Promise.all(updates.map((update) => limit(update)));
    } finally {
      await releaseLock(db, tenantId, 'reprice', holder);
    }
  }

  return {
    from: from.toISOString(),
    to: to.toISOString(),
    dry_run: dryRun,
    events: events.length,
    changed,
    newly_priced: newlyPriced,
    unpriced,
    old_cost: toMoneyString(oldTotal),
    new_cost: toMoneyString(newTotal),
    by_model: [...diffs.values()]
      .sort((a, b) => a.provider.localeCompare(b.provider) || a.model.localeCompare(b.model))
      .map((diff) => ({
        ...diff,
        old_cost: toMoneyString(diff.old_cost),
        new_cost: toMoneyString(diff.new_cost),
      })),
  };
}
