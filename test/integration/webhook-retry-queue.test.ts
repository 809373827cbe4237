import type { SendMessageCommand, SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import type { SqsEvent } from '../../functions/sqs-batch.js';
import { handleRetryQueueBatch } from '../../functions/webhook-delivery/retry-queue.js';
import { SQS_MAX_DELAY_SECONDS, SqsRetryScheduler } from '../../shared/webhooks/sqs-retry-scheduler.js';
import { failFirstWrite } from '../helpers/lost-answer.js';
import { createTestTollgate, type TestTollgate } from '../helpers/tollgate.js';
import { startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Webhook retries as they run on AWS: attempts wait as delayed messages on the SQS retry queue,
 * and the webhook-delivery function's queue handler wakes them. No SQS runs on this machine, so
 * the queue is a recorder of SendMessage calls, and its messages come back in the shape Lambda's
 * SQS event source delivers them; the table, the deliverer and the receiver are real.
 */
class RecordingQueue {
  readonly sent: SendMessageCommandInput[] = [];
  readonly client = {
    send: async (command: SendMessageCommand) => {
      this.sent.push(command.input);
      return { MessageId: `m-${this.sent.length}` };
    },
  } as unknown as Pick<SQSClient, 'send'>;

  /** The messages sent so far as one SQS event (emptying the queue). */
  drain(): SqsEvent {
    const records = this.sent.splice(0).map((input, i) => ({
      messageId: `msg-${i}-${Math.random()}`,
      receiptHandle: `handle-${i}`,
      body: input.MessageBody ?? '',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'AIDAEXAMPLE',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: 'ignored',
      eventSource: 'aws:sqs' as const,
      eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:tollgate-dev-webhook-retry',
      awsRegion: 'eu-west-1',
    }));
    return { Records: records };
  }
}

describe('webhook retries through the SQS retry queue', () => {
  let tollgate: TestTollgate | undefined;
  let hook: WebhookReceiver | undefined;
  afterEach(async () => {
    await hook?.close();
    await tollgate?.cleanup();
  });

  /**
   * A Tollgate whose retries wait on a recorded queue, on a clock the test moves (`advance`), and
   * one tenant with an endpoint at a receiver on 127.0.0.1 answering as `respond` says.
   */
  async function queued(schedule: string, respond?: Parameters<typeof startReceiver>[0]) {
    let clock = Date.now();
    const now = () => new Date(clock);
    const queue = new RecordingQueue();
    const scheduler = new SqsRetryScheduler(queue.client, 'https://sqs.eu-west-1.amazonaws.com/1/retry', now);
    const started = await createTestTollgate({
      env: { TOLLGATE_ALLOW_PRIVATE_URLS: 'true', TOLLGATE_WEBHOOK_RETRY_SCHEDULE: schedule },
      webhooks: { timeoutMs: 2000, now, retryScheduler: scheduler },
    });
    tollgate = started;
    const receiver = await startReceiver(respond);
    hook = receiver;
    const tenant = await started.createTenant('Queue');
    const created = await started.request('POST', '/v1/webhook-endpoints', {
      key: tenant.key,
      body: { url: receiver.url },
    });
    const endpoint = await created.json();
    const advance = (ms: number) => {
      clock += ms;
    };
    return { tollgate: started, hook: receiver, queue, tenant, endpoint, advance, now };
  }

  it('waits in the queue for each retry, then delivers once; a long wait takes several hops', async () => {
    const { tollgate, hook, queue, tenant, endpoint, advance } = await queued('0,30,1500', (index) => ({
      status: index < 2 ? 500 : 200,
    }));

    // The first attempt is immediate and fails: the next one waits 30 s in the queue.
    const test = await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, {
      key: tenant.key,
    });
    expect(test.status).toBe(202);
    expect(hook.received).toHaveLength(1);
    expect(queue.sent).toHaveLength(2); // the wake-up of the first attempt, then of the second
    expect(queue.sent.map((message) => message.DelaySeconds)).toEqual([0, 30]);
    queue.sent.splice(0, 1); // the first wake-up was consumed by the immediate attempt

    // Woken 30 s later: the attempt fails again, and the third waits 1500 s: more than SQS holds.
    advance(30_000);
    expect((await handleRetryQueueBatch(tollgate.runtime, queue.drain())).batchItemFailures).toEqual([]);
    expect(hook.received).toHaveLength(2);
    expect(queue.sent.map((message) => message.DelaySeconds)).toEqual([SQS_MAX_DELAY_SECONDS]);

    // The first hop arrives early: sent on for the rest of the wait, nothing attempted.
    advance(SQS_MAX_DELAY_SECONDS * 1000);
    await handleRetryQueueBatch(tollgate.runtime, queue.drain());
    expect(hook.received).toHaveLength(2);
    expect(queue.sent.map((message) => message.DelaySeconds)).toEqual([1500 - SQS_MAX_DELAY_SECONDS]);

    // Due now: delivered. A duplicate of the same message (SQS is at least once) sends nothing.
    advance((1500 - SQS_MAX_DELAY_SECONDS) * 1000);
    const due = queue.drain();
    await handleRetryQueueBatch(tollgate.runtime, due);
    await handleRetryQueueBatch(tollgate.runtime, due);
    expect(hook.received).toHaveLength(3);
    expect(queue.sent).toEqual([]);
    const log = await tollgate.request('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, {
      key: tenant.key,
    });
    const [delivery] = (await log.json()).data;
    expect(delivery).toMatchObject({ state: 'delivered', attempts: 3 });
  });

  it('a wake-up that finds the attempt held by a worker that stopped waits for its lease, then makes it', async () => {
    const { tollgate, hook, queue, tenant, endpoint, advance, now } = await queued('0,30');

    // The immediate attempt is sent, then its worker stops before recording it (its lease stays).
    const recordFails = failFirstWrite(
      tollgate.store.db,
      (write) =>
        write.commandName === 'UpdateItemCommand' &&
        (write.Key?.sk?.S ?? '').includes('#webhook-delivery#') &&
        (write.UpdateExpression ?? '').includes('attempt_log'),
    );
    try {
      const test = await tollgate.request('POST', `/v1/webhook-endpoints/${endpoint.id}/test`, {
        key: tenant.key,
      });
      expect(test.status).toBe(500);
    } finally {
      recordFails.restore();
    }
    expect(recordFails.failed()).toBe(1);
    expect(hook.received).toHaveLength(1);

    // Its wake-up comes at once and finds the lease held: it waits until the lease has ended.
    expect(queue.sent.map((message) => message.DelaySeconds)).toEqual([0]);
    await handleRetryQueueBatch(tollgate.runtime, queue.drain());
    expect(hook.received).toHaveLength(1);
    const [moved] = queue.sent;
    expect(moved?.DelaySeconds).toBeGreaterThan(2 + 60);
    // The log says when the retry takes over (the lease's end), not the due time already past.
    const waiting = await tollgate.request('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, {
      key: tenant.key,
    });
    const [held] = (await waiting.json()).data;
    expect(held).toMatchObject({ state: 'pending', attempts: 0 });
    const wakeUpAt = now().getTime() + (moved?.DelaySeconds ?? 0) * 1000;
    expect(Date.parse(held.next_retry_at)).toBeGreaterThan(now().getTime() + 60_000);
    expect(Date.parse(held.next_retry_at)).toBeLessThanOrEqual(wakeUpAt);

    advance((moved?.DelaySeconds ?? 0) * 1000);
    await handleRetryQueueBatch(tollgate.runtime, queue.drain());
    // Sent again under the same webhook-id (receivers drop the repeat), and recorded this time.
    expect(hook.received).toHaveLength(2);
    expect(new Set(hook.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const log = await tollgate.request('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`, {
      key: tenant.key,
    });
    expect((await log.json()).data).toEqual([expect.objectContaining({ state: 'delivered', attempts: 1 })]);
    expect(queue.sent).toEqual([]);
  });

  it('returns a malformed message to the queue (and so, in time, to its DLQ)', async () => {
    const queue = new RecordingQueue();
    tollgate = await createTestTollgate({
      webhooks: {
        retryScheduler: new SqsRetryScheduler(queue.client, 'https://sqs.eu-west-1.amazonaws.com/1/q'),
      },
    });
    queue.sent.push({ QueueUrl: 'q', MessageBody: '{"tenant_id":"ten_x"}' });
    const event = queue.drain();
    const response = await handleRetryQueueBatch(tollgate.runtime, event);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]?.messageId }]);
  });
});
