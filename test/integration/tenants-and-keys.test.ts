import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putApiKey } from '../../shared/api-keys/repository.js';
import { hashKey, keyHint, mintTenantKey } from '../../shared/api-keys/secrets.js';
import { tenantPartition } from '../../shared/db/keys.js';
import { newId } from '../../shared/ids.js';
import type { Runtime } from '../../shared/runtime.js';
import { putTenant } from '../../shared/tenants/repository.js';
import { delayFirstWrite, loseFirstAnswer } from '../helpers/lost-answer.js';
import {
  createTestTollgate,
  ENGINES,
  OPERATOR_KEY,
  type TestResponse,
  type TestTollgate,
} from '../helpers/tollgate.js';

let tollgate: TestTollgate;
beforeAll(async () => {
  tollgate = await createTestTollgate();
});
afterAll(() => tollgate.cleanup());

describe('tenants (operator)', () => {
  it('creates a tenant with a first key that carries every scope and is shown once', async () => {
    const response = await tollgate.request('POST', '/v1/tenants', {
      key: OPERATOR_KEY,
      body: { name: 'Acme Support' },
    });
    expect(response.status).toBe(201);
    const tenant = await response.json();
    expect(tenant).toMatchObject({ name: 'Acme Support', api_key: { scopes: ['ingest', 'read', 'admin'] } });
    expect(tenant.id).toMatch(/^ten_[0-9A-Z]{26}$/);
    expect(tenant.api_key.id).toMatch(/^key_[0-9A-Z]{26}$/);
    expect(tenant.api_key.key).toMatch(/^tg_/);

    const fetched = await tollgate.request('GET', `/v1/tenants/${tenant.id}`, { key: OPERATOR_KEY });
    expect(fetched.status).toBe(200);
    expect(await fetched.json()).toEqual({
      id: tenant.id,
      name: 'Acme Support',
      created_at: tenant.created_at,
    });

    const keys = await (await tollgate.request('GET', '/v1/api-keys', { key: tenant.api_key.key })).json();
    expect(JSON.stringify(keys)).not.toContain(tenant.api_key.key);
    expect(keys.data).toEqual([
      expect.objectContaining({ id: tenant.api_key.id, scopes: ['ingest', 'read', 'admin'], restrict: null }),
    ]);
  });

  it.each([
    ['tenant', 'tenant'],
    ['first API key', 'api_key'],
  ])(
    'creates a tenant whose %s write lost its answer (the SDK retried it), instead of a 409',
    async (_, entity) => {
      const name = `Lost answer: ${entity}`;
      const losing = loseFirstAnswer(
        tollgate.runtime.db,
        (write) => write.commandName === 'PutItemCommand' && write.Item?.entity?.S === entity,
      );
      let response: Response;
      try {
        response = await tollgate.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { name } });
      } finally {
        losing.restore();
      }
      expect(losing.lost()).toBe(1);
      expect(response.status).toBe(201);
      const tenant = (await response.json()) as { name: string; api_key: { id: string; key: string } };
      expect(tenant).toMatchObject({ name });
      // The key works and is the tenant's only one.
      const keys = await tollgate.request('GET', '/v1/api-keys', { key: tenant.api_key.key });
      expect(keys.status).toBe(200);
      expect(((await keys.json()) as { data: unknown[] }).data).toEqual([
        expect.objectContaining({ id: tenant.api_key.id }),
      ]);
    },
  );

  it('lists tenants in pages, oldest first, following the cursor to the end', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await tollgate.createTenant(`Paged ${i}`)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const page = await (await tollgate.request('GET', `/v1/tenants${query}`, { key: OPERATOR_KEY })).json();
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((tenant: { id: string }) => tenant.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.filter((id) => created.includes(id))).toEqual(created);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('answers 400 INVALID_CURSOR, not a 500, to a cursor of another list', async () => {
    const t = await tollgate.createTenant('Cursors');
    for (const name of ['a', 'b', 'c']) {
      const created = await tollgate.request('POST', '/v1/api-keys', {
        key: t.key,
        body: { name, scopes: ['read'] },
      });
      expect(created.status).toBe(201);
    }
    const keysPage = await (await tollgate.request('GET', '/v1/api-keys?limit=1', { key: t.key })).json();
    const tenantsPage = await (
      await tollgate.request('GET', '/v1/tenants?limit=1', { key: OPERATOR_KEY })
    ).json();
    const crafted = Buffer.from(
      JSON.stringify({ pk: `v1#tenant#${t.id}`, sk: 'v1#api-key#a', zz: '1' }),
      'utf8',
    ).toString('base64url');
    for (const [path, key] of [
      [`/v1/webhook-endpoints?cursor=${keysPage.next_cursor}`, t.key],
      [`/v1/api-keys?cursor=${crafted}`, t.key],
      [`/v1/api-keys?cursor=${tenantsPage.next_cursor}`, t.key],
      [`/v1/tenants?cursor=${keysPage.next_cursor}`, OPERATOR_KEY],
    ] as const) {
      const response = await tollgate.request('GET', path, { key });
      expect(response.status, path).toBe(400);
      expect((await response.json()).code, path).toBe('INVALID_CURSOR');
    }
  });

  it('answers 404 with a problem for an unknown tenant', async () => {
    const response = await tollgate.request('GET', '/v1/tenants/ten_01JDQ7Z5M2X9K3V4W6Y8A0B1C2', {
      key: OPERATOR_KEY,
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 404, code: 'TENANT_NOT_FOUND' });
  });

  it('refuses a tenant key on operator routes (403) and a missing key (401)', async () => {
    const { key } = await tollgate.createTenant();
    expect((await tollgate.request('GET', '/v1/tenants', { key })).status).toBe(403);
    expect((await tollgate.request('GET', '/v1/tenants')).status).toBe(401);
    expect(
      (await tollgate.request('GET', '/v1/tenants', { key: 'tgop_wrong-operator-key-000000000000' })).status,
    ).toBe(401);
  });

  it('rejects an invalid tenant body with field errors', async () => {
    const response = await tollgate.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { name: '' } });
    expect(response.status).toBe(400);
    const problem = await response.json();
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors).toEqual([expect.objectContaining({ path: 'name' })]);
  });
});

