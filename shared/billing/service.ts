import { createHash } from 'node:crypto';
import type { EventBus } from '../bus/bus.js';
import type { Page, PageRequest } from '../db/pagination.js';
import { ConflictError, NotFoundError } from '../errors/errors.js';
import type { RunSeed } from '../idempotency/idempotency.js';
import { isId, newId, seededId } from '../ids.js';
import { flushOutbox } from '../kpis/notices.js';
import { loadOnce } from '../load-once.js';
import { encryptCredential } from './credentials.js';
import type { BillingProvider } from './lines.js';
import type { BillingPullDeps } from './pull.js';
import { reconcile, recordDriftNotices } from './reconciliation.js';
import {
  allConnections,
  claimProviderKey,
  deleteConnection,
  getBillingSettings,
  getConnection,
  listConnections,
  publicConnection,
  purgeConnectionLines,
  putBillingSettings,
  putConnection,
  releaseProviderKey,
  type StoredConnection,
} from './repository.js';
import type { CreateProviderConnection, ProviderConnection, SyncSummary } from './schema.js';

/**
 * The provider clients and their parsers load with the first sync, not at every cold start: the
 * API Lambda seldom pulls a bill (the billing-pull function does).
 */
const loadPull = loadOnce(() => import('./pull.js'));

const DAY_MS = 86_400_000;

/** How long a key's claim waits for its connection to be stored before another create may take it. */
const CLAIM_TAKEOVER_MS = 60_000;

/** Names a provider key without keeping it: the claim's key (as API keys are kept by their hash). */
const keyFingerprint = (apiKey: string) => createHash('sha256').update(apiKey).digest('base64url');
const dayOf = (epochMs: number) => new Date(epochMs).toISOString().slice(0, 10);

const notFound = (id: string) =>
  new NotFoundError(`Provider connection ${id} does not exist.`, 'PROVIDER_CONNECTION_NOT_FOUND');

export interface TenantSyncResult {
  connections: number;
  synced: SyncSummary[];
  failed: { connection_id: string; message: string }[];
  busy: number;
  drift_notices: number;
  notices_published: number;
}

