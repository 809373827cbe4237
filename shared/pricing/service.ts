import type { Db } from '../db/client.js';
import { NotFoundError, ValidationError } from '../errors/errors.js';
import { newId } from '../ids.js';
import { BUILTIN_PRICES } from './catalog.js';
import { parseLiteLLMPriceFile } from './litellm.js';
import { modelNameCandidates } from './model-names.js';
import { applyOverride, type PriceOverride } from './override.js';
import { PriceBook } from './price-book.js';
import {
  listOperatorPrices,
  listPriceOverrides,
  putOperatorPrices,
  putPriceOverride,
  type StoredPriceOverride,
} from './repository.js';
import { type ModelPrice, priceId } from './types.js';

/** Providers tried, in this order, when a price is asked for by model name alone. */
const PROVIDER_SEARCH_ORDER = ['openai', 'anthropic', 'google', 'mistral', 'bedrock', 'azure'];

/** How long a process keeps the operator's loaded prices before reading them again. */
const PRICE_BOOK_TTL_MS = 30_000;

/**
 * How long enforcement (check, authorize) prices estimates with a tenant's overrides as read
 * earlier. A stale override only changes the size of a worst-case estimate, never what a blocking
 * budget admits: every hold is still conditional on the counter. Usage is always priced fresh.
 */
export const ESTIMATE_OVERRIDES_TTL_MS = 5_000;
/** Tenants whose overrides are kept for estimates; the oldest entry goes first past this. */
const ESTIMATE_OVERRIDES_MAX_TENANTS = 10_000;

/** Prices one tenant's events: list prices with the tenant's effective-dated overrides applied. */
export interface TenantPricer {
  priceAt(provider: string, model: string, at: Date): ModelPrice | undefined;
}

function overrideLabel(override: StoredPriceOverride): string {
  return priceId('override', override.provider, override.model, override.effective_from).slice(
    'override:'.length,
  );
}

/** The override of `provider/model` (by any of the model's names) in force at `time`. */
function overrideAt(
  overrides: Map<string, StoredPriceOverride[]>,
  provider: string,
  model: string,
  time: number,
): StoredPriceOverride | undefined {
  for (const candidate of modelNameCandidates(model)) {
    const history = overrides.get(`${provider}/${candidate.toLowerCase()}`);
    if (!history) continue;
    let inForce: StoredPriceOverride | undefined;
    for (const override of history) if (Date.parse(override.effective_from) <= time) inForce = override;
    if (inForce) return inForce;
  }
  return undefined;
}

/** A model with no list price can still be priced by a tenant who gave explicit input and output rates. */
function priceFromOverrideAlone(override: StoredPriceOverride): ModelPrice | undefined {
  const rates = override.rates;
  if (!rates?.input || !rates.output) return undefined;
  const id = priceId('override', override.provider, override.model, override.effective_from);
  return {
    price_id: id,
    provider: override.provider,
    model: override.model,
    effective_from: override.effective_from,
    source: id,
    rates: { ...rates, input: rates.input, output: rates.output },
    tiers: {},
  };
}

export function createPricingService(db: Db, now: () => Date = () => new Date()) {
  let cached: { book: PriceBook; loadedAt: number } | undefined;

  async function priceBook(): Promise<PriceBook> {
    if (cached && now().getTime() - cached.loadedAt < PRICE_BOOK_TTL_MS) return cached.book;
    const loaded = await listOperatorPrices(db);
    cached = { book: new PriceBook([...BUILTIN_PRICES]).extend(loaded), loadedAt: now().getTime() };
    return cached.book;
  }

  function pricerOf(book: PriceBook, stored: StoredPriceOverride[]): TenantPricer {
    const overrides = new Map<string, StoredPriceOverride[]>();
    for (const override of [...stored].sort(
      (a, b) => Date.parse(a.effective_from) - Date.parse(b.effective_from),
    )) {
      const key = `${override.provider}/${override.model.toLowerCase()}`;
      overrides.set(key, [...(overrides.get(key) ?? []), override]);
    }
    return {
      priceAt(provider, model, at) {
        const list = book.priceAt(provider, model, at);
        const override = overrideAt(overrides, provider, model, at.getTime());
        if (!override) return list;
        if (!list) return priceFromOverrideAlone(override);
        return applyOverride(list, override, overrideLabel(override));
      },
    };
  }

  async function tenantPricer(tenantId: string): Promise<TenantPricer> {
    const [book, stored] = await Promise.all([priceBook(), listPriceOverrides(db, tenantId)]);
    return pricerOf(book, stored);
  }

  const estimateOverrides = new Map<string, { stored: StoredPriceOverride[]; readAt: number }>();

  /** The tenant's pricer for estimates, with overrides read at most `ESTIMATE_OVERRIDES_TTL_MS` ago. */
  async function estimatePricer(tenantId: string): Promise<TenantPricer> {
    const entry = estimateOverrides.get(tenantId);
    if (entry && now().getTime() - entry.readAt < ESTIMATE_OVERRIDES_TTL_MS) {
      return pricerOf(await priceBook(), entry.stored);
    }
    const readAt = now().getTime();
    const [book, stored] = await Promise.all([priceBook(), listPriceOverrides(db, tenantId)]);
    estimateOverrides.delete(tenantId);
    if (estimateOverrides.size >= ESTIMATE_OVERRIDES_MAX_TENANTS) {
      const oldest = estimateOverrides.keys().next().value;
      if (oldest !== undefined) estimateOverrides.delete(oldest);
    }
    estimateOverrides.set(tenantId, { stored, readAt });
    return pricerOf(book, stored);
  }

  return {
    tenantPricer,
    estimatePricer,

    /** The price in force for the tenant at `at`; with no provider, the first provider that prices the model. */
    async priceInForce(tenantId: string, query: { provider?: string | undefined; model: string; at: Date }) {
      const pricer = await tenantPricer(tenantId);
      for (const provider of query.provider ? [query.provider] : PROVIDER_SEARCH_ORDER) {
        const price = pricer.priceAt(provider, query.model, query.at);
        if (price) return price;
      }
      throw new NotFoundError(
        `No price for ${query.provider ? `${query.provider}/` : ''}${query.model} at ${query.at.toISOString()}.`,
        'PRICE_NOT_FOUND',
      );
    },

    async putOverride(tenantId: string, provider: string, model: string, override: PriceOverride) {
      const stored: StoredPriceOverride = { ...override, provider, model, created_at: now().toISOString() };
      await putPriceOverride(db, tenantId, stored);
      estimateOverrides.delete(tenantId);
      return stored;
    },

    listOverrides(tenantId: string): Promise<StoredPriceOverride[]> {
      return listPriceOverrides(db, tenantId);
    },

    /** Loads a LiteLLM-format price file; its prices take effect from `effectiveFrom` and win ties with earlier ones. */
    async importLiteLLM(file: unknown, options: { source: string; effectiveFrom: string }) {
      const { prices, skipped } = parseLiteLLMPriceFile(file, options);
      if (prices.length === 0) {
        throw new ValidationError('The price file holds no usable price.', [
          { path: 'file', message: `${skipped.length} entries skipped, none priced` },
        ]);
      }
      const loadId = newId('prl');
      await putOperatorPrices(db, loadId, prices);
      cached = undefined;
      return { load_id: loadId, loaded: prices.length, skipped };
    },
  };
}
export type PricingService = ReturnType<typeof createPricingService>;