describe('tenant API keys', () => {
  it('mints a read-only key that is refused where it lacks the scope', async () => {
    const tenant = await tollgate.createTenant();
    const reader = await tollgate.mintKey(tenant.key, { name: 'reader', scopes: ['read'] });
    expect(reader.key).toMatch(/^tg_/);

    const refused = await tollgate.request('POST', '/v1/api-keys', {
      key: reader.key,
      body: { name: 'escalation', scopes: ['admin'] },
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: 'INSUFFICIENT_SCOPE', status: 403 });
  });

  it("answers 404 on another tenant's key id, and leaves that key working", async () => {
    const alpha = await tollgate.createTenant('Alpha');
    const beta = await tollgate.createTenant('Beta');
    const betaReader = await tollgate.mintKey(beta.key, { name: 'beta reader', scopes: ['read'] });

    const response = await tollgate.request('DELETE', `/v1/api-keys/${betaReader.id}`, { key: alpha.key });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 'API_KEY_NOT_FOUND' });

    const betaKeys = await (await tollgate.request('GET', '/v1/api-keys', { key: beta.key })).json();
    expect(betaKeys.data.map((key: { id: string }) => key.id)).toContain(betaReader.id);
    const alphaKeys = await (await tollgate.request('GET', '/v1/api-keys', { key: alpha.key })).json();
    expect(alphaKeys.data.map((key: { id: string }) => key.id)).not.toContain(betaReader.id);
  });

  it('revokes a key at once', async () => {
    const tenant = await tollgate.createTenant();
    const admin = await tollgate.mintKey(tenant.key, { name: 'second admin', scopes: ['admin'] });
    expect((await tollgate.request('GET', '/v1/api-keys', { key: admin.key })).status).toBe(200);

    expect((await tollgate.request('DELETE', `/v1/api-keys/${admin.id}`, { key: tenant.key })).status).toBe(
      204,
    );
    const after = await tollgate.request('GET', '/v1/api-keys', { key: admin.key });
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await tollgate.request('DELETE', `/v1/api-keys/${admin.id}`, { key: tenant.key })).status).toBe(
      404,
    );
  });

  it('revokes at once a key in use while it is revoked, whatever request read it meanwhile', async () => {
    const cached = await createTestTollgate({
      store: tollgate.store,
      env: { TOLLGATE_API_KEY_CACHE_SECONDS: '5' },
    });
    try {
      const tenant = await cached.createTenant();
      const admin = await cached.mintKey(tenant.key, { name: 'leaked', scopes: ['admin'] });
      // The key's delete is held back; a request with the key comes in meanwhile, reads the key
      // (still stored) and keeps it in the instance's cache.
      let readMeanwhile: number | undefined;
      const clients = [cached.store.db.client, cached.store.db.exactClient];
      for (const client of clients) {
        client.middlewareStack.add(
          (next, context) => async (args) => {
            const input = args.input as { Key?: { sk?: string } };
            if (
              context.commandName === 'DeleteItemCommand' &&
              input.Key?.sk?.endsWith(admin.id) &&
              readMeanwhile === undefined
            ) {
              readMeanwhile = (await cached.request('GET', '/v1/api-keys', { key: admin.key })).status;
            }
            return next(args);
          },
          { step: 'initialize', name: 'useDuringRevoke' },
        );
      }
      let revoked: Response;
      try {
        revoked = await cached.request('DELETE', `/v1/api-keys/${admin.id}`, { key: tenant.key });
      } finally {
        for (const client of clients) client.middlewareStack.remove('useDuringRevoke');
      }
      expect(readMeanwhile).toBe(200);
      expect(revoked.status).toBe(204);
      expect((await cached.request('GET', '/v1/api-keys', { key: admin.key })).status).toBe(401);
    } finally {
      await cached.cleanup();
    }
  });

  it('a revocation whose answer was lost (the SDK retried it) answers 204', async () => {
    const tenant = await tollgate.createTenant();
    const admin = await tollgate.mintKey(tenant.key, { name: 'second admin', scopes: ['admin'] });
    const losing = loseFirstAnswer(
      tollgate.runtime.db,
      (write) => write.commandName === 'DeleteItemCommand' && write.Key?.sk?.S?.endsWith(admin.id) === true,
    );
    let response: Response;
    try {
      response = await tollgate.request('DELETE', `/v1/api-keys/${admin.id}`, { key: tenant.key });
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(response.status).toBe(204);
    expect((await tollgate.request('GET', '/v1/api-keys', { key: admin.key })).status).toBe(401);
  });

  it('stops a key revoked by another instance once its cache time has passed', async () => {
    // Two instances over one table, as two Lambda containers are: the second caches keys it reads.
    let clock = new Date('2026-11-29T12:00:00Z');
    const other = await createTestTollgate({
      store: tollgate.store,
      env: { TOLLGATE_API_KEY_CACHE_SECONDS: '5' },
      now: () => clock,
    });
    try {
      const tenant = await tollgate.createTenant();
      const reader = await tollgate.mintKey(tenant.key, { name: 'reader', scopes: ['read'] });
      expect((await other.request('GET', '/v1/api-keys', { key: reader.key })).status).toBe(403);

      expect(
        (await tollgate.request('DELETE', `/v1/api-keys/${reader.id}`, { key: tenant.key })).status,
      ).toBe(204);
      // Inside the cache time the other instance still knows the key (403: known, lacks `admin`)…
      clock = new Date(clock.getTime() + 4_000);
      expect((await other.request('GET', '/v1/api-keys', { key: reader.key })).status).toBe(403);
      // …and once it has passed, the key is read again and refused.
      clock = new Date(clock.getTime() + 1_001);
      expect((await other.request('GET', '/v1/api-keys', { key: reader.key })).status).toBe(401);
      // The cache holds live keys only: a forged secret for a cached key id is still refused.
      const admin = await tollgate.mintKey(tenant.key, { name: 'admin', scopes: ['admin'] });
      expect((await other.request('GET', '/v1/api-keys', { key: admin.key })).status).toBe(200);
      const forged = `${admin.key.slice(0, -43)}${'B'.repeat(43)}`;
      expect((await other.request('GET', '/v1/api-keys', { key: forged })).status).toBe(401);
    } finally {
      await other.cleanup();
    }
  });

  it('authenticates tenant keys without waiting for the operator key (read from Secrets Manager on Lambda)', async () => {
    const other = await createTestTollgate({ store: tollgate.store });
    try {
      const tenant = await other.createTenant();
      // An operator key source that never answers, as a Secrets Manager call stuck at cold start.
      (other.runtime as { operatorKey: Runtime['operatorKey'] }).operatorKey = {
        current: () => new Promise<undefined>(() => {}),
      };
      expect((await other.request('GET', '/v1/api-keys', { key: tenant.key })).status).toBe(200);
      expect(
        (await other.request('GET', '/v1/api-keys', { key: `${tenant.key.slice(0, -1)}x` })).status,
      ).toBe(401);
    } finally {
      await other.cleanup();
    }
  });

  it('refuses a forged key whose tenant and id are real but whose secret is not', async () => {
    const tenant = await tollgate.createTenant();
    const forged = `${tenant.key.slice(0, -43)}${'A'.repeat(43)}`;
    expect((await tollgate.request('GET', '/v1/api-keys', { key: forged })).status).toBe(401);
  });

  it('keeps restricted keys read-only, and records the restriction', async () => {
    const tenant = await tollgate.createTenant();
    const badRestrict = await tollgate.request('POST', '/v1/api-keys', {
      key: tenant.key,
      body: { name: 'x', scopes: ['ingest'], restrict: { customer: 'acme' } },
    });
    expect(badRestrict.status).toBe(400);
    expect((await badRestrict.json()).errors).toEqual([expect.objectContaining({ path: 'restrict' })]);

    const view = await tollgate.mintKey(tenant.key, {
      name: 'acme view',
      scopes: ['read'],
      restrict: { customer: 'acme' },
    });
    const keys = await (await tollgate.request('GET', '/v1/api-keys', { key: tenant.key })).json();
    expect(keys.data.find((key: { id: string }) => key.id === view.id)).toMatchObject({
      restrict: { customer: 'acme' },
    });
  });

  it('validates scopes', async () => {
    const tenant = await tollgate.createTenant();
    for (const scopes of [[], ['superuser'], ['read', 'read']]) {
      const response = await tollgate.request('POST', '/v1/api-keys', {
        key: tenant.key,
        body: { name: 'x', scopes },
      });
      expect(response.status).toBe(400);
    }
  });
});

