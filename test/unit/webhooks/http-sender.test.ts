import { afterEach, describe, expect, it } from 'vitest';
import { postWebhook } from '../../../shared/webhooks/http-sender.js';
import { nextAttemptAt, parseRetryAfter } from '../../../shared/webhooks/retry-policy.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

describe('postWebhook (against a receiver on 127.0.0.1)', () => {
  it('connects to the checked address, never asking DNS again (no rebinding)', async () => {
    receiver = await startReceiver();
    // `.invalid` never resolves (RFC 6761): the request can only arrive through the pinned address.
    const outcome = await postWebhook(
      `http://rebound.invalid:${receiver.port}/hook`,
      '{"a":1}',
      { 'webhook-id': 'm1' },
      {
        timeoutMs: 2000,
        addresses: async (url) => {
          expect(url.hostname).toBe('rebound.invalid');
          return [{ address: '127.0.0.1', family: 4 }];
        },
      },
    );
    expect(outcome).toMatchObject({ statusCode: 200, error: null });
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.headers.host).toBe(`rebound.invalid:${receiver.port}`);
    expect(receiver.received[0]?.body).toBe('{"a":1}');
  });

  it('makes no connection when the address check refuses the host', async () => {
    receiver = await startReceiver();
    const { RefusedUrlError } = await import('../../../shared/webhooks/address-guard.js');
    const outcome = await postWebhook(
      receiver.url,
      '{}',
      {},
      {
        timeoutMs: 2000,
        addresses: async () => {
          throw new RefusedUrlError('127.0.0.1 is a loopback address');
        },
      },
    );
    expect(outcome).toMatchObject({ statusCode: null, error: 'refused: 127.0.0.1 is a loopback address' });
    expect(receiver.received).toHaveLength(0);
  });

  it('does not follow redirects', async () => {
    receiver = await startReceiver((index) =>
      index === 0 ? { status: 302, headers: { location: '/elsewhere' } } : { status: 200 },
    );
    const outcome = await postWebhook(receiver.url, '{}', {}, { timeoutMs: 2000 });
    expect(outcome.statusCode).toBe(302);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.received).toHaveLength(1);
  });

  it('gives up after the timeout', async () => {
    receiver = await startReceiver(() => ({ status: 200, hang: true }));
    const outcome = await postWebhook(receiver.url, '{}', {}, { timeoutMs: 200 });
    expect(outcome).toMatchObject({ statusCode: null, error: 'timeout after 200 ms' });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(195);
  });

  it('reports a refused connection as an outcome', async () => {
    receiver = await startReceiver();
    const url = receiver.url;
    await receiver.close();
    receiver = undefined;
    const outcome = await postWebhook(url, '{}', {}, { timeoutMs: 2000 });
    expect(outcome).toMatchObject({ statusCode: null, error: 'ECONNREFUSED' });
  });

  it('reads Retry-After', async () => {
    receiver = await startReceiver(() => ({ status: 503, headers: { 'retry-after': '120' } }));
    const outcome = await postWebhook(receiver.url, '{}', {}, { timeoutMs: 2000 });
    expect(outcome).toMatchObject({ statusCode: 503, retryAfterSeconds: 120 });
  });
});

describe('retry policy', () => {
  const now = new Date('2026-11-01T00:00:00.000Z');
  const schedule = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

  it('waits the scheduled time after each attempt, then dead-letters', () => {
    expect(nextAttemptAt(schedule, 1, now, null, 86400)?.toISOString()).toBe('2026-11-01T00:00:05.000Z');
    expect(nextAttemptAt(schedule, 2, now, null, 86400)?.toISOString()).toBe('2026-11-01T00:05:00.000Z');
    expect(nextAttemptAt(schedule, 7, now, null, 86400)?.toISOString()).toBe('2026-11-01T10:00:00.000Z');
    expect(nextAttemptAt(schedule, 8, now, null, 86400)).toBeUndefined();
  });

  it('waits at least Retry-After, up to the cap, and never less than the schedule', () => {
    expect(nextAttemptAt(schedule, 1, now, 60, 86400)?.toISOString()).toBe('2026-11-01T00:01:00.000Z');
    expect(nextAttemptAt(schedule, 2, now, 60, 86400)?.toISOString()).toBe('2026-11-01T00:05:00.000Z');
    expect(nextAttemptAt(schedule, 1, now, 10 * 86400, 86400)?.toISOString()).toBe(
      '2026-11-02T00:00:00.000Z',
    );
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('30', now)).toBe(30);
    expect(parseRetryAfter('Sun, 01 Nov 2026 00:02:00 GMT', now)).toBe(120);
    expect(parseRetryAfter('Sat, 31 Oct 2026 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});
