import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, type Scope } from '../../shared/api-keys/schema.js';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

type Auth = 'public' | 'operator' | { scopes: Scope[] };
interface Operation {
  method: string;
  path: string;
  auth: Auth;
}

/**
 * Walks every operation of the served OpenAPI document: no key → 401, the wrong kind of key or a
 * key without the scope → 403, and another tenant's object → 404. A new route is covered the
 * moment it is documented; a tenant route with a path id must say below how to make one.
 */
let tollgate: TestTollgate;
let operations: Operation[];
let owner: { id: string; key: string };
let intruder: { id: string; key: string };

/** For each tenant path with an id: make an object of `owner` and return its id. */
const ownedObjectFactories: Record<string, () => Promise<string>> = {
  '/v1/api-keys/{id}': async () =>
    (await tollgate.mintKey(owner.key, { name: 'victim', scopes: ['read'] })).id,
  '/v1/webhook-endpoints/{id}': () => ownedWebhookEndpoint(),
  '/v1/webhook-endpoints/{id}/rotate-secret': () => ownedWebhookEndpoint(),
  '/v1/webhook-endpoints/{id}/test': () => ownedWebhookEndpoint(),
  '/v1/webhook-endpoints/{id}/deliveries': () => ownedWebhookEndpoint(),
  '/v1/webhook-deliveries/{id}/replay': async () => {
    const endpointId = await ownedWebhookEndpoint();
    const test = await tollgate.request('POST', `/v1/webhook-endpoints/${endpointId}/test`, {
      key: owner.key,
    });
    expect(test.status).toBe(202);
    return (await test.json()).id;
  },
  '/v1/budgets/{id}': async () => {
    const response = await tollgate.request('POST', '/v1/budgets', {
      key: owner.key,
      body: { name: 'victim', period: 'month', limit: { tokens: 1000 } },
    });
    return (await response.json()).id;
  },
  '/v1/enforcement/reservations/{id}': async () => {
    const response = await tollgate.request('POST', '/v1/enforcement/authorize', {
      key: owner.key,
      body: {
        id: `victim-${Math.random()}`,
        model: 'gpt-4o',
        estimated_input_tokens: 10,
        max_output_tokens: 10,
      },
    });
    return (await response.json()).reservation_id;
  },
  '/v1/provider-connections/{id}': () => ownedProviderConnection(),
  '/v1/provider-connections/{id}/sync': () => ownedProviderConnection(),
};

let victimConnections = 0;
async function ownedProviderConnection(): Promise<string> {
  // A key of its own each time: one key is connected once.
  const response = await tollgate.request('POST', '/v1/provider-connections', {
    key: owner.key,
    body: { provider: 'openai', api_key: `sk-admin-victim-0123456789-${++victimConnections}` },
  });
  expect(response.status).toBe(201);
  return (await response.json()).id;
}

/**
 * An endpoint of `owner`. Its port is the discard port on 127.0.0.1, where nothing listens: a
 * test event to it fails at once and nothing leaves the machine.
 */
async function ownedWebhookEndpoint(): Promise<string> {
  const response = await tollgate.request('POST', '/v1/webhook-endpoints', {
    key: owner.key,
    body: { url: 'http://127.0.0.1:9/victim' },
  });
  expect(response.status).toBe(201);
  return (await response.json()).id;
}

/**
 * Tenant paths whose parameters name no object (an upsert keyed by the caller's own names): for
 * each, a check that what another tenant writes there stays invisible to the owner.
 */
const upsertIsolationChecks: Record<string, () => Promise<void>> = {
  '/v1/prices/overrides/{provider}/{model}': async () => {
    const written = await tollgate.request('PUT', '/v1/prices/overrides/openai/gpt-4o', {
      key: intruder.key,
      body: { effective_from: '2026-01-01T00:00:00Z', discount_pct: '90' },
    });
    expect(written.status).toBe(200);
    const ownerView = await (
      await tollgate.request('GET', '/v1/prices/overrides', { key: owner.key })
    ).json();
    expect(ownerView.data).toEqual([]);
    const ownerPrice = await (
      await tollgate.request('GET', '/v1/prices?model=gpt-4o', { key: owner.key })
    ).json();
    expect(ownerPrice.price_id).toMatch(/^builtin:/);
  },
};

/** Values for operator path parameters. */
const operatorPathValues: Record<string, () => string> = {
  '/v1/tenants/{id}': () => owner.id,
  '/v1/tenants/{id}/api-keys': () => owner.id,
  '/v1/admin/jobs/{job}/run': () => 'kpi-rollup',
};

