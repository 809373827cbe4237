import type { Db } from '../db/client.js';
import { type Decimal, ZERO } from '../money/money.js';
import { canonicalModelName } from '../pricing/model-names.js';
import type { BillingProvider } from './lines.js';
import { allConnections, queryBilledLines } from './repository.js';

/**
 * What the providers billed, per UTC day, provider and catalog model: read by the reconciliation
 * and by the `billed_cost` KPI metric (a module of its own so the KPI query can use it without
 * importing the reconciliation, which reads the KPI query).
 */
const DAY_MS = 86_400_000;
const dayOf = (epochMs: number) => new Date(epochMs).toISOString().slice(0, 10);

export interface BilledDay {
  day: string;
  provider: BillingProvider;
  /** The catalog name of the billed model; null for charges of no model (tool calls, storage…). */
  model: string | null;
  billed_cost: Decimal;
}

/**
 * The provider-billed cost per UTC day, provider and model for the days that [from, to) touches,
 * over the tenant's live connections: what the `billed_cost` KPI metric reads. A model filter is
 * the caller's: the KPI query takes a bill's model by its priced name, the reconciliation by
 * its catalog name.
 */
export async function billedCost(
  db: Db,
  tenantId: string,
  query: { from: Date; to: Date; provider?: string | undefined },
): Promise<BilledDay[]> {
  const fromDay = dayOf(Math.floor(query.from.getTime() / DAY_MS) * DAY_MS);
  const toDay = dayOf(Math.ceil(query.to.getTime() / DAY_MS) * DAY_MS);
  const [connections, lines] = await Promise.all([
    allConnections(db, tenantId),
    queryBilledLines(db, tenantId, fromDay, toDay),
  ]);
  // Lines of a deleted connection may outlive it briefly; they are never counted.
  const live = new Set(connections.map((connection) => connection.id));
  const sums = new Map<string, BilledDay>();
  for (const line of lines) {
    if (line.kind !== 'cost' || line.amount === null || !live.has(line.connection_id)) continue;
    if (query.provider !== undefined && line.provider !== query.provider) continue;
    const model =
      line.model === null || line.token_type === null ? null : canonicalModelName(line.provider, line.model);
    const key = `${line.day}\u0000${line.provider}\u0000${model ?? ''}`;
    const entry = sums.get(key) ?? { day: line.day, provider: line.provider, model, billed_cost: ZERO };
    entry.billed_cost = entry.billed_cost.plus(line.amount);
    sums.set(key, entry);
  }
  return [...sums.values()].sort(
    (a, b) =>
      a.day.localeCompare(b.day) ||
      a.provider.localeCompare(b.provider) ||
      (a.model ?? '\uffff').localeCompare(b.model ?? '\uffff'),
  );
}
