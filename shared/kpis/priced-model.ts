import { BUILTIN_PRICES } from '../pricing/catalog.js';
import { modelNameCandidates } from '../pricing/model-names.js';
import { type Attribute, MODEL_ATTRIBUTE } from './cells.js';

/**
 * The one name KPIs know a model by: its priced name, the name the built-in catalog prices it
 * under (`gpt-4o-2024-08-06` → `gpt-4o`, `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`),
 * found as pricing finds it (the name as sent first, then each stripped form in turn), so a
 * snapshot with a price of its own (`gpt-4o-2024-05-13`) keeps its name. A name the catalog does
 * not price is kept as sent.
 *
 * `filter[model]`, `group_by=model`, a key's `restrict.model` and the bills' models all go
 * through it, whatever metrics a query asks, so `cost` never depends on the other metrics. It
 * does not depend on the provider: the cells keep a model by itself (per hour, with no provider),
 * and a name must fall in the same group whether or not the query also groups by provider.
 * It reads the built-in catalog only (as the reconciliation does), so it is the same on every
 * instance and at every time, whatever price files are loaded.
 *
 * The cells keep models as sent; this is applied when they are read (each cell item holds every
 * model of its day or hour), so nothing stored changes.
 */
const catalogNames = new Map<string, string>();
for (const price of BUILTIN_PRICES) {
  const key = price.model.toLowerCase();
  if (!catalogNames.has(key)) catalogNames.set(key, price.model);
}

const MAX_CACHED = 10_000;
const cache = new Map<string, string>();

export function pricedModelName(model: string): string {
  const cached = cache.get(model);
  if (cached !== undefined) return cached;
  let priced = model;
  for (const candidate of modelNameCandidates(model)) {
    const name = catalogNames.get(candidate.toLowerCase());
    if (name !== undefined) {
      priced = name;
      break;
    }
  }
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(model, priced);
  return priced;
}

/** A value read from the cells as KPIs name it: a model by its priced name, the rest as stored. */
export const kpiValueOf = (attribute: Attribute, stored: string): string =>
  attribute === MODEL_ATTRIBUTE ? pricedModelName(stored) : stored;
