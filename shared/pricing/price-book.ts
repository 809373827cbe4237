import { modelNameCandidates } from './model-names.js';
import { type ModelPrice, ModelPriceSchema } from './types.js';

export interface PriceBookOptions {
  /**
   * Price an Azure OpenAI model at OpenAI's list price when the book has no Azure entry for it
   * (default true). Azure's global deployments are priced like OpenAI's API; the price id that
   * gets recorded (`…:openai/…`) shows the fallback was used.
   */
  azureFallsBackToOpenAI?: boolean;
}

interface Slot {
  price: ModelPrice;
  from: number;
  order: number;
}

/**
 * Effective-dated prices of many models. The price in force at a time is the entry with the
 * latest `effective_from` not after it; among entries with the same `effective_from` the one
 * added last wins, so an operator's price file loaded after the built-ins overrides them.
 */
export class PriceBook {
  private readonly slots = new Map<string, Slot[]>();
  private readonly all: ModelPrice[];
  private readonly azureFallsBackToOpenAI: boolean;

  constructor(entries: ModelPrice[], options: PriceBookOptions = {}) {
    this.azureFallsBackToOpenAI = options.azureFallsBackToOpenAI ?? true;
    this.all = entries.map((entry, order) => {
      const parsed = ModelPriceSchema.safeParse(entry);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new RangeError(`invalid price ${entry.price_id}: ${issue?.path.join('.')} ${issue?.message}`);
      }
      const slot: Slot = { price: entry, from: Date.parse(entry.effective_from), order };
      const key = slotKey(entry.provider, entry.model);
      const list = this.slots.get(key);
      if (list) list.push(slot);
      else this.slots.set(key, [slot]);
      return entry;
    });
    for (const list of this.slots.values()) list.sort((a, b) => a.from - b.from || a.order - b.order);
  }

  /** A new book with `entries` added after this one's (so they win ties). */
  extend(entries: ModelPrice[]): PriceBook {
    return new PriceBook([...this.all, ...entries], { azureFallsBackToOpenAI: this.azureFallsBackToOpenAI });
  }

  /** Every entry, in the order added. */
  entries(): readonly ModelPrice[] {
    return this.all;
  }

  /**
   * The price in force for the model at `at`. The name is resolved through its candidates
   * (model-names.ts), most specific first; a candidate with no price in force yet gives way
   * to the next, so a snapshot priced only from some date is priced by its alias before it.
   */
  priceAt(provider: string, model: string, at: Date): ModelPrice | undefined {
    const time = at.getTime();
    for (const key of this.lookupKeys(provider, model)) {
      const list = this.slots.get(key);
      if (!list) continue;
      const inForce = latestAtOrBefore(list, time);
      if (inForce) return inForce.price;
    }
    return undefined;
  }

  /** All prices of the model name the input resolves to, oldest first (ties in the order added). */
  history(provider: string, model: string): ModelPrice[] {
    for (const key of this.lookupKeys(provider, model)) {
      const list = this.slots.get(key);
      if (list) return list.map((slot) => slot.price);
    }
    return [];
  }

  /** The provider and priced model name the input resolves to, whatever the time; undefined when unpriced. */
  resolve(provider: string, model: string): { provider: string; model: string } | undefined {
    for (const key of this.lookupKeys(provider, model)) {
      const first = this.slots.get(key)?.[0];
      if (first) return { provider: first.price.provider, model: first.price.model };
    }
    return undefined;
  }

  private lookupKeys(provider: string, model: string): string[] {
    const candidates = modelNameCandidates(model);
    const keys = candidates.map((candidate) => slotKey(provider, candidate));
    if (provider === 'azure' && this.azureFallsBackToOpenAI) {
      keys.push(...candidates.map((candidate) => slotKey('openai', candidate)));
    }
    return keys;
  }
}

function slotKey(provider: string, model: string): string {
  return `${provider.toLowerCase()}\u0000${model.toLowerCase()}`;
}

function latestAtOrBefore(list: Slot[], time: number): Slot | undefined {
  let found: Slot | undefined;
  for (const slot of list) {
    if (slot.from > time) break;
    found = slot;
  }
  return found;
}