describe('the last admin key', () => {
  it('refuses to revoke the last admin key (409 LAST_ADMIN_KEY), even by itself, and the key keeps working', async () => {
    const tenant = await tollgate.createTenant();
    const reader = await tollgate.mintKey(tenant.key, { name: 'reader', scopes: ['read', 'ingest'] });
    const ownId = (
      await (await tollgate.request('GET', '/v1/api-keys', { key: tenant.key })).json()
    ).data.find((key: { id: string }) => key.id !== reader.id).id;

    const refused = await tollgate.request('DELETE', `/v1/api-keys/${ownId}`, { key: tenant.key });
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    const problem = await refused.json();
    expect(problem).toMatchObject({ status: 409, code: 'LAST_ADMIN_KEY' });
    expect(problem.detail).toMatch(/another .*admin/i);

    expect((await tollgate.request('GET', '/v1/api-keys', { key: tenant.key })).status).toBe(200);
    // Keys without `admin` are not guarded.
    expect((await tollgate.request('DELETE', `/v1/api-keys/${reader.id}`, { key: tenant.key })).status).toBe(
      204,
    );
  });

  it('with two admin keys, revokes one (the calling key itself) and refuses the other', async () => {
    const tenant = await tollgate.createTenant();
    const firstId = (await (await tollgate.request('GET', '/v1/api-keys', { key: tenant.key })).json())
      .data[0].id;
    const second = await tollgate.mintKey(tenant.key, { name: 'second admin', scopes: ['admin'] });

    expect((await tollgate.request('DELETE', `/v1/api-keys/${firstId}`, { key: tenant.key })).status).toBe(
      204,
    );
    expect((await tollgate.request('GET', '/v1/api-keys', { key: tenant.key })).status).toBe(401);

    const refused = await tollgate.request('DELETE', `/v1/api-keys/${second.id}`, { key: second.key });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'LAST_ADMIN_KEY' });
    expect((await tollgate.request('GET', '/v1/api-keys', { key: second.key })).status).toBe(200);
  });

  describe.each(ENGINES)('on %s', (engine) => {
    let store: TestTollgate;
    beforeAll(async () => {
      store = engine === 'dynamodb-local' ? tollgate : await createTestTollgate({ engine });
    });
    afterAll(async () => {
      if (store !== tollgate) await store.cleanup();
    });

    it('of two concurrent revocations of the last two admin keys, lets one through and refuses the other', async () => {
      for (let round = 0; round < 5; round++) {
        const tenant = await store.createTenant();
        const firstId = (await (await store.request('GET', '/v1/api-keys', { key: tenant.key })).json())
          .data[0].id;
        const second = await store.mintKey(tenant.key, { name: 'second admin', scopes: ['admin'] });
        // Each key revokes the other, at once.
        const answers = await Promise.all([
          store.request('DELETE', `/v1/api-keys/${second.id}`, { key: tenant.key }),
          store.request('DELETE', `/v1/api-keys/${firstId}`, { key: second.key }),
        ]);
        expect(answers.map((answer) => answer.status).sort()).toEqual([204, 409]);
        const survivor = answers[0]?.status === 409 ? second.key : tenant.key;
        expect((await store.request('GET', '/v1/api-keys', { key: survivor })).status).toBe(200);
      }
    });

    it('guards a tenant whose admin keys predate the guard (written straight to the store)', async () => {
      const tenantId = newId('ten');
      await putTenant(store.runtime.db, {
        id: tenantId,
        name: 'Legacy',
        created_at: new Date().toISOString(),
      });
      const legacyKey = async (name: string) => {
        const id = newId('key');
        const key = mintTenantKey(tenantId, id);
        await putApiKey(store.runtime.db, tenantId, {
          id,
          tenant_id: tenantId,
          name,
          scopes: ['ingest', 'read', 'admin'],
          restrict: null,
          hint: keyHint(key),
          created_at: new Date().toISOString(),
          key_hash: hashKey(key),
        });
        return { id, key };
      };
      const first = await legacyKey('first');
      const second = await legacyKey('second');

      expect((await store.request('DELETE', `/v1/api-keys/${first.id}`, { key: first.key })).status).toBe(
        204,
      );
      const refused = await store.request('DELETE', `/v1/api-keys/${second.id}`, { key: second.key });
      expect(refused.status).toBe(409);
      expect(await refused.json()).toMatchObject({ code: 'LAST_ADMIN_KEY' });
    });
  });

  it('an admin-key revocation whose guard write lost its answer (the SDK retried it) answers 204, and still guards the last key', async () => {
    const tenant = await tollgate.createTenant();
    const second = await tollgate.mintKey(tenant.key, { name: 'second admin', scopes: ['admin'] });
    const losing = loseFirstAnswer(tollgate.runtime.db, (write) => write.commandName === 'UpdateItemCommand');
    let response: Response;
    try {
      response = await tollgate.request('DELETE', `/v1/api-keys/${second.id}`, { key: tenant.key });
    } finally {
      losing.restore();
    }
    expect(losing.lost()).toBe(1);
    expect(response.status).toBe(204);
    expect((await tollgate.request('GET', '/v1/api-keys', { key: second.key })).status).toBe(401);
    const ownId = (await (await tollgate.request('GET', '/v1/api-keys', { key: tenant.key })).json()).data[0]
      .id;
    expect((await tollgate.request('DELETE', `/v1/api-keys/${ownId}`, { key: tenant.key })).status).toBe(409);
  });
  it('a key revoked while its creation is still listing it as an admin key stays revoked, and the last admin key stays guarded', async () => {
    const tenant = await tollgate.createTenant();
    const firstId = (await (await tollgate.request('GET', '/v1/api-keys', { key: tenant.key })).json())
      .data[0].id;
    // The new key is written, but its listing in the guard is held (a slow or paused instance).
    const listing = delayFirstWrite(
      tollgate.runtime.db,
      (write) =>
        write.commandName === 'UpdateItemCommand' && write.UpdateExpression === 'ADD admin_key_ids :ids',
    );
    let minting: Promise<TestResponse> | undefined;
    try {
      minting = tollgate.request('POST', '/v1/api-keys', {
        key: tenant.key,
        body: { name: 'second admin', scopes: ['admin'] },
      });
      await Promise.race([
        listing.held,
        minting.then(() => {
          throw new Error('the admin key was minted without being listed in the guard');
        }),
      ]);
      // Meanwhile the tenant finds the new key in its list and revokes it.
      const listed = await (await tollgate.request('GET', '/v1/api-keys', { key: tenant.key })).json();
      const secondId = listed.data.find((key: { id: string }) => key.id !== firstId).id;
      expect((await tollgate.request('DELETE', `/v1/api-keys/${secondId}`, { key: tenant.key })).status).toBe(
        204,
      );
    } finally {
      listing.release();
      listing.restore();
    }
    const minted = await (minting as Promise<TestResponse>);
    expect(minted.status).toBe(201);
    const second = await minted.json();
    expect((await tollgate.request('GET', '/v1/api-keys', { key: second.key })).status).toBe(401);
    // The revoked key was not listed late: the first key is the last admin key.
    expect((await tollgate.request('DELETE', `/v1/api-keys/${firstId}`, { key: tenant.key })).status).toBe(
      409,
    );
  });
  it('forgets the ids of revoked admin keys a day on, so the guard stays small', async () => {
    let clock = new Date('2030-01-01T00:00:00Z');
    const timed = await createTestTollgate({ store: tollgate.store, now: () => clock });
    try {
      const tenant = await timed.createTenant();
      const old = await timed.mintKey(tenant.key, { name: 'old admin', scopes: ['admin'] });
      expect((await timed.request('DELETE', `/v1/api-keys/${old.id}`, { key: tenant.key })).status).toBe(204);
      clock = new Date('2030-01-03T00:00:00Z');
      const recent = await timed.mintKey(tenant.key, { name: 'recent admin', scopes: ['admin'] });
      expect((await timed.request('DELETE', `/v1/api-keys/${recent.id}`, { key: tenant.key })).status).toBe(
        204,
      );
      const { Item } = await timed.runtime.db.client.send(
        new GetCommand({
          TableName: timed.runtime.db.tableName,
          // The guard item (shared/api-keys/admin-key-guard.ts).
          Key: { pk: tenantPartition(tenant.id), sk: 'v1#api-key-admins' },
          ConsistentRead: true,
        }),
      );
      expect([...(Item?.revoked_admin_key_ids ?? [])]).toEqual([recent.id]);
    } finally {
      await timed.cleanup();
    }
  });
});

