import pLimit from 'p-limit';
import type { Logger } from '../shared/observability/logger.js';

/** One message as Lambda's SQS event source delivers it. */
export interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: {
    ApproximateReceiveCount: string;
    SentTimestamp: string;
    SenderId: string;
    ApproximateFirstReceiveTimestamp: string;
    AWSTraceHeader?: string;
    MessageGroupId?: string;
    MessageDeduplicationId?: string;
    SequenceNumber?: string;
  };
  messageAttributes: Record<
    string,
    { dataType: string; stringValue?: string; binaryValue?: string; stringListValues?: string[] }
  >;
  md5OfBody: string;
  eventSource: 'aws:sqs';
  eventSourceARN: string;
  awsRegion: string;
}

export interface SqsEvent {
  Records: SqsRecord[];
}

/** The answer Lambda expects when the event source reports batch item failures. */
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface SqsBatchOptions {
  logger: Logger;
  /** Records of a standard queue handled at once (FIFO queues go one by one, in order). */
  concurrency?: number;
}

/**
 * Runs `handleRecord` for every message of an SQS batch and reports the ones that failed, so
 * only those come back (after the visibility timeout) and, past the queue's maxReceiveCount, go
 * to its DLQ; the ones that succeeded are deleted. Needs `reportBatchItemFailures` on the event
 * source (the stack sets it). `handleRecord` must be idempotent: SQS delivers at least once.
 *
 * On a FIFO queue the first failure also returns every later message of the batch unprocessed,
 * which keeps each message group in order.
 */
export async function processSqsBatch(
  event: SqsEvent,
  handleRecord: (record: SqsRecord) => Promise<void>,
  options: SqsBatchOptions,
): Promise<SqsBatchResponse> {
  const failed = new Set<string>();
  const attempt = async (record: SqsRecord): Promise<boolean> => {
    try {
      await handleRecord(record);
      return true;
    } catch (error) {
      options.logger.error(
        {
          err: error,
          message_id: record.messageId,
          receive_count: Number(record.attributes.ApproximateReceiveCount),
        },
        'SQS message failed; it will be received again',
      );
      failed.add(record.messageId);
      return false;
    }
  };

  if (event.Records.some((record) => record.eventSourceARN.endsWith('.fifo'))) {
    for (const [index, record] of event.Records.entries()) {
      if (await attempt(record)) continue;
      for (const later of event.Records.slice(index + 1)) failed.add(later.messageId);
      break;
    }
  } else {
    const limit = pLimit(options.concurrency ?? 10);
    await Promise.all(event.Records.map((record) => limit(() => attempt(record))));
  }

  // In batch order, which is also the order the FIFO rule above relies on.
  return {
    batchItemFailures: event.Records.filter((record) => failed.has(record.messageId)).map((record) => ({
      itemIdentifier: record.messageId,
    })),
  };
}
