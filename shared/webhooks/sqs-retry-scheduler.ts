import type { SQSClient } from '@aws-sdk/client-sqs';
import type { RetryScheduler } from './retry-scheduler.js';

/** SQS holds a message back at most 15 minutes; a longer wait is taken in several hops. */
export const SQS_MAX_DELAY_SECONDS = 900;

/** The body of a wake-up message: which delivery, and when its attempt is due. */
export interface RetryWakeUp {
  tenant_id: string;
  delivery_id: string;
  due_at: string;
}

/**
 * "When to retry" on AWS: a delayed message on the retry queue, consumed by the webhook-delivery
 * function (functions/webhook-delivery/handler.ts). A wait longer than SQS allows is sent as a
 * first hop, and the consumer sends the rest again (`isEarly`). Nothing to settle: a consumed
 * message is deleted by the event source, and the delivery item stays the truth, so a duplicate
 * or stale wake-up finds nothing due and is dropped.
 */
export class SqsRetryScheduler implements RetryScheduler {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async schedule(tenantId: string, deliveryId: string, dueAt: string): Promise<void> {
    const wakeUp: RetryWakeUp = { tenant_id: tenantId, delivery_id: deliveryId, due_at: dueAt };
    const waitSeconds = Math.ceil((Date.parse(dueAt) - this.now().getTime()) / 1000);
    // The SQS SDK is loaded with the first retry, not at cold start: most API requests never retry.
    const { SendMessageCommand } = await import('@aws-sdk/client-sqs');
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(wakeUp),
        DelaySeconds: Math.min(Math.max(waitSeconds, 0), SQS_MAX_DELAY_SECONDS),
      }),
    );
  }

  async settle(): Promise<void> {}

  /** Whether a received wake-up came before its time (a hop of a long wait): send it on. */
  isEarly(wakeUp: RetryWakeUp): boolean {
    return Date.parse(wakeUp.due_at) - this.now().getTime() > 1000;
  }
}

/** A wake-up message's body, checked: a malformed one is an error (it goes to the DLQ). */
export function parseWakeUp(body: string): RetryWakeUp {
  const value = JSON.parse(body) as Partial<RetryWakeUp>;
  if (
    typeof value.tenant_id !== 'string' ||
    typeof value.delivery_id !== 'string' ||
    typeof value.due_at !== 'string' ||
    Number.isNaN(Date.parse(value.due_at))
  ) {
    throw new Error('not a webhook retry wake-up: needs tenant_id, delivery_id and due_at');
  }
  return { tenant_id: value.tenant_id, delivery_id: value.delivery_id, due_at: value.due_at };
}
