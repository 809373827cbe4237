import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processSqsBatch, type SqsEvent, type SqsRecord } from '../../../functions/sqs-batch.js';
import { createLogger } from '../../../shared/observability/logger.js';

const logger = createLogger('silent');
const fixture = (name: string): SqsEvent =>
  JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/lambda', name), 'utf8'));

describe('processSqsBatch on a standard queue (the webhook retry queue)', () => {
  it('reports no failures when every message is handled, each handled once', async () => {
    const event = fixture('sqs-event.json');
    const handled: string[] = [];
    const response = await processSqsBatch(
      event,
      async (record) => {
        handled.push(JSON.parse(record.body).delivery_id);
      },
      { logger },
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(handled.sort()).toEqual(['dlv_01', 'dlv_02', 'dlv_03']);
  });

  it('returns exactly the failed messages, by messageId, and still handles the rest', async () => {
    const event = fixture('sqs-event.json');
    const handled: string[] = [];
    const response = await processSqsBatch(
      event,
      async (record) => {
        const { delivery_id } = JSON.parse(record.body);
        if (delivery_id === 'dlv_02') throw new Error('receiver timed out');
        handled.push(delivery_id);
      },
      { logger },
    );
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: '2e1424d4-f796-459a-8184-9c92662be6da' }],
    });
    expect(handled.sort()).toEqual(['dlv_01', 'dlv_03']);
  });

  it('counts a rejection with a non-Error value, and an unparseable body, as failures', async () => {
    const event = fixture('sqs-event.json');
    (event.Records[0] as SqsRecord).body = 'not json';
    const response = await processSqsBatch(
      event,
      async (record) => {
        const { delivery_id } = JSON.parse(record.body);
        if (delivery_id === 'dlv_03') throw 'a string';
      },
      { logger },
    );
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual([
      '059f36b4-87a3-44ab-83d2-661975830a7d',
      'c80e8021-a70a-42c7-a470-796e1186f753',
    ]);
  });

  it('handles at most `concurrency` messages at once', async () => {
    const event = fixture('sqs-event.json');
    let inFlight = 0;
    let most = 0;
    await processSqsBatch(
      event,
      async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
      },
      { logger, concurrency: 2 },
    );
    expect(most).toBe(2);
  });
});

describe('processSqsBatch on a FIFO queue', () => {
  it('stops at the first failure and returns it with every later message, unhandled', async () => {
    const event = fixture('sqs-fifo-event.json');
    const handled: string[] = [];
    const response = await processSqsBatch(
      event,
      async (record) => {
        if (record.body === 'second') throw new Error('not yet');
        handled.push(record.body);
      },
      { logger },
    );
    expect(handled).toEqual(['first']);
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: '2a3a9c2e-03a4-4f4c-9a6b-1f0b1c7d6e11' },
      { itemIdentifier: '3b4c5d6e-7f80-4a1b-9c2d-3e4f5a6b7c8d' },
    ]);
  });

  it('handles the messages one by one, in order', async () => {
    const event = fixture('sqs-fifo-event.json');
    const order: string[] = [];
    let inFlight = 0;
    const response = await processSqsBatch(
      event,
      async (record) => {
        expect(++inFlight).toBe(1);
        await new Promise((resolve) => setImmediate(resolve));
        order.push(record.body);
        inFlight--;
      },
      { logger, concurrency: 10 },
    );
    expect(order).toEqual(['first', 'second', 'third']);
    expect(response.batchItemFailures).toEqual([]);
  });
});
