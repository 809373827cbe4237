import type { Runtime } from '../../shared/runtime.js';
import { parseWakeUp, SqsRetryScheduler } from '../../shared/webhooks/sqs-retry-scheduler.js';
import { processSqsBatch, type SqsBatchResponse, type SqsEvent } from '../sqs-batch.js';

/**
 * One batch of the retry queue: each message names a delivery and when its attempt is due. A
 * message that comes early (one hop of a wait longer than SQS's 15 minutes) is sent on; a due
 * one makes the attempt, which schedules the next itself. Whatever the delivery says (delivered,
 * not due, busy under another worker's lease, missing) the message is done; only an error (the
 * store unreachable, a malformed body) returns it to the queue.
 */
export async function handleRetryQueueBatch(runtime: Runtime, event: SqsEvent): Promise<SqsBatchResponse> {
  const { scheduler, deliverer } = runtime.webhooks;
  return processSqsBatch(
    event,
    async (record) => {
      const wakeUp = parseWakeUp(record.body);
      if (scheduler instanceof SqsRetryScheduler && scheduler.isEarly(wakeUp)) {
        await scheduler.schedule(wakeUp.tenant_id, wakeUp.delivery_id, wakeUp.due_at);
        return;
      }
      const result = await deliverer.deliver(wakeUp.tenant_id, wakeUp.delivery_id, wakeUp.due_at);
      runtime.logger.info(
        { tenant_id: wakeUp.tenant_id, delivery_id: wakeUp.delivery_id, result },
        'webhook retry',
      );
    },
    { logger: runtime.logger },
  );
}
