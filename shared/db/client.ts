import { type ConsumedCapacity, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The table handle every repository receives: the document client and the table's name. */
export interface Db {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** When set, the writes that matter for cost report their consumed capacity here (benchmarks). */
  meter?: ((capacity: ConsumedCapacity | undefined) => void) | undefined;
}

export interface DbOptions {
  tableName: string;
  region: string;
  /** A DynamoDB-compatible endpoint (dynalite, DynamoDB Local); unset on AWS. */
  endpoint?: string | undefined;
}

/** Made once per process (per Lambda cold start) and shared by every request. */
export function createDb(options: DbOptions): Db {
  const base = new DynamoDBClient({
    region: options.region,
    // Throttling and transient errors are retried with the SDK's backoff before a request fails.
    maxAttempts: 6,
    ...(options.endpoint
      ? {
          endpoint: options.endpoint,
          // Local engines accept any credentials; fixed ones keep the SDK from searching for real ones.
          credentials: { accessKeyId: 'tollgatelocal', secretAccessKey: 'tollgatelocal' },
        }
      : {}),
  });
  const client = DynamoDBDocumentClient.from(base, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
  return { client, tableName: options.tableName };
}
