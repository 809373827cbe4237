import type { Db } from '../db/client.js';
import type { Page, PageRequest } from '../db/pagination.js';
import { ConflictError, NotFoundError } from '../errors/errors.js';
import { ExpiringCache } from '../expiring-cache.js';
import { newId } from '../ids.js';
import { listAdminKey, unlistAdminKey } from './admin-key-guard.js';
import { deleteApiKey, getApiKey, listApiKeys, putApiKey, type StoredApiKey } from './repository.js';
import type { ApiKey, CreateApiKey, CreatedApiKey, Restrict, Scope } from './schema.js';
import { hashKey, keyHint, keysMatch, mintTenantKey, parseTenantKey } from './secrets.js';

/** Who is calling: the operator, or a tenant key with its scopes and dimension restriction. */
export type Principal =
  | { kind: 'operator' }
  | { kind: 'tenant'; tenantId: string; keyId: string; scopes: Scope[]; restrict: Restrict | null };

function toPublic(stored: StoredApiKey): ApiKey {
  return {
    id: stored.id,
    name: stored.name,
    scopes: stored.scopes,
    restrict: stored.restrict,
    hint: stored.hint,
    created_at: stored.created_at,
  };
}

export interface ApiKeyServiceOptions {
  now?: () => Date;
  /**
   * How long a key read from the table authenticates without another read (0: every request
   * reads). A revocation takes effect at once in the process that made it, and within this
   * time in every other one (other Lambda containers).
   */
  cacheTtlMs?: number;
  /** Keys held at most; the oldest entry goes first. */
  cacheMaxEntries?: number;
}

export function createApiKeyService(db: Db, options: ApiKeyServiceOptions = {}) {
  const now = options.now ?? (() => new Date());
  // Only live keys are held; the presented secret is still compared with the hash on every request.
  const cache = new ExpiringCache<StoredApiKey>(options.cacheTtlMs ?? 0, options.cacheMaxEntries ?? 10_000);
  const cacheId = (tenantId: string, keyId: string) => `${tenantId}#${keyId}`;
  /**
   * Keys revoked by this instance, for twice the cache time: longer than any entry a read that
   * raced the revocation can leave in the cache.
   */
  const revokedHere = new ExpiringCache<true>(
    2 * (options.cacheTtlMs ?? 0),
    options.cacheMaxEntries ?? 10_000,
  );
  return {
    /** Mints a key; the returned `key` is the only time the secret exists outside its hash. */
    async create(tenantId: string, input: CreateApiKey): Promise<CreatedApiKey> {
      const createdAt = now();
      const id = newId('key', createdAt.getTime());
      const key = mintTenantKey(tenantId, id);
      const stored: StoredApiKey = {
        id,
        tenant_id: tenantId,
        name: input.name,
        scopes: input.scopes,
        restrict: input.restrict ?? null,
        hint: keyHint(key),
        created_at: createdAt.toISOString(),
        key_hash: hashKey(key),
      };
      await putApiKey(db, tenantId, stored);
      // Listed after it is written, so that the guard lists live keys only (admin-key-guard.ts).
      // Not listed only when it was revoked in the meantime: then it is gone, as it should be.
      if (stored.scopes.includes('admin')) await listAdminKey(db, tenantId, id);
      return { ...toPublic(stored), key };
    },

    async list(tenantId: string, page: PageRequest): Promise<Page<ApiKey>> {
      const result = await listApiKeys(db, tenantId, page);
      return { data: result.data.map(toPublic), next_cursor: result.next_cursor };
    },

    /**
     * Revokes a key, unless it is the tenant's last key with the `admin` scope: without one the
     * tenant could no longer manage its keys (only the operator could issue it one again).
     */
    async revoke(tenantId: string, keyId: string): Promise<void> {
      const notFound = () => new NotFoundError(`No API key ${keyId}.`, 'API_KEY_NOT_FOUND');
      cache.delete(cacheId(tenantId, keyId));
      const apiKey = await getApiKey(db, tenantId, keyId);
      if (!apiKey) throw notFound();
      if (
        apiKey.scopes.includes('admin') &&
        (await unlistAdminKey(db, tenantId, keyId, now().getTime())) === 'last'
      ) {
        throw new ConflictError(
          `API key ${keyId} is the tenant's last active key with the "admin" scope: revoking it would leave no key that can manage keys. Create another key with the "admin" scope first (POST /v1/api-keys), then revoke this one; a tenant left without one can ask the operator to issue one.`,
          'LAST_ADMIN_KEY',
        );
      }
      if (!(await deleteApiKey(db, tenantId, keyId))) throw notFound();
      // A request with this key that read it before the delete may put it back in the cache
      // after; remembering the revocation here refuses it at once, however the reads interleave.
      revokedHere.set(cacheId(tenantId, keyId), true, now().getTime());
      cache.delete(cacheId(tenantId, keyId));
    },

    /** The tenant principal a presented key stands for, or undefined when it is not a live key. */
    async authenticate(presented: string): Promise<Extract<Principal, { kind: 'tenant' }> | undefined> {
      const parsed = parseTenantKey(presented);
      if (!parsed) return undefined;
      const id = cacheId(parsed.tenantId, parsed.keyId);
      const nowMs = now().getTime();
      let stored = cache.get(id, nowMs);
      if (!stored) {
        stored = await getApiKey(db, parsed.tenantId, parsed.keyId);
        if (stored) cache.set(id, stored, nowMs);
      }
      if (!stored || !keysMatch(presented, stored.key_hash)) return undefined;
      if (revokedHere.get(id, now().getTime())) return undefined;
      return {
        kind: 'tenant',
        tenantId: stored.tenant_id,
        keyId: stored.id,
        scopes: stored.scopes,
        restrict: stored.restrict,
      };
    },
  };
}
export type ApiKeyService = ReturnType<typeof createApiKeyService>;