export function createBillingService(deps: BillingPullDeps & { bus: EventBus }) {
  const { db } = deps;

  /**
   * Drift is judged on settled days only: costs for today and yesterday are still arriving, and
   * a partial bill would look like drift.
   */
  async function checkDrift(tenantId: string, from: string, provider?: BillingProvider) {
    const settledBefore = dayOf(Math.floor(deps.now().getTime() / DAY_MS) * DAY_MS - DAY_MS);
    const notices = await recordDriftNotices(db, tenantId, { from, to: settledBefore, provider }, deps.now());
    const published = await flushOutbox(db, tenantId, deps.bus);
    return { notices, published };
  }

  /**
   * Claims the key for the connection being created: the same key connected twice would count the
   * organization's bill twice. A claim whose connection no longer exists (deleted, or a create that
   * stopped before storing it) is taken over once it is older than a create can take.
   */
  async function claimKeyFor(tenantId: string, input: CreateProviderConnection, connectionId: string) {
    const claimedAt = deps.now();
    const claim = {
      provider: input.provider,
      fingerprint: keyFingerprint(input.api_key),
      connectionId,
      claimedAt: claimedAt.toISOString(),
    };
    let held = await claimProviderKey(db, tenantId, claim);
    for (let attempt = 0; held && attempt < 3; attempt++) {
      const holder = held.heldBy ? await getConnection(db, tenantId, held.heldBy) : undefined;
      if (holder) {
        throw new ConflictError(
          `This ${input.provider} key is already connected as ${holder.id}: connecting it again would count its bill twice.`,
          'PROVIDER_KEY_CONNECTED',
        );
      }
      const inProgress =
        held.heldBy !== '' && claimedAt.getTime() - Date.parse(held.claimedAt) < CLAIM_TAKEOVER_MS;
      if (inProgress) {
        throw new ConflictError(
          `This ${input.provider} key is being connected by another request; retry in a minute.`,
          'PROVIDER_KEY_CONNECTED',
        );
      }
      held = await claimProviderKey(db, tenantId, claim, held.heldBy || undefined);
    }
    if (held)
      throw new ConflictError(`This ${input.provider} key is already connected.`, 'PROVIDER_KEY_CONNECTED');
  }

  async function stored(tenantId: string, connectionId: string): Promise<StoredConnection> {
    if (!isId('pcn', connectionId)) throw notFound(connectionId);
    const connection = await getConnection(db, tenantId, connectionId);
    if (!connection) throw notFound(connectionId);
    return connection;
  }

  return {
    /**
     * Creates a connection. With `run` (a request under an Idempotency-Key) its id is drawn from
     * the run's seed, so a rerun of a request whose answer was not kept finds the connection it
     * created.
     */
    async create(
      tenantId: string,
      input: CreateProviderConnection,
      run?: RunSeed,
    ): Promise<ProviderConnection> {
      const id = run ? seededId('pcn', run.firstRunAt, `${tenantId} ${run.seed}`) : newId('pcn');
      if (run) {
        const earlier = await getConnection(db, tenantId, id);
        if (earlier) return publicConnection(earlier);
      }
      await claimKeyFor(tenantId, input, id);
      const credential = await encryptCredential(
        deps.keyProvider,
        { tenantId, connectionId: id },
        input.api_key,
      );
      const connection: StoredConnection = {
        id,
        tenant_id: tenantId,
        provider: input.provider,
        name: input.name ?? null,
        key_hint: `…${input.api_key.slice(-4)}`,
        key_fingerprint: keyFingerprint(input.api_key),
        created_at: deps.now().toISOString(),
        status: 'pending',
        synced_through: null,
        last_success_at: null,
        last_error: null,
        last_sync: null,
        credential,
        lease_until: null,
      };
      await putConnection(db, tenantId, connection);
      return publicConnection(connection);
    },

    async list(tenantId: string, page: PageRequest): Promise<Page<ProviderConnection>> {
      const result = await listConnections(db, tenantId, page);
      return { data: result.data.map(publicConnection), next_cursor: result.next_cursor };
    },

    async get(tenantId: string, connectionId: string): Promise<ProviderConnection> {
      return publicConnection(await stored(tenantId, connectionId));
    },

    /** Deletes the connection and its credential at once, then its billed lines. */
    async remove(tenantId: string, connectionId: string): Promise<void> {
      const connection = isId('pcn', connectionId)
        ? await getConnection(db, tenantId, connectionId)
        : undefined;
      if (!connection || !(await deleteConnection(db, tenantId, connectionId))) throw notFound(connectionId);
      if (connection.key_fingerprint) {
        await releaseProviderKey(db, tenantId, {
          provider: connection.provider,
          fingerprint: connection.key_fingerprint,
          connectionId,
        });
      }
      // Reconciliation already ignores lines of a connection that no longer exists; this only cleans up.
      await purgeConnectionLines(db, tenantId, connectionId);
    },

    /** Pulls one connection now; its outcome is on the connection it returns. */
    async syncNow(tenantId: string, connectionId: string) {
      const connection = await stored(tenantId, connectionId);
      const { syncConnection, SyncBusyError } = await loadPull();
      let summary: SyncSummary;
      try {
        summary = await syncConnection(deps, tenantId, connection);
      } catch (error) {
        if (error instanceof SyncBusyError)
          throw new ConflictError('A sync of this connection is already running.', 'SYNC_RUNNING');
        throw error;
      }
      if (summary.outcome === 'ok') await checkDrift(tenantId, summary.from, connection.provider);
      return { connection: publicConnection(await stored(tenantId, connectionId)), sync: summary };
    },

    /** Pulls every connection of a tenant, one after another; one failing does not stop the rest. */
    async syncTenant(tenantId: string): Promise<TenantSyncResult> {
      const connections = await allConnections(db, tenantId);
      const result: TenantSyncResult = {
        connections: connections.length,
        synced: [],
        failed: [],
        busy: 0,
        drift_notices: 0,
        notices_published: 0,
      };
      const { syncConnection, SyncBusyError } = await loadPull();
      let earliest: string | undefined;
      for (const connection of connections) {
        try {
          const summary = await syncConnection(deps, tenantId, connection);
          if (summary.outcome === 'ok') {
            result.synced.push(summary);
            if (earliest === undefined || summary.from < earliest) earliest = summary.from;
          } else {
            result.failed.push({ connection_id: connection.id, message: summary.error ?? 'sync failed' });
          }
        } catch (error) {
          if (error instanceof SyncBusyError) {
            result.busy++;
            continue;
          }
          deps.logger.error(
            { err: error, tenant_id: tenantId, connection_id: connection.id },
            'billing sync failed',
          );
          result.failed.push({
            connection_id: connection.id,
            message: 'sync failed; retried on the next run',
          });
        }
      }
      if (earliest !== undefined) {
        const drift = await checkDrift(tenantId, earliest);
        result.drift_notices = drift.notices;
        result.notices_published = drift.published;
      }
      return result;
    },

    async reconciliation(tenantId: string, query: { from: string; to: string; provider?: BillingProvider }) {
      const { exact: _exact, ...result } = await reconcile(db, tenantId, query);
      return result;
    },

    getSettings: (tenantId: string) => getBillingSettings(db, tenantId),
    putSettings: (tenantId: string, settings: { drift_threshold_pct: string }) =>
      putBillingSettings(db, tenantId, settings, deps.now()),
  };
}

export type BillingService = ReturnType<typeof createBillingService>;
