import { handle, type LambdaContext } from 'hono/aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { httpApiEvent } from '../helpers/lambda-event.js';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

const context = { awsRequestId: 'aws-req-1', functionName: 'tollgate-api' } as LambdaContext;

describe('the API through the Lambda adapter', () => {
  let tollgate: TestTollgate;
  beforeAll(async () => {
    tollgate = await createTestTollgate();
  });
  afterAll(() => tollgate.cleanup());

  it('serves the same routes, statuses and headers as app.request', async () => {
    const handler = handle(tollgate.app);
    const created = await handler(
      httpApiEvent('POST', '/v1/tenants', {
        headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Via Lambda' }),
      }),
      context,
    );
    expect(created.statusCode).toBe(201);
    const tenant = JSON.parse(created.body as string);
    expect(tenant.name).toBe('Via Lambda');

    const reader = await handler(
      httpApiEvent('POST', '/v1/api-keys', {
        headers: { authorization: `Bearer ${tenant.api_key.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'reader', scopes: ['read'] }),
      }),
      context,
    );
    expect(reader.statusCode).toBe(201);

    const forbidden = await handler(
      httpApiEvent('GET', '/v1/api-keys', {
        headers: { authorization: `Bearer ${JSON.parse(reader.body as string).key}` },
        query: 'limit=5',
      }),
      context,
    );
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.headers?.['content-type']).toBe('application/problem+json');
    expect(forbidden.headers?.['x-request-id']).toMatch(/^req_/);

    const invalid = await handler(
      httpApiEvent('GET', '/v1/tenants', {
        headers: { authorization: `Bearer ${OPERATOR_KEY}` },
        query: 'limit=9999',
      }),
      context,
    );
    expect(invalid.statusCode).toBe(400);
    expect(JSON.parse(invalid.body as string).errors).toEqual([
      expect.objectContaining({ path: 'query.limit' }),
    ]);
  });

  it('decodes base64 bodies as API Gateway sends binary-safe payloads', async () => {
    const handler = handle(tollgate.app);
    const event = httpApiEvent('POST', '/v1/tenants', {
      headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ name: 'Base64' })).toString('base64'),
    });
    event.isBase64Encoded = true;
    const response = await handler(event, context);
    expect(response.statusCode).toBe(201);
  });

  it('is wired by functions/api/handler.ts from the environment alone', async () => {
    vi.stubEnv('TOLLGATE_DYNAMODB_ENDPOINT', tollgate.store.endpoint);
    vi.stubEnv('TOLLGATE_TABLE_NAME', tollgate.store.db.tableName);
    vi.stubEnv('TOLLGATE_ADMIN_KEY', OPERATOR_KEY);
    vi.stubEnv('TOLLGATE_EVENT_BUS_NAME', 'tollgate-test-bus');
    vi.stubEnv('TOLLGATE_LOG_LEVEL', 'silent');
    vi.stubEnv('AWS_REGION', 'local');
    try {
      const { handler } = await import('../../functions/api/handler.js');
      const health = await handler(httpApiEvent('GET', '/healthz'), context);
      expect(health.statusCode).toBe(200);
      const tenants = await handler(
        httpApiEvent('GET', '/v1/tenants', { headers: { authorization: `Bearer ${OPERATOR_KEY}` } }),
        context,
      );
      expect(tenants.statusCode).toBe(200);
      expect(JSON.parse(tenants.body as string).data.map((t: { name: string }) => t.name)).toContain(
        'Via Lambda',
      );
      // No KMS key configured: provider credentials are refused plainly, not written to Lambda's disk.
      const tenant = await tollgate.createTenant('No KMS');
      const connection = await handler(
        httpApiEvent('POST', '/v1/provider-connections', {
          headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ provider: 'openai', api_key: 'sk-admin-0123456789' }),
        }),
        context,
      );
      expect(connection.statusCode).toBe(503);
      expect(JSON.parse(connection.body as string).code).toBe('CREDENTIAL_KEY_UNCONFIGURED');
      // Every 503 says when to come back; a missing setting is not a matter of seconds.
      expect(connection.headers?.['retry-after']).toBe('300');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('runs kpi-rollup from functions/kpi-rollup/handler.ts as EventBridge Scheduler invokes it', async () => {
    vi.stubEnv('TOLLGATE_DYNAMODB_ENDPOINT', tollgate.store.endpoint);
    vi.stubEnv('TOLLGATE_TABLE_NAME', tollgate.store.db.tableName);
    vi.stubEnv('TOLLGATE_EVENT_BUS_NAME', 'tollgate-test-bus');
    vi.stubEnv('TOLLGATE_LOG_LEVEL', 'silent');
    vi.stubEnv('TOLLGATE_ROLLUP_LAG_SECONDS', '0');
    vi.stubEnv('AWS_REGION', 'local');
    try {
      const tenant = await tollgate.createTenant('Scheduled');
      await tollgate.request('POST', '/v1/usage', {
        key: tenant.key,
        body: { id: 'one', provider: 'openai', model: 'gpt-4o-mini', usage: { input_tokens: 10 } },
      });
      const { handler } = await import('../../functions/kpi-rollup/handler.js');
      // The schedule's input: none (all tenants), or one tenant.
      const all = await handler({});
      expect(all).toMatchObject({ job: 'kpi-rollup', errors: [] });
      expect(all.tenants).toBeGreaterThanOrEqual(1);
      expect(all.result.events).toBe(1);
      const one = await handler({ tenant_id: tenant.id });
      expect(one).toMatchObject({ tenants: 1, result: { events: 0 } });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
