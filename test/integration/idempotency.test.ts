import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_STALE_AFTER_MS } from '../../shared/idempotency/idempotency.js';
import { budgetSetBump, delayFirstWrite, failFirstWrite, type SentWrite } from '../helpers/lost-answer.js';
import {
  createTestTollgate,
  OPERATOR_KEY,
  type TestResponse,
  type TestTollgate,
} from '../helpers/tollgate.js';

/** A clock the test moves (a claim left by a request that stopped). */
let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

let tollgate: TestTollgate;
beforeAll(async () => {
  tollgate = await createTestTollgate({ now });
});
afterAll(() => tollgate.cleanup());

const budget = (name: string) => ({
  name,
  period: 'month',
  limit: { amount: '100', currency: 'USD' },
  thresholds: [80, 100],
});
const createBudget = (key: string, idempotencyKey: string | undefined, body: unknown) =>
  tollgate.request('POST', '/v1/budgets', {
    key,
    body,
    ...(idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': idempotencyKey } }),
  });
const budgetNames = async (key: string) =>
  ((await (await tollgate.request('GET', '/v1/budgets', { key })).json()).data as { name: string }[]).map(
    (b) => b.name,
  );
/** The budget definition's PutItem of one tenant: the write a create makes. */
const budgetPut = (tenantId: string) => (write: SentWrite) =>
  write.commandName === 'PutItemCommand' &&
  (write.Key?.pk?.S ?? write.Item?.pk?.S ?? '').includes(tenantId) &&
  (write.Item?.sk?.S ?? '').includes('#budget#');

/** The write of one tenant's idempotency key whose update expression is `expression`. */
const idempotencyKeyWrite = (tenantId: string, expression: string) => (write: SentWrite) =>
  write.commandName === 'UpdateItemCommand' &&
  (write.Key?.pk?.S ?? '').includes(tenantId) &&
  (write.Key?.sk?.S ?? '').includes('#idempotency#') &&
  write.UpdateExpression === expression;

describe('Idempotency-Key', () => {
  it('answers a retry with the first answer, marked replayed, and creates nothing twice', async () => {
    const t = await tollgate.createTenant('Idempotent creates');
    const first = await createBudget(t.key, 'create-1', budget('once'));
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const created = await first.json();

    const retry = await createBudget(t.key, 'create-1', budget('once'));
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(await retry.json()).toEqual(created);
    expect(await budgetNames(t.key)).toEqual(['once']);

    // Another key is another request; the same key in another tenant is that tenant's own.
    expect((await createBudget(t.key, 'create-2', budget('twice'))).status).toBe(201);
    const other = await tollgate.createTenant('Other tenant');
    const theirs = await createBudget(other.key, 'create-1', budget('theirs'));
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect((await budgetNames(t.key)).sort()).toEqual(['once', 'twice']);
    expect(await budgetNames(other.key)).toEqual(['theirs']);
  });

  it('replays an ingest answer too, whose handler reads the body itself', async () => {
    const t = await tollgate.createTenant('Idempotent ingest');
    const send = () =>
      tollgate.request('POST', '/v1/usage', {
        key: t.key,
        body: {
          id: 'ev-1',
          provider: 'openai',
          model: 'gpt-4o',
          usage: { input_tokens: 10, output_tokens: 2 },
        },
        headers: { 'idempotency-key': 'usage-1' },
      });
    const first = await send();
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ accepted: 1, duplicates: 0 });
    const retry = await send();
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    // The first answer, not the duplicate report a second run would give.
    expect(await retry.json()).toMatchObject({ accepted: 1, duplicates: 0 });
  });

  it('refuses a key reused for another body or path with 422, and a malformed key with 400', async () => {
    const t = await tollgate.createTenant('Reused key');
    expect((await createBudget(t.key, 'reused', budget('first'))).status).toBe(201);
    const otherBody = await createBudget(t.key, 'reused', budget('second'));
    expect(otherBody.status).toBe(422);
    expect(otherBody.headers.get('content-type')).toBe('application/problem+json');
    expect(await otherBody.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
    const otherPath = await tollgate.request('POST', '/v1/enforcement/check', {
      key: t.key,
      body: { model: 'gpt-4o', estimated_tokens: 10 },
      headers: { 'idempotency-key': 'reused' },
    });
    expect(otherPath.status).toBe(422);

    for (const malformed of ['', 'x'.repeat(256), 'tab\there']) {
      const response = await createBudget(t.key, malformed, budget('malformed'));
      expect(response.status, JSON.stringify(malformed)).toBe(400);
      expect(await response.json()).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [{ path: 'header.idempotency-key' }],
      });
    }
    // A quoted key (an RFC 8941 string, as the IETF draft writes it) is the same key.
    const quoted = await createBudget(t.key, '"reused"', budget('first'));
    expect(quoted.headers.get('idempotent-replayed')).toBe('true');
    expect(await budgetNames(t.key)).toEqual(['first']);
  });

  it('keeps no error answer: a retry after a refusal or a failure runs again', async () => {
    const t = await tollgate.createTenant('Errors are not kept');
    // A key without the scope is refused before anything is claimed or kept.
    const reader = await tollgate.mintKey(t.key, { name: 'reader', scopes: ['read'] });
    expect((await createBudget(reader.key, 'after-error', budget('kept'))).status).toBe(403);

    // A failure of the store on the way: 500, and the key is free again.
    const failing = failFirstWrite(tollgate.store.db, budgetPut(t.id));
    try {
      expect((await createBudget(t.key, 'after-error', budget('kept'))).status).toBe(500);
    } finally {
      failing.restore();
    }
    expect(failing.failed()).toBe(1);

    const retry = await createBudget(t.key, 'after-error', budget('kept'));
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await budgetNames(t.key)).toEqual(['kept']);
  });

  it('answers 409 while the first request runs, and runs a retry once that request is taken for stopped', async () => {
    const t = await tollgate.createTenant('Concurrent retries');
    const slow = delayFirstWrite(tollgate.store.db, budgetPut(t.id));
    try {
      const first = createBudget(t.key, 'slow', budget('slow'));
      await slow.held;
      const meanwhile = await createBudget(t.key, 'slow', budget('slow'));
      expect(meanwhile.status).toBe(409);
      expect(meanwhile.headers.get('retry-after')).toBe('1');
      expect(await meanwhile.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
      slow.release();
      expect((await first).status).toBe(201);
    } finally {
      slow.release();
      slow.restore();
    }
    expect((await createBudget(t.key, 'slow', budget('slow'))).headers.get('idempotent-replayed')).toBe(
      'true',
    );

    // A request that stopped after its claim (here: its create failed, and so did freeing the
    // key) leaves the key claimed: retries wait, then after IDEMPOTENCY_STALE_AFTER_MS one runs.
    const db = tollgate.store.db;
    const createFails = failFirstWrite(db, budgetPut(t.id));
    const releaseFails = failFirstWrite(db, idempotencyKeyWrite(t.id, 'SET #state = :open'));
    try {
      expect((await createBudget(t.key, 'stopped', budget('stopped'))).status).toBe(500);
    } finally {
      createFails.restore();
      releaseFails.restore();
    }
    expect(releaseFails.failed()).toBe(1);
    expect((await createBudget(t.key, 'stopped', budget('stopped'))).status).toBe(409);
    clockOffsetMs = IDEMPOTENCY_STALE_AFTER_MS + 1_000;
    try {
      const taken = await createBudget(t.key, 'stopped', budget('stopped'));
      expect(taken.status).toBe(201);
      expect(taken.headers.get('idempotent-replayed')).toBeNull();
      expect(
        (await createBudget(t.key, 'stopped', budget('stopped'))).headers.get('idempotent-replayed'),
      ).toBe('true');
    } finally {
      clockOffsetMs = 0;
    }
    expect((await budgetNames(t.key)).sort()).toEqual(['slow', 'stopped']);
  });

  it('a rerun after a 5xx that came after the create answers the budget that run created, not a twin', async () => {
    const t = await tollgate.createTenant('Rerun after a 5xx');
    // The budget is stored, then raising the set's revision fails: 500, and the key is given back.
    const bumpFails = failFirstWrite(tollgate.store.db, budgetSetBump(t.id));
    try {
      expect((await createBudget(t.key, 'half-done', budget('half-done'))).status).toBe(500);
    } finally {
      bumpFails.restore();
    }
    expect(bumpFails.failed()).toBe(1);
    expect(await budgetNames(t.key)).toEqual(['half-done']);

    const rerun = await createBudget(t.key, 'half-done', budget('half-done'));
    expect(rerun.status).toBe(201);
    expect(rerun.headers.get('idempotent-replayed')).toBeNull();
    const [stored] = (await (await tollgate.request('GET', '/v1/budgets', { key: t.key })).json()).data;
    expect((await rerun.json()).id).toBe(stored.id);
    expect(await budgetNames(t.key)).toEqual(['half-done']);
    // Its answer is kept now.
    const replayed = await createBudget(t.key, 'half-done', budget('half-done'));
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    // A corrected request may take a key given back after an error; its run is its own.
    const failing = failFirstWrite(tollgate.store.db, budgetPut(t.id));
    try {
      expect((await createBudget(t.key, 'corrected', budget('first try'))).status).toBe(500);
    } finally {
      failing.restore();
    }
    expect((await createBudget(t.key, 'corrected', budget('second try'))).status).toBe(201);
    expect((await budgetNames(t.key)).sort()).toEqual(['half-done', 'second try']);
  });

  it.each([
    ['a budget', '/v1/budgets', budget('kept once')],
    [
      'a provider connection',
      '/v1/provider-connections',
      { provider: 'openai', api_key: 'sk-admin-0123456789abcdef' },
    ],
  ])(
    'a rerun of a request whose answer was not kept (its keeping failed) answers %s it created, once',
    async (_what, path, body) => {
      const t = await tollgate.createTenant('Answer not kept');
      const send = () =>
        tollgate.request('POST', path, { key: t.key, body, headers: { 'idempotency-key': 'k' } });
      const listed = async () => (await (await tollgate.request('GET', path, { key: t.key })).json()).data;
      const keepFails = failFirstWrite(
        tollgate.store.db,
        idempotencyKeyWrite(t.id, 'SET #state = :done, #response = :response'),
      );
      let first: TestResponse;
      try {
        first = await send();
      } finally {
        keepFails.restore();
      }
      expect(keepFails.failed()).toBe(1);
      expect(first.status).toBe(201);
      const created = await first.json();
      // The key is still marked running: retries wait until it is taken for stopped.
      expect((await send()).status).toBe(409);
      clockOffsetMs = IDEMPOTENCY_STALE_AFTER_MS + 1_000;
      try {
        const rerun = await send();
        expect(rerun.status).toBe(201);
        expect(rerun.headers.get('idempotent-replayed')).toBeNull();
        expect(await rerun.json()).toEqual(created);
        expect((await send()).headers.get('idempotent-replayed')).toBe('true');
      } finally {
        clockOffsetMs = 0;
      }
      expect((await listed()).map((item: { id: string }) => item.id)).toEqual([created.id]);
    },
  );

  it('is refused on operations that answer a secret shown once, and documented on the others', async () => {
    const t = await tollgate.createTenant('Secrets');
    const tenant = await tollgate.request('POST', '/v1/tenants', {
      key: OPERATOR_KEY,
      body: { name: 'With a key' },
      headers: { 'idempotency-key': 'tenant-1' },
    });
    expect(tenant.status).toBe(400);
    expect(await tenant.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_UNSUPPORTED' });
    const apiKey = await tollgate.request('POST', '/v1/api-keys', {
      key: t.key,
      body: { name: 'k', scopes: ['read'] },
      headers: { 'idempotency-key': 'key-1' },
    });
    expect(apiKey.status).toBe(400);

    const document = await (await tollgate.request('GET', '/openapi.json')).json();
    const headerOf = (operation: { parameters?: { in: string; name: string }[] }) =>
      operation.parameters?.some((p) => p.in === 'header' && p.name === 'Idempotency-Key') ?? false;
    expect(headerOf(document.paths['/v1/budgets'].post)).toBe(true);
    expect(document.paths['/v1/budgets'].post.responses['422']).toBeDefined();
    expect(headerOf(document.paths['/v1/usage'].post)).toBe(true);
    expect(headerOf(document.paths['/v1/api-keys'].post)).toBe(false);
    expect(headerOf(document.paths['/v1/budgets'].get)).toBe(false);
  });
});
