import { DeleteTableCommand, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDb } from '../../shared/db/client.js';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

describe('request conventions', () => {
  let tollgate: TestTollgate;
  beforeAll(async () => {
    tollgate = await createTestTollgate({ env: { TOLLGATE_MAX_BODY_BYTES: '2048' } });
  });
  afterAll(() => tollgate.cleanup());

  it('gives every response an x-request-id, keeping a safe one the caller sent', async () => {
    const generated = await tollgate.request('GET', '/healthz');
    expect(generated.status).toBe(200);
    expect(await generated.json()).toEqual({ status: 'ok' });
    expect(generated.headers.get('x-request-id')).toMatch(/^req_[0-9A-Z]{26}$/);

    const kept = await tollgate.request('GET', '/v1/tenants', { headers: { 'x-request-id': 'caller-123' } });
    expect(kept.headers.get('x-request-id')).toBe('caller-123');
    expect((await kept.json()).request_id).toBe('caller-123');

    const replaced = await tollgate.request('GET', '/healthz', {
      headers: { 'x-request-id': 'bad id\twith tab' },
    });
    expect(replaced.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('tells in Server-Timing how long Tollgate spent on a request, problems included', async () => {
    for (const path of ['/healthz', '/nowhere']) {
      const sent = performance.now();
      const response = await tollgate.request('GET', path);
      const elapsed = performance.now() - sent;
      const timing = /^app;dur=(\d+(?:\.\d)?)$/.exec(response.headers.get('server-timing') ?? '');
      expect(timing, `server-timing of ${path}`).not.toBeNull();
      // Part of what the caller waited, never more.
      expect(Number(timing?.[1])).toBeLessThanOrEqual(Math.ceil(elapsed * 10) / 10);
    }
  });

  it('answers unknown routes with a problem', async () => {
    const response = await tollgate.request('GET', '/nowhere');
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'ROUTE_NOT_FOUND', status: 404 });
  });

  it('answers a method a route does not take with 405 and the methods it does take', async () => {
    const tenant = await tollgate.createTenant('Methods');
    for (const [method, path, allow] of [
      ['PUT', '/v1/webhook-endpoints', 'GET, HEAD, POST'],
      ['DELETE', '/v1/webhook-endpoints', 'GET, HEAD, POST'],
      ['POST', '/v1/budgets/bud_01JDQ7Z5M2X9K3V4W6Y8A0B1C2', 'DELETE, GET, HEAD, PATCH'],
    ] as const) {
      const response = await tollgate.request(method, path, { key: tenant.key });
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get('allow')).toBe(allow);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(await response.json()).toMatchObject({ code: 'METHOD_NOT_ALLOWED', status: 405 });
    }
    // A path no route has is still 404.
    const unknown = await tollgate.request('GET', '/v1/nothing-here', { key: tenant.key });
    expect(unknown.status).toBe(404);
  });

  it('refuses a body sent to an operation that takes none, so that no option seems to take effect', async () => {
    const run = (body?: unknown) =>
      tollgate.request('POST', '/v1/admin/jobs/webhook-retry/run', { key: OPERATOR_KEY, body });
    const refused = await run({ tenant_id: 'ten_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      detail: expect.stringContaining('no body'),
    });
    expect((await run({})).status).toBe(200);
    expect((await run()).status).toBe(200);
  });

  it('refuses malformed JSON with 400 MALFORMED_JSON', async () => {
    const response = await tollgate.request('POST', '/v1/tenants', {
      key: OPERATOR_KEY,
      rawBody: '{"name": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'MALFORMED_JSON' });
  });

  it('refuses a body over the limit with 413, whether or not it declares its length', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(4096) });
    const declared = await tollgate.request('POST', '/v1/tenants', {
      key: OPERATOR_KEY,
      rawBody: big,
      headers: { 'content-type': 'application/json', 'content-length': String(big.length) },
    });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });

    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const undeclared = await tollgate.app.request('/v1/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(undeclared.status).toBe(413);
  });

  it('refuses control characters in names and descriptions people read (400, with the field)', async () => {
    const tenant = await tollgate.createTenant('Printable');
    const attempts: [string, string, Record<string, unknown>, string][] = [
      ['POST', '/v1/tenants', { name: 'Acme\u0000Support' }, 'name'],
      ['POST', '/v1/api-keys', { name: 'ci\u001b[31m', scopes: ['read'] }, 'name'],
      ['POST', '/v1/api-keys', { name: 'a\u202eevil', scopes: ['read'] }, 'name'],
      ['POST', '/v1/tenants', { name: '\u202e' }, 'name'],
      ['POST', '/v1/budgets', { name: 'two\nlines', period: 'day', limit: { tokens: 10 } }, 'name'],
      [
        'POST',
        '/v1/webhook-endpoints',
        { url: 'https://hooks.example.com/x', description: 'a\u0000b' },
        'description',
      ],
      [
        'POST',
        '/v1/provider-connections',
        { provider: 'openai', api_key: 'sk-admin-x', name: '\ud800' },
        'name',
      ],
    ];
    for (const [method, path, body, field] of attempts) {
      const response = await tollgate.request(method, path, {
        key: path === '/v1/tenants' ? OPERATOR_KEY : tenant.key,
        body,
      });
      expect(response.status, path).toBe(400);
      const problem = await response.json();
      expect(problem.errors, path).toContainEqual({
        path: field,
        message: expect.stringContaining('control characters'),
      });
    }
    // Printable Unicode stays allowed (tabs and line breaks in descriptions: see the unit test).
    const kept = await tollgate.request('POST', '/v1/budgets', {
      key: tenant.key,
      body: { name: 'Café ☕ 東京', period: 'day', limit: { tokens: 10 } },
    });
    expect(kept.status).toBe(201);
    expect((await kept.json()).name).toBe('Café ☕ 東京');
  });

  it('never leaks an unexpected error', async () => {
    // A store failure the API cannot anticipate: the table is gone.
    const broken = await createTestTollgate();
    await broken.store.db.client.send(new DeleteTableCommand({ TableName: broken.store.db.tableName }));
    const response = await broken.request('GET', '/v1/tenants', { key: OPERATOR_KEY });
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(body).not.toContain(broken.store.db.tableName);
    expect(body).not.toMatch(/ResourceNotFound|non-existent|Cannot do operations/i);
    expect(JSON.parse(body)).toMatchObject({
      code: 'INTERNAL',
      request_id: response.headers.get('x-request-id'),
    });
    closeDb(broken.store.db);
  });

  it('answers 503 STORE_THROTTLED with Retry-After when the store still refuses for load after retries', async () => {
    const db = tollgate.store.db;
    // Outside the SDK's retries (the initialize step): the refusal as it reaches the handler once
    // the SDK has given up retrying it.
    for (const client of [db.client, db.exactClient]) {
      client.middlewareStack.add(
        () => async () => {
          throw new ProvisionedThroughputExceededException({
            message: 'The level of configured provisioned throughput for the table was exceeded.',
            $metadata: { httpStatusCode: 400 },
          });
        },
        { step: 'initialize', name: 'throttleEverything' },
      );
    }
    try {
      const response = await tollgate.request('GET', '/v1/tenants', { key: OPERATOR_KEY });
      expect(response.status).toBe(503);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.headers.get('retry-after')).toBe('2');
      expect(await response.json()).toMatchObject({
        code: 'STORE_THROTTLED',
        status: 503,
        request_id: response.headers.get('x-request-id'),
      });
    } finally {
      for (const client of [db.client, db.exactClient]) client.middlewareStack.remove('throttleEverything');
    }
    expect((await tollgate.request('GET', '/v1/tenants', { key: OPERATOR_KEY })).status).toBe(200);
  });
});

describe('per-tenant rate limiting', () => {
  let tollgate: TestTollgate;
  beforeAll(async () => {
    tollgate = await createTestTollgate({
      env: { TOLLGATE_RATE_LIMIT_PER_SECOND: '0.01', TOLLGATE_RATE_LIMIT_BURST: '3' },
    });
  });
  afterAll(() => tollgate.cleanup());

  it('answers 429 with Retry-After and RateLimit headers past the burst, per tenant', async () => {
    const limited = await tollgate.createTenant('Busy');
    const other = await tollgate.createTenant('Quiet');
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await tollgate.request('GET', '/v1/api-keys', { key: limited.key });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(last?.headers.get('ratelimit-limit')).toBe('3');
    expect(last?.headers.get('ratelimit-remaining')).toBe('0');
    expect(last?.headers.get('content-type')).toBe('application/problem+json');
    expect(await last?.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429 });

    const unaffected = await tollgate.request('GET', '/v1/api-keys', { key: other.key });
    expect(unaffected.status).toBe(200);
    expect(unaffected.headers.get('ratelimit-remaining')).toBe('2');
  });
});
