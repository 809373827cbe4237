import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../shared/runtime.js';
import { loseFirstAnswer } from '../helpers/lost-answer.js';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

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
