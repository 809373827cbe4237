import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dedupeKeyOf } from '../../shared/ingest/envelope.js';
import { getRawEvent, getRawEvents, listIngestedKeys } from '../../shared/ingest/raw-event-repository.js';
import { sumMoney, toMoneyString } from '../../shared/money/money.js';
import { createTestTollgate, type TestTollgate } from '../helpers/tollgate.js';

let tollgate: TestTollgate;
beforeAll(async () => {
  tollgate = await createTestTollgate();
});
afterAll(() => tollgate.cleanup());

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
const daysAgo = (days: number) => minutesAgo(days * 24 * 60);

/** gpt-4o-mini at $0.15 / $0.075 cached / $0.60 per 1M. */
const miniEvent = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  provider: 'openai',
  model: 'gpt-4o-mini',
  usage: { input_tokens: 1000, output_tokens: 200 },
  ...extra,
});

async function storedEvents(tenantId: string) {
  const keys = await listIngestedKeys(
    tollgate.store.db,
    tenantId,
    'usage',
    '2000-01-01T00:00:00.000Z',
    '2100-01-01T00:00:00.000Z',
  );
  return getRawEvents(tollgate.store.db, keys.keys);
}

describe('POST /v1/usage', () => {
  it('accepts one event and answers its exact cost and the price it used', async () => {
    const tenant = await tollgate.createTenant();
    const response = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      body: {
        id: 'req_8f2c',
        timestamp: minutesAgo(1),
        provider: 'openai',
        model: 'gpt-4o-2024-08-06',
        usage: { input_tokens: 1200, cached_input_tokens: 800, output_tokens: 300, reasoning_tokens: 120 },
        dimensions: { feature: 'support-bot', customer: 'acme' },
        cost: { amount: '0.0070', currency: 'USD' },
      },
    });
    expect(response.status).toBe(202);
    // gpt-4o: 1200 × 2.50 + 800 × 1.25 + 300 × 10.00 = 7000 µ$ per 1M → $0.007
    expect(await response.json()).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [],
      results: [
        {
          index: 0,
          id: 'req_8f2c',
          status: 'accepted',
          cost: '0.00700000',
          priced: true,
          price_id: 'builtin:openai/gpt-4o@2024-10-02',
        },
      ],
    });
    const [stored] = await storedEvents(tenant.id);
    expect(stored).toMatchObject({
      id: 'req_8f2c',
      prov: 'openai',
      model: 'gpt-4o-2024-08-06',
      cost: '0.007',
      price: 'builtin:openai/gpt-4o@2024-10-02',
      rcost: '0.0070',
      dims: { feature: 'support-bot', customer: 'acme' },
      u: { input_tokens: 1200, cached_input_tokens: 800, output_tokens: 300, reasoning_tokens: 120 },
    });
  });

  it('keeps the valid events of a batch and rejects the others one by one, with reasons', async () => {
    const tenant = await tollgate.createTenant();
    const response = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      body: {
        events: [
          miniEvent('ok-1'),
          { id: 'no-usage', provider: 'openai', model: 'gpt-4o' },
          miniEvent('both', { raw_usage: { prompt_tokens: 1, completion_tokens: 1 } }),
          miniEvent('neg', { usage: { input_tokens: -1 } }),
          miniEvent('reasoning', { usage: { output_tokens: 10, reasoning_tokens: 11 } }),
          miniEvent('future', { timestamp: new Date(Date.now() + 6 * 60_000).toISOString() }),
          miniEvent('ancient', { timestamp: daysAgo(36) }),
          miniEvent('bad-raw', {
            usage: undefined,
            raw_usage: {
              prompt_tokens: 10,
              completion_tokens: 5,
              prompt_tokens_details: { cached_tokens: 11 },
            },
          }),
          miniEvent('bad-dims', { dimensions: { Feature: 'x' } }),
          { provider: 'openai', model: 'gpt-4o', usage: {} },
          'not an object',
          miniEvent('ok-2', { timestamp: daysAgo(34) }),
          // A map with this key cannot be stored: refused here, not a 503 on every retry.
          miniEvent('ctor', { dimensions: { constructor: 'x' } }),
        ],
      },
    });
    expect(response.status).toBe(202);
    const body = await response.json();
    expect(body.accepted).toBe(2);
    expect(
      body.results
        .filter((r: { status: string }) => r.status === 'accepted')
        .map((r: { id: string }) => r.id),
    ).toEqual(['ok-1', 'ok-2']);
    const byId = Object.fromEntries(
      body.rejected.map((r: { index: number; id: string | null; errors: unknown }) => [r.index, r]),
    );
    expect(Object.keys(byId).map(Number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]);
    expect(byId[12].errors[0]).toMatchObject({
      path: 'dimensions.constructor',
      message: expect.stringContaining('reserved'),
    });
    expect(byId[1].errors[0]).toMatchObject({
      path: 'usage',
      message: expect.stringContaining('exactly one'),
    });
    expect(byId[3].errors[0].path).toBe('usage.input_tokens');
    expect(byId[4].errors[0].path).toBe('usage.reasoning_tokens');
    expect(byId[5].errors[0]).toEqual({ path: 'timestamp', message: 'is more than 5 minutes in the future' });
    expect(byId[6].errors[0]).toEqual({ path: 'timestamp', message: 'is more than 35 days old' });
    expect(byId[7].errors[0].path).toMatch(/^raw_usage/);
    expect(byId[8].errors[0]).toMatchObject({
      path: expect.stringMatching(/^dimensions/),
      message: expect.stringContaining('the key: lowercase'),
    });
    expect(byId[9]).toMatchObject({ id: null, errors: [expect.objectContaining({ path: 'id' })] });
    expect(byId[10]).toMatchObject({ id: null });
    expect(await storedEvents(tenant.id)).toHaveLength(2);
  });

  it('refuses by itself an event that could never be stored, and keeps the rest of its batch', async () => {
    const tenant = await tollgate.createTenant();
    // 5,000 levels: more than JSON.stringify itself takes, so the body is spliced as text.
    const DEEP = '"__deep__"';
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const post = async (events: unknown[]) => {
      const response = await tollgate.request('POST', '/v1/usage', {
        key: tenant.key,
        rawBody: JSON.stringify({ events }).replace(DEEP, deep),
        headers: { 'content-type': 'application/json' },
      });
      expect(response.status).toBe(202);
      return response.json();
    };
    const raw = (extra: Record<string, unknown>) => ({ prompt_tokens: 10, completion_tokens: 2, ...extra });
    const first = await post([
      miniEvent('kept-1'),
      miniEvent('deep', { usage: undefined, raw_usage: raw({ x: '__deep__' }) }),
      miniEvent('huge', { usage: undefined, raw_usage: raw({ x: 'a'.repeat(20_000) }) }),
      // A provider's real usage object, details and all, is far inside the bounds.
      miniEvent('real', {
        usage: undefined,
        raw_usage: raw({
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 0 },
        }),
      }),
    ]);
    expect(first.accepted).toBe(2);
    expect(first.rejected).toEqual([
      { index: 1, id: 'deep', errors: [{ path: 'raw_usage', message: 'nested more than 16 levels deep' }] },
      {
        index: 2,
        id: 'huge',
        errors: [
          { path: 'raw_usage', message: "larger than 16 KB as JSON; send the provider's usage object only" },
        ],
      },
    ]);

    // Should the store still refuse an event for what it is, that event is rejected and the batch
    // answered; a transient failure is still a 503 for the whole batch (retried, counted once).
    const { db } = tollgate.store;
    db.client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { Item?: { id?: string } };
        if (input.Item?.id === 'refused')
          throw new DynamoDBServiceException({
            name: 'ValidationException',
            $fault: 'client',
            message: 'Item size has exceeded the maximum allowed size',
            $metadata: { httpStatusCode: 400 },
          });
        return next(args);
      },
      { step: 'initialize', name: 'refuseOneItem' },
    );
    try {
      const second = await post([miniEvent('kept-2'), miniEvent('refused')]);
      expect(second.accepted).toBe(1);
      expect(second.rejected).toEqual([
        {
          index: 1,
          id: 'refused',
          errors: [
            { path: '(root)', message: 'cannot be stored: larger than the store keeps in one item (400 KB)' },
          ],
        },
      ]);
      expect(second.results.map((result: { status: string }) => result.status)).toEqual([
        'accepted',
        'rejected',
      ]);
    } finally {
      db.client.middlewareStack.remove('refuseOneItem');
    }
    expect((await storedEvents(tenant.id)).map((event) => event.id).sort()).toEqual([
      'kept-1',
      'kept-2',
      'real',
    ]);
  });

  it('bounds counts, amounts and dimension names to what the KPIs can add up and read back', async () => {
    const tenant = await tollgate.createTenant();
    const usage = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      body: {
        events: [
          miniEvent('max', { usage: { input_tokens: 1_000_000_000 } }),
          miniEvent('over', { usage: { input_tokens: 1_000_000_001 } }),
          miniEvent('raw-over', {
            usage: undefined,
            raw_usage: { prompt_tokens: 2_000_000_000, completion_tokens: 1 },
          }),
          miniEvent('own-cost', { cost: { amount: '1000000000000000', currency: 'USD' } }),
          miniEvent('model-dim', { dimensions: { model: 'gpt-4o' } }),
          miniEvent('provider-dim', { dimensions: { provider: 'openai', feature: 'x' } }),
        ],
      },
    });
    const result = await usage.json();
    expect(result.accepted).toBe(1);
    expect(
      result.rejected.map((r: { id: string; errors: { path: string; message: string }[] }) => [
        r.id,
        r.errors[0]?.path,
        r.errors[0]?.message,
      ]),
    ).toEqual([
      ['over', 'usage.input_tokens', expect.stringContaining('1000000000')],
      ['raw-over', 'raw_usage.prompt_tokens', 'must be at most 1,000,000,000'],
      ['own-cost', 'cost.amount', 'at most 15 digits before the decimal point and 20 after'],
      [
        'model-dim',
        'dimensions',
        expect.stringContaining('"model" and "provider" are the event\'s own fields'),
      ],
      [
        'provider-dim',
        'dimensions',
        expect.stringContaining('"model" and "provider" are the event\'s own fields'),
      ],
    ]);
    const outcomes = await tollgate.request('POST', '/v1/outcomes', {
      key: tenant.key,
      body: {
        events: [
          { id: 'ok', name: 'revenue_usd', value: '999999999999999.99999999999999999999' },
          { id: 'huge', name: 'revenue_usd', value: 1e300 },
          { id: 'huge-text', name: 'revenue_usd', value: '1e300' },
          { id: 'fine', name: 'revenue_usd', value: '0.000000000000000000001' },
        ],
      },
    });
    const outcome = await outcomes.json();
    expect(outcome.accepted).toBe(1);
    expect(outcome.rejected.map((r: { id: string }) => r.id)).toEqual(['huge', 'huge-text', 'fine']);
  });

  it('counts an id once whatever the retries, and the first version wins', async () => {
    const tenant = await tollgate.createTenant();
    const first = await tollgate.request('POST', '/v1/usage', { key: tenant.key, body: miniEvent('once') });
    expect((await first.json()).accepted).toBe(1);
    const again = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      body: {
        events: [
          miniEvent('once', { usage: { input_tokens: 999_999 } }),
          miniEvent('once'),
          miniEvent('twice'),
        ],
      },
    });
    expect(await again.json()).toMatchObject({
      accepted: 1,
      duplicates: 2,
      results: [
        { index: 0, id: 'once', status: 'duplicate' },
        { index: 1, id: 'once', status: 'duplicate' },
        { index: 2, id: 'twice', status: 'accepted' },
      ],
    });
    const stored = await getRawEvent(tollgate.store.db, tenant.id, 'usage', dedupeKeyOf('once'));
    expect(stored?.u).toEqual({ input_tokens: 1000, output_tokens: 200 });

    // Ids are per tenant: another tenant's "once" is its own event.
    const other = await tollgate.createTenant();
    expect(
      (
        await (
          await tollgate.request('POST', '/v1/usage', { key: other.key, body: miniEvent('once') })
        ).json()
      ).accepted,
    ).toBe(1);
  });

  it('takes CloudEvents, one or a batch, deduplicating on source and id', async () => {
    const tenant = await tollgate.createTenant();
    const time = minutesAgo(2);
    const cloudEvent = (id: string, source: string) => ({
      specversion: '1.0',
      id,
      source,
      type: 'com.example.llm.usage',
      time,
      data: {
        provider: 'openai',
        model: 'gpt-4o-mini',
        usage: { input_tokens: 1000, output_tokens: 200 },
        dimensions: { feature: 'chat' },
      },
    });
    const single = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      rawBody: JSON.stringify(cloudEvent('evt-1', '//app/a')),
      headers: { 'content-type': 'application/cloudevents+json' },
    });
    expect(await single.json()).toMatchObject({
      accepted: 1,
      results: [{ id: 'evt-1', cost: '0.00027000' }],
    });

    const batch = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      rawBody: JSON.stringify([
        cloudEvent('evt-1', '//app/a'),
        cloudEvent('evt-1', '//app/b'),
        { ...cloudEvent('evt-2', '//app/a'), specversion: '0.3' },
        { specversion: '1.0', id: 'evt-3', source: '//app/a', type: 't' },
      ]),
      headers: { 'content-type': 'application/cloudevents-batch+json; charset=utf-8' },
    });
    const body = await batch.json();
    expect(body).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(body.results.map((r: { status: string }) => r.status)).toEqual([
      'duplicate',
      'accepted',
      'rejected',
      'rejected',
    ]);
    expect(body.rejected[0].errors).toEqual([{ path: 'specversion', message: 'must be "1.0"' }]);
    expect(body.rejected[1].errors[0].path).toBe('data');
    const stored = await storedEvents(tenant.id);
    expect(stored.map((event) => event.src).sort()).toEqual(['//app/a', '//app/b']);
    expect(stored.map((event) => event.ts)).toEqual([time, time]);
    expect(stored.map((event) => event.id)).toEqual(['evt-1', 'evt-1']);
  });

  it('reads every RFC 3339 spelling: lower-case t and z, offsets, and a leap second', async () => {
    const tenant = await tollgate.createTenant();
    const day = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
    const response = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      body: {
        events: [
          miniEvent('lower', { timestamp: `${day}t10:00:00z` }),
          miniEvent('lower-offset', { timestamp: `${day}t12:00:00.5+02:00` }),
          miniEvent('leap', { timestamp: `${day}T23:59:60Z` }),
          miniEvent('leap-fraction', { timestamp: `${day}t23:59:60.25z` }),
          miniEvent('not-a-leap', { timestamp: `${day}T23:59:61Z` }),
          miniEvent('no-zone', { timestamp: `${day}t10:00:00` }),
        ],
      },
    });
    const body = await response.json();
    expect(body.accepted).toBe(4);
    expect(body.rejected.map((r: { id: string }) => r.id)).toEqual(['not-a-leap', 'no-zone']);
    expect(body.rejected[0].errors[0]).toMatchObject({
      path: 'timestamp',
      message: expect.stringContaining('RFC 3339'),
    });
    const stored = Object.fromEntries((await storedEvents(tenant.id)).map((event) => [event.id, event.ts]));
    expect(stored).toEqual({
      lower: `${day}T10:00:00.000Z`,
      'lower-offset': `${day}T10:00:00.500Z`,
      // A Date holds no 61st second: a leap second is its minute's last millisecond.
      leap: `${day}T23:59:59.999Z`,
      'leap-fraction': `${day}T23:59:59.999Z`,
    });
  });

  it('refuses "__proto__" as a dimension key rather than drop the pair', async () => {
    const tenant = await tollgate.createTenant();
    const response = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      rawBody: JSON.stringify({ events: [miniEvent('proto', { dimensions: { feature: 'chat' } })] }).replace(
        '"feature":"chat"',
        '"feature":"chat","__proto__":"x"',
      ),
      headers: { 'content-type': 'application/json' },
    });
    const body = await response.json();
    expect(body.accepted).toBe(0);
    expect(body.rejected[0].errors[0]).toEqual({
      path: 'dimensions.__proto__',
      message: expect.stringContaining('the key: lowercase'),
    });
    expect(await storedEvents(tenant.id)).toEqual([]);
  });

  it('reads gzip-compressed bodies over HTTP, holding the decompressed size to the limit', async () => {
    const tenant = await tollgate.createTenant();
    const server = serve({ fetch: tollgate.app.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const post = (path: string, body: Uint8Array | string, encoding?: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tenant.key}`,
          'content-type': 'application/json',
          ...(encoding ? { 'content-encoding': encoding } : {}),
        },
        body,
      });
    const problem = async (response: Response) => (await response.json()) as { code: string; detail: string };
    try {
      const events = JSON.stringify({ events: [miniEvent('gz-1'), miniEvent('gz-2')] });
      const accepted = await post('/v1/usage', gzipSync(events), 'gzip');
      expect(accepted.status).toBe(202);
      expect(await accepted.json()).toMatchObject({ accepted: 2 });
      // The same body again, plain: the same events, so duplicates.
      expect(await (await post('/v1/usage', events)).json()).toMatchObject({ accepted: 0, duplicates: 2 });

      const outcome = await post(
        '/v1/outcomes',
        gzipSync(JSON.stringify({ id: 'o-gz', name: 'tickets_resolved', value: '1' })),
        'x-gzip',
      );
      expect(outcome.status).toBe(202);

      // A body that decompresses past the limit (1 MB here) is refused, however small it was sent.
      const bomb = gzipSync(JSON.stringify({ events: [miniEvent('bomb')], pad: ' '.repeat(2_000_000) }));
      expect(bomb.length).toBeLessThan(10_000);
      const tooBig = await post('/v1/usage', bomb, 'gzip');
      expect(tooBig.status).toBe(413);
      expect((await problem(tooBig)).detail).toContain('decompressed');

      const broken = await post('/v1/usage', 'not gzip at all', 'gzip');
      expect(broken.status).toBe(400);
      expect((await problem(broken)).detail).toBe('The body is not valid gzip.');

      const brotli = await post('/v1/usage', events, 'br');
      expect(brotli.status).toBe(415);
      expect((await problem(brotli)).detail).toContain('"br" is not supported');
      // Elsewhere an encoded body is refused by name, not read as broken JSON.
      const budget = await post('/v1/budgets', gzipSync('{}'), 'gzip');
      expect(budget.status).toBe(415);
      expect((await problem(budget)).code).toBe('UNSUPPORTED_MEDIA_TYPE');
      // A read has no body for the header to describe: it is answered.
      const read = await fetch(`http://127.0.0.1:${port}/v1/budgets`, {
        headers: { authorization: `Bearer ${tenant.key}`, 'content-encoding': 'gzip' },
      });
      expect(read.status).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect((await storedEvents(tenant.id)).map((event) => event.id).sort()).toEqual(['gz-1', 'gz-2']);
  });

  it('keeps an event of an unknown model, counted as tokens and unpriced', async () => {
    const tenant = await tollgate.createTenant();
    const response = await tollgate.request('POST', '/v1/usage', {
      key: tenant.key,
      body: {
        id: 'u1',
        provider: 'custom',
        model: 'in-house-llm',
        usage: { input_tokens: 5000, output_tokens: 50 },
      },
    });
    expect(await response.json()).toMatchObject({
      accepted: 1,
      results: [{ status: 'accepted', priced: false }],
    });
    const [stored] = await storedEvents(tenant.id);
    expect(stored).toMatchObject({ model: 'in-house-llm', u: { input_tokens: 5000, output_tokens: 50 } });
    expect(stored?.cost).toBeUndefined();
    expect(stored?.price).toBeUndefined();
  });

  it('refuses bodies that are not an event envelope (400), too many events or bytes (413), and other media types (415)', async () => {
    const tenant = await tollgate.createTenant();
    const post = (rawBody: string, contentType = 'application/json') =>
      tollgate.request('POST', '/v1/usage', {
        key: tenant.key,
        rawBody,
        headers: { 'content-type': contentType },
      });

    for (const [body, code] of [
      ['{"events": ', 'MALFORMED_JSON'],
      ['[1, 2]', 'INVALID_ENVELOPE'],
      ['"just a string"', 'INVALID_ENVELOPE'],
      ['{"events": {}}', 'INVALID_ENVELOPE'],
      ['{"events": []}', 'INVALID_ENVELOPE'],
    ] as const) {
      const response = await post(body);
      expect(response.status, body).toBe(400);
      expect((await response.json()).code, body).toBe(code);
    }
    // The CloudEvents media types follow the same rule: the envelope itself is a 400.
    for (const [body, contentType] of [
      ['{"specversion":"1.0"}', 'application/cloudevents-batch+json'],
      ['[]', 'application/cloudevents-batch+json'],
      ['[{"specversion":"1.0"}]', 'application/cloudevents+json'],
      ['"an event"', 'application/cloudevents+json'],
    ] as const) {
      const response = await post(body, contentType);
      expect(response.status, body).toBe(400);
      expect((await response.json()).code, body).toBe('INVALID_ENVELOPE');
    }

    const tooMany = await post(
      JSON.stringify({ events: Array.from({ length: 1001 }, (_, i) => miniEvent(`e${i}`)) }),
    );
    expect(tooMany.status).toBe(413);
    expect((await tooMany.json()).code).toBe('PAYLOAD_TOO_LARGE');

    const tooBig = await post(
      JSON.stringify({
        events: [miniEvent('big', { dimensions: { note: 'x'.repeat(200) } })],
        pad: 'y'.repeat(1_100_000),
      }),
    );
    expect(tooBig.status).toBe(413);

    const text = await post('id=1', 'text/plain');
    expect(text.status).toBe(415);
    expect(await storedEvents(tenant.id)).toEqual([]);
  });

  it('needs the ingest scope', async () => {
    const tenant = await tollgate.createTenant();
    const reader = await tollgate.mintKey(tenant.key, { name: 'reader', scopes: ['read'] });
    const response = await tollgate.request('POST', '/v1/usage', { key: reader.key, body: miniEvent('x') });
    expect(response.status).toBe(403);
  });
});