beforeAll(async () => {
  tollgate = await createTestTollgate({ env: { TOLLGATE_ALLOW_PRIVATE_URLS: 'true' } });
  owner = await tollgate.createTenant('Owner');
  intruder = await tollgate.createTenant('Intruder');
  const document = await (await tollgate.request('GET', '/openapi.json')).json();
  operations = Object.entries(
    document.paths as Record<string, Record<string, { 'x-tollgate-auth': Auth }>>,
  ).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method,
      path,
      auth: operation['x-tollgate-auth'],
    })),
  );
});
afterAll(() => tollgate.cleanup());

/** A body only where the method may carry one. */
const bodyFor = (method: string, body: unknown = {}) =>
  ['get', 'head', 'delete'].includes(method) ? undefined : body;

function fill(path: string, value = 'x_00000000000000000000000000'): string {
  return path.replace(/\{[^}]+\}/g, value);
}

describe('security suite over every documented operation', () => {
  it('documents who may call every operation', () => {
    expect(operations.length).toBeGreaterThanOrEqual(7);
    for (const operation of operations)
      expect(operation.auth, `${operation.method} ${operation.path}`).toBeDefined();
  });

  it('refuses every non-public operation without a key, or with a malformed one (401)', async () => {
    for (const { method, path, auth } of operations) {
      if (auth === 'public') continue;
      for (const key of [undefined, 'not-a-key', `${owner.key}x`]) {
        const response = await tollgate.request(method.toUpperCase(), fill(path), {
          key,
          body: bodyFor(method),
        });
        expect(response.status, `${method} ${path} with ${key ?? 'no key'}`).toBe(401);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
      }
    }
  });

  it('refuses operator operations to tenant keys, and tenant operations to the operator key (403)', async () => {
    for (const { method, path, auth } of operations) {
      if (auth === 'public') continue;
      const key = auth === 'operator' ? owner.key : OPERATOR_KEY;
      const response = await tollgate.request(method.toUpperCase(), fill(path), {
        key,
        body: bodyFor(method),
      });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect((await response.json()).code).toBe(
        auth === 'operator' ? 'OPERATOR_KEY_REQUIRED' : 'TENANT_KEY_REQUIRED',
      );
    }
  });

  it('refuses tenant operations to a key without the scope (403)', async () => {
    for (const { method, path, auth } of operations) {
      if (auth === 'public' || auth === 'operator') continue;
      const otherScopes = SCOPES.filter((scope) => !auth.scopes.includes(scope));
      expect(otherScopes.length, `${method} ${path} accepts every scope`).toBeGreaterThan(0);
      const weak = await tollgate.mintKey(owner.key, { name: 'weak', scopes: otherScopes });
      const response = await tollgate.request(method.toUpperCase(), fill(path), {
        key: weak.key,
        body: bodyFor(method),
      });
      expect(response.status, `${method} ${path} with ${otherScopes.join(',')}`).toBe(403);
      expect((await response.json()).code).toBe('INSUFFICIENT_SCOPE');
    }
  });

  it("answers 404 to another tenant's object on every operation that names one", async () => {
    const withIds = operations.filter(
      ({ path, auth }) => path.includes('{') && auth !== 'operator' && auth !== 'public',
    );
    for (const { method, path } of withIds) {
      const isolationCheck = upsertIsolationChecks[path];
      if (isolationCheck) {
        await isolationCheck();
        continue;
      }
      const makeObject = ownedObjectFactories[path];
      expect(makeObject, `no owned-object factory for ${path}: add one to the security suite`).toBeDefined();
      const objectId = await (makeObject as () => Promise<string>)();
      const response = await tollgate.request(method.toUpperCase(), fill(path, objectId), {
        key: intruder.key,
        body: bodyFor(method),
      });
      expect(response.status, `${method} ${path}`).toBe(404);
    }
  });

  it('lets the operator reach every operator operation', async () => {
    for (const { method, path, auth } of operations) {
      if (auth !== 'operator') continue;
      const pathValue = operatorPathValues[path];
      if (path.includes('{')) expect(pathValue, `no value for ${path}`).toBeDefined();
      const filled = pathValue ? fill(path, pathValue()) : path;
      const response = await tollgate.request(method.toUpperCase(), filled, {
        key: OPERATOR_KEY,
        body: bodyFor(method, { name: 'x' }),
      });
      expect([401, 403], `${method} ${path}`).not.toContain(response.status);
    }
  });
});
