import type { Db } from '../db/client.js';
import { BUILTIN_PRICES } from '../pricing/catalog.js';
import { PriceBook } from '../pricing/price-book.js';
import { listOperatorPrices, operatorPricesGeneration } from '../pricing/repository.js';

/**
 * Same freshness as the pricing service's own book: a loaded price file shows at once in the
 * process that loaded it, within 30 s in the others.
 */
const LIST_PRICES_TTL_MS = 30_000;

const cache = new WeakMap<Db, { book: PriceBook; loadedAt: number; generation: number }>();

/**
 * The list prices: the built-in catalog extended by the operator's price files, built the way
 * the pricing service builds its book but without any tenant's override, so an export can show
 * what the tokens would have cost at list price beside what the tenant pays.
 */
export async function listPriceBook(db: Db, now: () => Date = () => new Date()): Promise<PriceBook> {
  const cached = cache.get(db);
  const generation = operatorPricesGeneration(db);
  if (cached && cached.generation === generation && now().getTime() - cached.loadedAt < LIST_PRICES_TTL_MS) {
    return cached.book;
  }
  const book = new PriceBook([...BUILTIN_PRICES]).extend(await listOperatorPrices(db));
  cache.set(db, { book, loadedAt: now().getTime(), generation });
  return book;
}
