import type { Settlement } from '../budgets/schema.js';
import type { BudgetService, StoredUsage } from '../budgets/service.js';
import type { Db } from '../db/client.js';
import type { EnvelopeItem } from '../ingest/envelope.js';
import { type Answer, ingestEvents } from '../ingest/pipeline.js';
import { toDecimalString, toMoneyString } from '../money/money.js';
import { cacheSavings, compactBreakdown, computeCost } from '../pricing/cost.js';
import type { PricingService } from '../pricing/service.js';
import { type CanonicalUsage, type ServiceTier, USAGE_FIELDS } from './canonical.js';
import { mapProviderUsage } from './provider-usage.js';
import { type IngestResult, UsageEventSchema } from './schema.js';

/** Only the non-zero buckets are stored: most events use two or three of the six. */
export function compactUsage(usage: CanonicalUsage): Record<string, number> {
  return Object.fromEntries(
    USAGE_FIELDS.filter((field) => usage[field] > 0).map((field) => [field, usage[field]]),
  );
}

export function expandUsage(stored: Record<string, number> | undefined): CanonicalUsage {
  return Object.fromEntries(
    USAGE_FIELDS.map((field) => [field, stored?.[field] ?? 0]),
  ) as unknown as CanonicalUsage;
}

export function createUsageService(
  db: Db,
  pricing: PricingService,
  now: () => Date = () => new Date(),
  budgets?: Pick<BudgetService, 'planUsage' | 'applyUsage'>,
) {
  return {
    /**
     * Validates, maps, prices and stores usage events exactly once. An event of a model with no
     * price is kept and counted as tokens, marked unpriced, until a re-price prices it. Events
     * are applied to the counters of the budgets they match before the request is answered.
     */
    async ingest(tenantId: string, items: EnvelopeItem[]): Promise<IngestResult> {
      const [pricer, plan] = await Promise.all([
        pricing.tenantPricer(tenantId),
        budgets?.planUsage(tenantId),
      ]);
      return ingestEvents({
        db,
        tenantId,
        kind: 'usage',
        items,
        now: now(),
        schema: UsageEventSchema,
        ...(plan && budgets
          ? {
              async onAccepted(stored) {
                const settlements = await budgets.applyUsage(
                  tenantId,
                  plan,
                  stored as unknown as StoredUsage[],
                );
                return reservationAnswers(stored as unknown as StoredUsage[], settlements);
              },
            }
          : {}),
        prepare(event, timestamp) {
          let usage: CanonicalUsage;
          let reportedTier: ServiceTier | undefined;
          if (event.usage) {
            usage = event.usage;
          } else {
            const mapped = mapProviderUsage(event.provider, event.raw_usage, { path: 'raw_usage' });
            if (!mapped.ok) return { errors: mapped.errors };
            usage = mapped.usage;
            reportedTier = mapped.service_tier;
          }
          const tier: ServiceTier = event.service_tier ?? reportedTier ?? 'standard';
          const price = pricer.priceAt(event.provider, event.model, timestamp);
          const priced = price ? computeCost(usage, price, tier) : undefined;
          const cost = priced?.cost;
          const savings = priced ? cacheSavings(usage, priced) : undefined;
          return {
            attributes: {
              prov: event.provider,
              model: event.model,
              tier,
              rc: event.request_count,
              u: compactUsage(usage),
              ...(event.raw_usage ? { raw: event.raw_usage } : {}),
              dims: event.dimensions,
              ...(price && cost ? { cost: toDecimalString(cost), price: price.price_id } : {}),
              ...(savings && !savings.isZero() ? { sav: toDecimalString(savings) } : {}),
              ...(priced ? { cb: compactBreakdown(priced) } : {}),
              ...(event.cost ? { rcost: event.cost.amount } : {}),
              ...(event.reservation_id ? { rsv: event.reservation_id } : {}),
              ...(plan
                ? plan.attributesFor(
                    { dimensions: event.dimensions, model: event.model, provider: event.provider },
                    event.reservation_id,
                  )
                : {}),
            },
            answer:
              price && cost
                ? { cost: toMoneyString(cost), priced: true, price_id: price.price_id }
                : { priced: false },
          };
        },
      });
    },
  };
}
export type UsageService = ReturnType<typeof createUsageService>;

/**
 * What each stored event's `reservation_id` found: a wrong id would otherwise leave its hold in
 * place until it expires, unnoticed. Pending when the settlement was left to the rollup.
 */
function reservationAnswers(
  stored: StoredUsage[],
  settlements: Map<string, Settlement> | undefined,
): (Partial<Answer> | undefined)[] {
  return stored.map((event) =>
    event.rsv
      ? { reservation: { id: event.rsv, status: settlements?.get(event.rsv) ?? 'pending' } }
      : undefined,
  );
}