describe('exactly-once under concurrency', () => {
  it('10,000 events with 20% duplicates in concurrent, overlapping batches: exactly 8,000 accepted, exact total cost', async () => {
    const tenant = await tollgate.createTenant('Concurrent');
    const unique = Array.from({ length: 8000 }, (_, i) =>
      miniEvent(`evt-${i}`, { timestamp: minutesAgo(i % 600) }),
    );
    // 2,000 extra copies of the events, spread over the ids.
    const copies = Array.from({ length: 2000 }, (_, i) => unique[(i * 7919) % unique.length]);
    const all = [...unique, ...copies];
    // A deterministic shuffle, so copies land in other batches than their originals.
    for (let i = all.length - 1; i > 0; i--) {
      const j = (i * 104729 + 7) % (i + 1);
      [all[i], all[j]] = [all[j] as (typeof all)[number], all[i] as (typeof all)[number]];
    }
    const batches = Array.from({ length: 20 }, (_, b) => all.slice(b * 500, (b + 1) * 500));
    const responses = await Promise.all(
      batches.map((events) => tollgate.request('POST', '/v1/usage', { key: tenant.key, body: { events } })),
    );
    const bodies = await Promise.all(responses.map((response) => response.json()));
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(202));

    const accepted = bodies.reduce((sum, body) => sum + body.accepted, 0);
    const duplicates = bodies.reduce((sum, body) => sum + body.duplicates, 0);
    expect(accepted).toBe(8000);
    expect(duplicates).toBe(2000);

    // Each event: 1000 × $0.15 + 200 × $0.60 per 1M = $0.00027; 8,000 of them = $2.16 exactly.
    const answered = bodies.flatMap((body) =>
      body.results
        .filter((r: { status: string }) => r.status === 'accepted')
        .map((r: { cost: string }) => r.cost),
    );
    expect(toMoneyString(sumMoney(answered))).toBe('2.16000000');
    const stored = await storedEvents(tenant.id);
    expect(stored).toHaveLength(8000);
    expect(new Set(stored.map((event) => event.id)).size).toBe(8000);
    expect(toMoneyString(sumMoney(stored.map((event) => event.cost as string)))).toBe('2.16000000');
  }, 300_000);
});

