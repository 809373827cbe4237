/**
 * DynamoDB's refusals for load (a hot partition, an account or table limit), and any other AWS
 * service's that the SDK marks as throttling (KMS, EventBridge behind a request). The SDK retries them
 * with backoff first (`maxAttempts` in client.ts); one that still reaches a handler means the store
 * is busy for longer, which a caller should meet as 503 and a retry, not as an unexpected 500.
 */
const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

export function isStoreThrottling(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const retryable = (error as { $retryable?: { throttling?: boolean } }).$retryable;
  return THROTTLING_ERRORS.has(error.name) || retryable?.throttling === true;
}
