import { type ConsumedCapacity, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { resolveHandlersOnce } from './resolved-handlers.js';

/** The table handle every repository receives: the document client and the table's name. */
export interface Db {
  client: DynamoDBDocumentClient;
  /**
   * The same connection, reading numbers as decimal strings: for the KPI cells, whose money sums
   * DynamoDB adds exactly (38 digits) and JavaScript numbers would not hold.
   */
  exactClient: DynamoDBDocumentClient;
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
  const baseClient = () =>
    new DynamoDBClient({
      region: options.region,
      // Throttling and transient errors are retried with the SDK's backoff before a request fails.
      maxAttempts: 6,
      ...(options.endpoint
        ? {
            endpoint: options.endpoint,
            // Local engines accept any credentials; fixed ones keep the SDK from searching for real ones.
            credentials: { accessKeyId: 'tollgatelocal', secretAccessKey: 'tollgatelocal' },
            // Account-based endpoint routing means nothing to a local engine, and resolving it costs
            // about a sixth of the SDK's CPU per request (measured against dynalite).
            accountIdEndpointMode: 'disabled' as const,
          }
        : {}),
    });
  const marshallOptions = { removeUndefinedValues: true, convertEmptyValues: false };
  const client = resolveHandlersOnce(DynamoDBDocumentClient.from(baseClient(), { marshallOptions }));
  // A client of its own: a document client keeps its translation options on the base client's
  // config, so two document clients over one base would share (and overwrite) them.
  const exactClient = resolveHandlersOnce(
    DynamoDBDocumentClient.from(baseClient(), {
      marshallOptions,
      unmarshallOptions: { wrapNumbers: (value: string) => value },
    }),
  );
  return { client, exactClient, tableName: options.tableName };
}

/** Closes the connections (shutdown, tests): an open keep-alive socket would hold the process. */
export function closeDb(db: Db): void {
  db.client.destroy();
  db.exactClient.destroy();
}
