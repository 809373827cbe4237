import type { Db } from '../db/client.js';
import { ServiceUnavailableError } from '../errors/errors.js';
import type { Logger } from '../observability/logger.js';
import { pullAnthropicCosts, pullAnthropicUsage } from './anthropic.js';
import { type DataKeyProvider, decryptCredential } from './credentials.js';
import type { BillingProvider, DayLines } from './lines.js';
import { type PullWindow, pullOpenAICosts, pullOpenAIUsage } from './openai.js';
import { type ProviderHttpOptions, ProviderRequestError } from './provider-http.js';
import {
  acquireSyncLease,
  type ReplaceCounts,
  recordSyncOutcome,
  replaceDayLines,
  type StoredConnection,
} from './repository.js';
import type { SyncSummary } from './schema.js';

/** What a billing pull needs from the runtime. */
export interface BillingPullDeps {
  db: Db;
  logger: Logger;
  keyProvider: DataKeyProvider;
  /** Operator configuration, never tenant input. */
  baseUrls: Record<BillingProvider, string>;
  http: ProviderHttpOptions;
  /** How far back a connection's first pull starts, and how many recent days every pull re-reads. */
  backfillDays: number;
  trailingDays: number;
  now: () => Date;
}

const DAY_MS = 86_400_000;
/** Longer than any pull should take; a crashed pull's lease expires by itself. */
const LEASE_MS = 15 * 60_000;

const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`);
const dayOf = (epochMs: number) => new Date(epochMs).toISOString().slice(0, 10);

/**
 * The days a pull reads, [from, to): from the day after the last complete pull minus the
 * trailing window (costs settle and get corrected for a few days), through today. A new
 * connection starts `backfillDays` back.
 */
export function pullWindow(
  syncedThrough: string | null,
  now: Date,
  options: { backfillDays: number; trailingDays: number },
): { from: string; to: string; window: PullWindow } {
  const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  const start =
    syncedThrough === null
      ? today - (options.backfillDays - 1) * DAY_MS
      : Math.min(dayStart(syncedThrough), today) - (options.trailingDays - 1) * DAY_MS;
  const end = today + DAY_MS;
  return {
    from: dayOf(start),
    to: dayOf(end),
    window: { startTime: start / 1000, endTime: end / 1000 },
  };
}

const PULLERS: Record<
  BillingProvider,
  ((baseUrl: string, apiKey: string, window: PullWindow, http: ProviderHttpOptions) => Promise<DayLines[]>)[]
> = {
  // Costs first: they are what reconciliation needs most.
  openai: [pullOpenAICosts, pullOpenAIUsage],
  anthropic: [pullAnthropicCosts, pullAnthropicUsage],
};

/** A sync already running for this connection (another process or the schedule). */
export class SyncBusyError extends Error {
  override readonly name = 'SyncBusyError';
}

/**
 * Pulls one connection's bill for its window and stores it, replacing each day it received.
 * Each source is read to its last page before anything of it is stored, so a failure part-way
 * stores nothing of that source and the next pull (which starts from the same cursor) reads it
 * again. The outcome is recorded on the connection either way.
 */
export async function syncConnection(
  deps: BillingPullDeps,
  tenantId: string,
  connection: StoredConnection,
): Promise<SyncSummary> {
  const startedAt = deps.now();
  const leaseToken = await acquireSyncLease(
    deps.db,
    tenantId,
    connection.id,
    startedAt,
    new Date(startedAt.getTime() + LEASE_MS),
  );
  if (!leaseToken) throw new SyncBusyError(`a sync of ${connection.id} is already running`);

  const { from, to, window } = pullWindow(connection.synced_through, startedAt, deps);
  const totals: ReplaceCounts & { days: number } = { days: 0, lines: 0, added: 0, updated: 0, removed: 0 };
  let error: string | null = null;
  try {
    const apiKey = await decryptCredential(
      deps.keyProvider,
      { tenantId, connectionId: connection.id },
      connection.credential,
    ).catch((cause: unknown) => {
      if (cause instanceof ServiceUnavailableError) throw cause;
      throw new Error('the stored credential could not be decrypted; create the connection again');
    });
    for (const pull of PULLERS[connection.provider]) {
      const days = await pull(deps.baseUrls[connection.provider], apiKey, window, deps.http);
      const pulledAt = deps.now().toISOString();
      for (const day of days) {
        // Days outside the window (a provider answering more than asked) are not ours to replace.
        if (day.day < from || day.day >= to) continue;
        const counts = await replaceDayLines(deps.db, tenantId, connection, day, pulledAt);
        totals.days++;
        totals.lines += counts.lines;
        totals.added += counts.added;
        totals.updated += counts.updated;
        totals.removed += counts.removed;
      }
    }
  } catch (caught) {
    error = caught instanceof Error ? caught.message : 'sync failed';
    deps.logger.warn(
      {
        tenant_id: tenantId,
        connection_id: connection.id,
        provider: connection.provider,
        error,
        ...(caught instanceof ProviderRequestError && caught.endpoint ? { endpoint: caught.endpoint } : {}),
      },
      'billing pull failed',
    );
  }
  const summary: SyncSummary = {
    started_at: startedAt.toISOString(),
    finished_at: deps.now().toISOString(),
    outcome: error === null ? 'ok' : 'error',
    from,
    to,
    ...totals,
    error,
  };
  const recorded = await recordSyncOutcome(
    deps.db,
    tenantId,
    connection.id,
    leaseToken,
    summary,
    error === null ? dayOf(dayStart(to) - DAY_MS) : undefined,
  );
  if (!recorded) {
    deps.logger.warn(
      { tenant_id: tenantId, connection_id: connection.id, provider: connection.provider },
      'billing pull outlived its lease or its connection; its outcome is not recorded',
    );
  }
  return summary;
}
