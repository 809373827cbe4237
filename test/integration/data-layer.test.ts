import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deleteApiKey,
  getApiKey,
  listApiKeys,
  putApiKey,
  type StoredApiKey,
} from '../../shared/api-keys/repository.js';
import { ConflictError } from '../../shared/errors/errors.js';
import { newId } from '../../shared/ids.js';
import { getTenant, listTenants, putTenant } from '../../shared/tenants/repository.js';
import { createTestStore, ENGINES, type TestStore } from '../helpers/tollgate.js';

const storedKey = (tenantId: string, overrides: Partial<StoredApiKey> = {}): StoredApiKey => ({
  id: newId('key'),
  tenant_id: tenantId,
  name: 'k',
  scopes: ['read'],
  restrict: null,
  hint: 'tg_…abcd',
  created_at: '2026-11-29T00:00:00.000Z',
  key_hash: 'a'.repeat(64),
  ...overrides,
});

// The same repository behaviour on AWS's emulator and on the embedded engine `npm start` uses.
describe.each(ENGINES)('repositories on %s', (engine) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(engine);
  });
  afterAll(() => store.cleanup());

  it('stores a tenant once and reads it back', async () => {
    const tenant = { id: newId('ten'), name: 'Acme', created_at: '2026-11-29T00:00:00.000Z' };
    await putTenant(store.db, tenant);
    expect(await getTenant(store.db, tenant.id)).toEqual(tenant);
    // Another tenant under the same id is refused; the same one again is a retried write.
    await expect(putTenant(store.db, { ...tenant, name: 'Other' })).rejects.toBeInstanceOf(ConflictError);
    await putTenant(store.db, tenant);
    expect(await getTenant(store.db, tenant.id)).toEqual(tenant);
    expect(await getTenant(store.db, newId('ten'))).toBeUndefined();
  });

  it('pages through tenants without loss or repetition', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const id = newId('ten');
      ids.push(id);
      await putTenant(store.db, { id, name: `t${i}`, created_at: '2026-11-29T00:00:00.000Z' });
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listTenants(store.db, { limit: 3, cursor });
      seen.push(...page.data.map((tenant) => tenant.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen.filter((id) => ids.includes(id))).toEqual(ids);
  });

  it("keeps each tenant's keys in its own partition", async () => {
    const alpha = newId('ten');
    const beta = newId('ten');
    const alphaKey = storedKey(alpha, { restrict: { customer: 'acme' } });
    const betaKey = storedKey(beta);
    await putApiKey(store.db, alpha, alphaKey);
    await putApiKey(store.db, beta, betaKey);

    expect(await getApiKey(store.db, alpha, alphaKey.id)).toEqual(alphaKey);
    expect(await getApiKey(store.db, alpha, betaKey.id)).toBeUndefined();
    expect((await listApiKeys(store.db, alpha, { limit: 50 })).data).toEqual([alphaKey]);

    expect(await deleteApiKey(store.db, alpha, betaKey.id)).toBe(false);
    expect(await getApiKey(store.db, beta, betaKey.id)).toEqual(betaKey);
    expect(await deleteApiKey(store.db, beta, betaKey.id)).toBe(true);
    expect(await getApiKey(store.db, beta, betaKey.id)).toBeUndefined();
    // Another key under the same id is refused; the same one again is a retried write.
    await expect(
      putApiKey(store.db, alpha, { ...alphaKey, key_hash: 'b'.repeat(64) }),
    ).rejects.toBeInstanceOf(ConflictError);
    await putApiKey(store.db, alpha, alphaKey);
    expect(await getApiKey(store.db, alpha, alphaKey.id)).toEqual(alphaKey);
  });
});
