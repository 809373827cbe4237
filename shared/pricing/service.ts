import type { Db } from '../db/client.js';
import { type FieldError, NotFoundError, ValidationError } from '../errors/errors.js';
import { newId } from '../ids.js';
import { BUILTIN_PRICES } from './catalog.js';
import { parseLiteLLMPriceFile } from './litellm.js';
import { modelNameCandidates } from './model-names.js';
import { applyOverride, type PriceOverride } from './override.js';
import { PriceBook } from './price-book.js';
import {
  deletePriceOverrides,
  listOperatorPrices,
  listPriceOverrides,
  operatorPricesGeneration,
  putOperatorPrices,
  putPriceOverride,
  readOperatorPricesRevision,
  type StoredPriceOverride,
} from './repository.js';
import { canonicalInstant, type ModelPrice, priceId } from './types.js';

/** Providers tried, in this order, when a price is asked for by model name alone. */
const PROVIDER_SEARCH_ORDER = ['openai', 'anthropic', 'google', 'mistral', 'bedrock', 'azure'];

/**
 * How long a process uses its copy of the operator's loaded prices before confirming it against
 * the stored revision (one GetItem; the files are read again only if a file was loaded since).
 * The process that loads a price file drops its copy at once.
 */
const PRICE_BOOK_TTL_MS = 30_000;

/**
 * An answer of "no price" (a 404, an override refused for want of a list price) may rest on a
 * copy that predates another process's load: it confirms the copy first, unless it was confirmed
 * this recently. A file is then seen within about this long on those paths, and a client sending
 * them in a loop costs at most one GetItem per this long per process, and no read of the files.
 */
const PRICES_RECHECK_MS = 1_000;

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

/**
 * The model name an override is kept under: the priced name the model resolves to
 * (`gpt-4o-2024-08-06` → `gpt-4o`, `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`), so terms
 * entered under any spelling apply to every spelling priced alike; the name as sent for a
 * model with no list price. The provider stays the one given.
 */
function overrideModelName(book: PriceBook, provider: string, model: string): string {
  return book.resolve(provider, model)?.model ?? model;
}

function termKey(provider: string, model: string, effectiveFrom: string): string {
  return `${provider}/${model.toLowerCase()}#${effectiveFrom}`;
}

/**
 * Stored overrides as they apply now: model and `effective_from` in their canonical spelling, and
 * one term per model and instant. Overrides written before both were canonical may hold other
 * spellings of one term (`…T00:00:00Z` and `…+02:00`, a snapshot and its alias); the one written
 * last wins, as a PUT at that instant would have replaced the others.
 */
function canonicalOverrides(book: PriceBook, stored: StoredPriceOverride[]): StoredPriceOverride[] {
  const terms = new Map<string, StoredPriceOverride>();
  for (const override of stored) {
    const canonical: StoredPriceOverride = {
      ...override,
      model: overrideModelName(book, override.provider, override.model),
      effective_from: canonicalInstant(override.effective_from),
    };
    const key = termKey(canonical.provider, canonical.model, canonical.effective_from);
    const kept = terms.get(key);
    if (!kept || kept.created_at <= canonical.created_at) terms.set(key, canonical);
  }
  return [...terms.values()];
}

/**
 * The override of `provider/model` (by any of the model's names) in force at `time`. Each
 * candidate name is looked up under the name it resolves to, as overrides are kept.
 */
function overrideAt(
  book: PriceBook,
  overrides: Map<string, StoredPriceOverride[]>,
  provider: string,
  model: string,
  time: number,
): StoredPriceOverride | undefined {
  if (overrides.size === 0) return undefined;
  for (const candidate of modelNameCandidates(model)) {
    const name = overrideModelName(book, provider, candidate);
    const history = overrides.get(`${provider}/${name.toLowerCase()}`);
    if (!history) continue;
    let inForce: StoredPriceOverride | undefined;
    for (const override of history) if (Date.parse(override.effective_from) <= time) inForce = override;
    if (inForce) return inForce;
  }
  return undefined;
}