describe('operator recovery: issuing a key for an existing tenant', () => {
  it('issues a working key, shown once, for a tenant left with no admin key', async () => {
    // A tenant that locked itself out before the last admin key was guarded: only a read key is left.
    const tenantId = newId('ten');
    await putTenant(tollgate.runtime.db, {
      id: tenantId,
      name: 'Locked out',
      created_at: new Date().toISOString(),
    });
    const readerId = newId('key');
    const readerKey = mintTenantKey(tenantId, readerId);
    await putApiKey(tollgate.runtime.db, tenantId, {
      id: readerId,
      tenant_id: tenantId,
      name: 'reader',
      scopes: ['read'],
      restrict: null,
      hint: keyHint(readerKey),
      created_at: new Date().toISOString(),
      key_hash: hashKey(readerKey),
    });
    expect((await tollgate.request('GET', '/v1/api-keys', { key: readerKey })).status).toBe(403);

    const response = await tollgate.request('POST', `/v1/tenants/${tenantId}/api-keys`, {
      key: OPERATOR_KEY,
      body: { name: 'recovery', scopes: ['admin', 'read'] },
    });
    expect(response.status).toBe(201);
    const issued = await response.json();
    expect(issued).toEqual({
      id: expect.stringMatching(/^key_[0-9A-Z]{26}$/),
      name: 'recovery',
      scopes: ['admin', 'read'],
      restrict: null,
      hint: expect.stringMatching(/^tg_…/),
      created_at: expect.any(String),
      key: expect.stringMatching(/^tg_/),
    });

    const keys = await tollgate.request('GET', '/v1/api-keys', { key: issued.key });
    expect(keys.status).toBe(200);
    const listed = await keys.json();
    expect(JSON.stringify(listed)).not.toContain(issued.key);
    expect(listed.data.map((key: { id: string }) => key.id).sort()).toEqual([issued.id, readerId].sort());
    // The issued key is now the tenant's last admin key, and guarded as such.
    expect((await tollgate.request('DELETE', `/v1/api-keys/${issued.id}`, { key: issued.key })).status).toBe(
      409,
    );
  });

  it('issues keys with the same rules as a tenant does (restricted keys read-only)', async () => {
    const tenant = await tollgate.createTenant();
    const refused = await tollgate.request('POST', `/v1/tenants/${tenant.id}/api-keys`, {
      key: OPERATOR_KEY,
      body: { name: 'x', scopes: ['admin'], restrict: { customer: 'acme' } },
    });
    expect(refused.status).toBe(400);
    expect((await refused.json()).errors).toEqual([expect.objectContaining({ path: 'restrict' })]);

    const view = await tollgate.request('POST', `/v1/tenants/${tenant.id}/api-keys`, {
      key: OPERATOR_KEY,
      body: { name: 'acme view', scopes: ['read'], restrict: { customer: 'acme' } },
    });
    expect(view.status).toBe(201);
    expect(await view.json()).toMatchObject({ scopes: ['read'], restrict: { customer: 'acme' } });
  });

  it('refuses a tenant key (403 OPERATOR_KEY_REQUIRED), even for its own tenant', async () => {
    const tenant = await tollgate.createTenant();
    const response = await tollgate.request('POST', `/v1/tenants/${tenant.id}/api-keys`, {
      key: tenant.key,
      body: { name: 'escalation', scopes: ['admin'] },
    });
    expect(response.status).toBe(403);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 403, code: 'OPERATOR_KEY_REQUIRED' });
  });

  it('answers 404 TENANT_NOT_FOUND for an unknown tenant', async () => {
    const response = await tollgate.request('POST', '/v1/tenants/ten_01JDQ7Z5M2X9K3V4W6Y8A0B1C2/api-keys', {
      key: OPERATOR_KEY,
      body: { name: 'recovery', scopes: ['admin'] },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 404, code: 'TENANT_NOT_FOUND' });
  });

  it('is documented: an operator operation answering the created key, and the 409 of a revocation', async () => {
    const document = await (await tollgate.request('GET', '/openapi.json')).json();
    const issue = document.paths['/v1/tenants/{id}/api-keys']?.post;
    expect(issue).toMatchObject({ 'x-tollgate-auth': 'operator', security: [{ bearer: [] }] });
    expect(issue.responses['201'].content['application/json'].schema.$ref).toBe(
      '#/components/schemas/CreatedApiKey',
    );
    expect(Object.keys(issue.responses)).toEqual(expect.arrayContaining(['201', '403', '404']));
    expect(document.paths['/v1/api-keys/{id}'].delete.responses['409'].description).toContain(
      'LAST_ADMIN_KEY',
    );
  });
});
