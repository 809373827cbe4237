import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalProcess, startLocalProcess } from '../helpers/local-process.js';

/** `npm start` as a user meets it: one process, real HTTP, data on disk, a real browser. */
describe('local mode', () => {
  let dataDir: string;
  let tollgate: LocalProcess | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tollgate-e2e-'));
  });
  afterAll(async () => {
    await browser?.close();
    await tollgate?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, key?: string, body?: unknown) => {
    const response = await fetch(`${tollgate?.url}${path}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : null,
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text ? JSON.parse(text) : undefined,
      type: response.headers.get('content-type'),
    };
  };

  it('serves the API, its description and its docs, and keeps tenants and keys across a restart', async () => {
    tollgate = await startLocalProcess(dataDir);
    expect(tollgate.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(tollgate.operatorKey).toMatch(/^tgop_/);
    // The banner names the embedded engine, so the AWS CLI or an SDK can look at the data.
    const engine = /DynamoDB\s+(http:\/\/127\.0\.0\.1:\d+) \(table (\S+)\)/.exec(tollgate.output());
    expect(engine).not.toBeNull();
    const [, endpoint, table] = engine as RegExpExecArray;
    const engineClient = new DynamoDBClient({
      endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const { TableNames } = await engineClient.send(new ListTablesCommand({}));
    engineClient.destroy();
    expect(TableNames).toEqual([table]);

    expect(await call('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect((await call('GET', '/openapi.json')).body.openapi).toBe('3.1.0');

    const tenant = await call('POST', '/v1/tenants', tollgate.operatorKey, { name: 'Acme' });
    expect(tenant.status).toBe(201);
    const adminKey: string = tenant.body.api_key.key;
    const reader = await call('POST', '/v1/api-keys', adminKey, { name: 'reader', scopes: ['read'] });
    expect(reader.status).toBe(201);
    const refused = await call('GET', '/v1/api-keys', reader.body.key);
    expect(refused).toMatchObject({
      status: 403,
      type: 'application/problem+json',
      body: { code: 'INSUFFICIENT_SCOPE' },
    });

    const other = await call('POST', '/v1/tenants', tollgate.operatorKey, { name: 'Other' });
    const crossTenant = await call('DELETE', `/v1/api-keys/${reader.body.id}`, other.body.api_key.key);
    expect(crossTenant.status).toBe(404);

    expect(await tollgate.stop()).toBe(0);
    const operatorKey = tollgate.operatorKey;

    tollgate = await startLocalProcess(dataDir);
    expect(tollgate.operatorKey).toBe(operatorKey);
    expect(await call('GET', `/v1/tenants/${tenant.body.id}`, operatorKey)).toMatchObject({
      status: 200,
      body: { id: tenant.body.id, name: 'Acme' },
    });
    const keys = await call('GET', '/v1/api-keys', adminKey);
    expect(keys.status).toBe(200);
    expect(keys.body.data.map((key: { id: string }) => key.id).sort()).toEqual(
      [tenant.body.api_key.id, reader.body.id].sort(),
    );
    expect((await call('GET', '/v1/api-keys', reader.body.key)).status).toBe(403);
  });

  it('limits request bodies over HTTP, whether they declare their length or arrive chunked', async () => {
    tollgate ??= await startLocalProcess(dataDir);
    const limit = 1024 * 1024; // TOLLGATE_MAX_BODY_BYTES' default
    const post = (body: string, chunked: boolean) =>
      fetch(`${tollgate?.url}/v1/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tollgate?.operatorKey}`, 'content-type': 'application/json' },
        // A stream body has no length to declare, so fetch sends it chunked.
        body: chunked
          ? new ReadableStream({
              start(controller) {
                const bytes = new TextEncoder().encode(body);
                for (let at = 0; at < bytes.length; at += 64 * 1024)
                  controller.enqueue(bytes.subarray(at, at + 64 * 1024));
                controller.close();
              },
            })
          : body,
        duplex: 'half',
      } as RequestInit);
    const small = JSON.stringify({ name: 'Chunked Co' });
    const big = JSON.stringify({ name: 'x'.repeat(limit) });

    const declaredSmall = await post(small, false);
    expect(declaredSmall.status).toBe(201);
    const chunkedSmall = await post(small, true);
    expect(chunkedSmall.status).toBe(201);
    expect(((await chunkedSmall.json()) as { name: string }).name).toBe('Chunked Co');

    for (const chunked of [false, true]) {
      const refused = await post(big, chunked);
      expect(refused.status).toBe(413);
      expect(await refused.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    }
  });

  it('replays a create sent with an Idempotency-Key over HTTP, across a restart', async () => {
    tollgate ??= await startLocalProcess(dataDir);
    const tenant = await call('POST', '/v1/tenants', tollgate.operatorKey, { name: 'Retrying Co' });
    const key: string = tenant.body.api_key.key;
    const createBudget = () =>
      fetch(`${tollgate?.url}/v1/budgets`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'idempotency-key': 'budget-2026-12',
        },
        body: JSON.stringify({ name: 'December', period: 'month', limit: { amount: '50', currency: 'USD' } }),
      });
    const first = await createBudget();
    expect(first.status).toBe(201);
    expect(first.headers.get('server-timing')).toMatch(/^app;dur=\d/);
    const created = (await first.json()) as { id: string };

    expect(await tollgate.stop()).toBe(0);
    tollgate = await startLocalProcess(dataDir);
    const retry = await createBudget();
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(((await retry.json()) as { id: string }).id).toBe(created.id);
    const budgets = await call('GET', '/v1/budgets', key);
    expect(budgets.body.data.map((b: { id: string }) => b.id)).toEqual([created.id]);
  });

  it('renders the interactive API reference in a browser, without internet', async () => {
    tollgate ??= await startLocalProcess(dataDir);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const page = await browser.newPage();
    await page.goto(`${tollgate.url}/docs`);
    // Rendered by the reference's script, served by local mode itself: the operations are listed.
    await page.getByRole('heading', { name: 'Tollgate API' }).first().waitFor({ timeout: 20_000 });
    await page.getByText('Liveness check').first().waitFor();
    await page.getByText('API keys').first().waitFor();
    expect(await page.title()).toContain('Tollgate');
    await page.screenshot({ path: join(dataDir, 'docs.png') });
  });
});