describe('POST /v1/outcomes', () => {
  it('stores business drivers exactly once, values as exact decimals', async () => {
    const tenant = await tollgate.createTenant();
    const body = {
      events: [
        { id: 'o1', name: 'ticket_resolved', value: 1, dimensions: { feature: 'support-bot' } },
        { id: 'o2', name: 'revenue_usd', value: '129.00', timestamp: minutesAgo(3) },
        { id: 'o1', name: 'ticket_resolved' },
        { id: 'o3', name: 'Bad Name', value: 1 },
        { id: 'o4', name: 'revenue_usd', value: '-1' },
      ],
    };
    const response = await tollgate.request('POST', '/v1/outcomes', { key: tenant.key, body });
    expect(response.status).toBe(202);
    const result = await response.json();
    expect(result).toMatchObject({ accepted: 2, duplicates: 1 });
    expect(result.rejected.map((r: { index: number }) => r.index)).toEqual([3, 4]);
    const keys = await listIngestedKeys(
      tollgate.store.db,
      tenant.id,
      'outcome',
      '2000-01-01T00:00:00.000Z',
      '2100-01-01T00:00:00.000Z',
    );
    const stored = await getRawEvents(tollgate.store.db, keys.keys);
    expect(stored.map((event) => [event.id, event.name, event.value]).sort()).toEqual([
      ['o1', 'ticket_resolved', '1'],
      ['o2', 'revenue_usd', '129'],
    ]);
    const again = await tollgate.request('POST', '/v1/outcomes', {
      key: tenant.key,
      body: { events: [body.events[0]] },
    });
    expect((await again.json()).duplicates).toBe(1);
  });
});