/**
 * Why an override can never make a price as it reads, as field errors; none when it can. A model
 * with a list price (at any time: a list price stays in force once it starts) takes what the
 * override leaves out from it, and its discount scales the list price. A model without one needs
 * explicit input and output rates, and takes no discount: explicit rates are never discounted
 * (over a list price neither), so a discount beside them would be kept and never applied.
 */
function unusableOverrideErrors(
  book: PriceBook,
  provider: string,
  model: string,
  override: PriceOverride,
): FieldError[] {
  if (book.resolve(provider, model)) return [];
  const name = `${provider}/${model}`;
  const rates = Object.entries(override.rates ?? {}).filter(([, value]) => value !== undefined);
  if (rates.length === 0) {
    return [
      {
        path: 'discount_pct',
        message: `discount_pct needs a list price to discount: give rates.input and rates.output for ${name}`,
      },
    ];
  }
  const errors: FieldError[] = [];
  if (override.discount_pct !== undefined) {
    errors.push({
      path: 'discount_pct',
      message: `discount_pct cannot be combined with rates for ${name}: it has no list price to discount, and explicit rates are not discounted (send the rates paid, without discount_pct)`,
    });
  }
  for (const field of ['input', 'output'] as const) {
    if (override.rates?.[field] === undefined) {
      errors.push({
        path: `rates.${field}`,
        message: `rates.${field} is required: ${name} has no list price to take it from`,
      });
    }
  }
  return errors;
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
  /**
   * The book with the stored revision and this process's generation it was read under, and when
   * the revision was last found unchanged (taken before reading it, so the copy never counts as
   * newer than it is).
   */
  let cached: { book: PriceBook; revision: number; generation: number; confirmedAt: number } | undefined;
  /**
   * The confirmation under way: callers share it rather than each sending a GetItem. Only those
   * of the same generation, though: one that started before this process loaded a file may
   * answer the copy without it.
   */
  let refreshing: { generation: number; book: Promise<PriceBook> } | undefined;

  /** The book, if confirmed less than `maxAgeMs` ago and this process has loaded no price file since. */
  function confirmedPriceBook(maxAgeMs: number): PriceBook | undefined {
    if (!cached || cached.generation !== operatorPricesGeneration(db)) return undefined;
    return now().getTime() - cached.confirmedAt < maxAgeMs ? cached.book : undefined;
  }

  /** Confirms the copy against the stored revision, reading the files again only if it moved. */
  async function refreshPriceBook(generation: number): Promise<PriceBook> {
    const checkedAt = now().getTime();
    // Read before the files: a load that overlaps the read counts as after it, and is read again.
    const revision = await readOperatorPricesRevision(db);
    const kept = cached;
    if (kept && kept.generation === generation && kept.revision === revision) {
      kept.confirmedAt = Math.max(kept.confirmedAt, checkedAt);
      return kept.book;
    }
    const loaded = await listOperatorPrices(db);
    const book = new PriceBook([...BUILTIN_PRICES]).extend(loaded);
    // A refresh of an earlier generation that ends last must not put back a copy older than the one kept.
    if (!cached || cached.generation <= generation) {
      cached = { book, revision, generation, confirmedAt: checkedAt };
    }
    return book;
  }

  function sharedRefresh(): Promise<PriceBook> {
    const generation = operatorPricesGeneration(db);
    if (refreshing?.generation === generation) return refreshing.book;
    const book = refreshPriceBook(generation);
    const entry = { generation, book };
    refreshing = entry;
    const done = () => {
      if (refreshing === entry) refreshing = undefined;
    };
    book.then(done, done);
    return book;
  }

  async function priceBook(): Promise<PriceBook> {
    return confirmedPriceBook(PRICE_BOOK_TTL_MS) ?? (await sharedRefresh());
  }

  /** The book to answer "no price" from: confirmed within `PRICES_RECHECK_MS`. */
  async function recheckedPriceBook(): Promise<PriceBook> {
    return confirmedPriceBook(PRICES_RECHECK_MS) ?? (await sharedRefresh());
  }

  function pricerOf(book: PriceBook, stored: StoredPriceOverride[]): TenantPricer {
    const overrides = new Map<string, StoredPriceOverride[]>();
    for (const override of canonicalOverrides(book, stored).sort(
      (a, b) => Date.parse(a.effective_from) - Date.parse(b.effective_from),
    )) {
      const key = `${override.provider}/${override.model.toLowerCase()}`;
      overrides.set(key, [...(overrides.get(key) ?? []), override]);
    }
    return {
      priceAt(provider, model, at) {
        const list = book.priceAt(provider, model, at);
        const override = overrideAt(book, overrides, provider, model, at.getTime());
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

    /**
     * The list prices: the built-in catalog extended by the operator's price files, no tenant's
     * override (an export shows what the tokens would have cost at list price).
     */
    listPrices: priceBook,

    /** The price in force for the tenant at `at`; with no provider, the first provider that prices the model. */
    async priceInForce(tenantId: string, query: { provider?: string | undefined; model: string; at: Date }) {
      const [book, stored] = await Promise.all([priceBook(), listPriceOverrides(db, tenantId)]);
      const find = (pricer: TenantPricer) => {
        for (const provider of query.provider ? [query.provider] : PROVIDER_SEARCH_ORDER) {
          const price = pricer.priceAt(provider, query.model, query.at);
          if (price) return price;
        }
        return undefined;
      };
      const price = find(pricerOf(book, stored));
      if (price) return price;
      const rechecked = await recheckedPriceBook();
      const found = rechecked === book ? undefined : find(pricerOf(rechecked, stored));
      if (found) return found;
      throw new NotFoundError(
        `No price for ${query.provider ? `${query.provider}/` : ''}${query.model} at ${query.at.toISOString()}.`,
        'PRICE_NOT_FOUND',
      );
    },

    /**
     * Keeps the tenant's terms for the model from `effective_from`, replacing the terms at that
     * instant (under any spelling of the instant or of the model's name). Refuses terms that can
     * never make a price.
     */
    async putOverride(tenantId: string, provider: string, model: string, override: PriceOverride) {
      let book = await priceBook();
      let name = overrideModelName(book, provider, model);
      let errors = unusableOverrideErrors(book, provider, name, override);
      if (errors.length > 0) {
        const rechecked = await recheckedPriceBook();
        if (rechecked !== book) {
          book = rechecked;
          name = overrideModelName(book, provider, model);
          errors = unusableOverrideErrors(book, provider, name, override);
        }
      }
      if (errors.length > 0) {
        throw new ValidationError(`These terms can never price ${provider}/${model}.`, errors);
      }
      const stored: StoredPriceOverride = {
        ...override,
        effective_from: canonicalInstant(override.effective_from),
        provider,
        model: name,
        created_at: now().toISOString(),
      };
      // Read before writing: only terms written before this one are replaced by it.
      const earlier = await listPriceOverrides(db, tenantId);
      await putPriceOverride(db, tenantId, stored);
      const key = termKey(provider, name, stored.effective_from);
      const otherSpellings = earlier.filter(
        (other) =>
          other.provider === provider &&
          (other.model !== stored.model || other.effective_from !== stored.effective_from) &&
          termKey(
            other.provider,
            overrideModelName(book, other.provider, other.model),
            canonicalInstant(other.effective_from),
          ) === key,
      );
      await deletePriceOverrides(db, tenantId, otherSpellings);
      estimateOverrides.delete(tenantId);
      return stored;
    },

    /** The tenant's terms, one per model and effective instant, in their canonical spelling. */
    async listOverrides(tenantId: string): Promise<StoredPriceOverride[]> {
      const [book, stored] = await Promise.all([priceBook(), listPriceOverrides(db, tenantId)]);
      return canonicalOverrides(book, stored).sort(
        (a, b) =>
          a.provider.localeCompare(b.provider) ||
          a.model.toLowerCase().localeCompare(b.model.toLowerCase()) ||
          a.effective_from.localeCompare(b.effective_from),
      );
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
      // Storing them moves this process's generation on: the book kept over this table (pricing's
      // and the exports' list prices) is read again on its next use, even by a read that overlapped.
      // It raises the stored revision too, which other processes confirm their copies against.
      await putOperatorPrices(db, loadId, prices);
      return { load_id: loadId, loaded: prices.length, skipped };
    },
  };
}
export type PricingService = ReturnType<typeof createPricingService>;
