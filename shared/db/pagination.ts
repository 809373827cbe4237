import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../errors/errors.js';
import type { Db } from './client.js';
import { GSI1, TABLE_KEYS } from './table.js';

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

type KeyMap = Record<string, string>;

/** Opaque to clients; it holds the last key of the page, which `decodeCursor` checks belongs to the caller. */
export function encodeCursor(lastKey: KeyMap | undefined): string | null {
  return lastKey ? Buffer.from(JSON.stringify(lastKey), 'utf8').toString('base64url') : null;
}

const invalidCursor = () =>
  new ValidationError(
    'The cursor is not one this list returned.',
    [{ path: 'cursor', message: 'invalid cursor' }],
    'INVALID_CURSOR',
  );

/** What a cursor of one list must look like: the key of an item of that list. */
export interface CursorShape {
  /** Exactly the attributes its keys hold (a GSI's last key also holds the table's). */
  attributes: readonly string[];
  partitionAttribute: string;
  partition: string;
  sortAttribute: string;
  /** The list's items all have sort keys starting with this. */
  sortKeyPrefix?: string | undefined;
}

/**
 * Decodes a cursor and checks that it is the key of an item of the list being read: in the
 * partition being listed (a cursor crafted from another tenant's keys is refused rather than
 * followed), with the list's key attributes and sort-key prefix (a cursor of another list of the
 * same tenant is refused as such, rather than failing in the store).
 */
export function decodeCursor(cursor: string, shape: CursorShape): KeyMap {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) throw invalidCursor();
  const entries = Object.entries(decoded);
  if (!entries.every(([, value]) => typeof value === 'string')) throw invalidCursor();
  const names = entries.map(([name]) => name).sort();
  const expected = [...shape.attributes].sort();
  if (names.length !== expected.length || names.some((name, index) => name !== expected[index]))
    throw invalidCursor();
  const key = decoded as KeyMap;
  if (key[shape.partitionAttribute] !== shape.partition) throw invalidCursor();
  if (shape.sortKeyPrefix !== undefined && !key[shape.sortAttribute]?.startsWith(shape.sortKeyPrefix))
    throw invalidCursor();
  return key;
}

export interface PartitionQuery {
  partition: string;
  /** Only items whose sort key starts with this. */
  sortKeyPrefix?: string;
  /** Query gsi1 instead of the table (eventually consistent). */
  onGsi1?: boolean;
  /** Newest first, for ids that sort by time. */
  descending?: boolean;
}

/** One page of a partition, mapped to domain objects in the caller's repository. */
export async function queryPage<T>(
  db: Db,
  query: PartitionQuery,
  page: PageRequest,
  toDomain: (item: Record<string, unknown>) => T,
): Promise<Page<T>> {
  const partitionAttribute = query.onGsi1 ? GSI1.partitionKey : TABLE_KEYS.partitionKey;
  const sortAttribute = query.onGsi1 ? GSI1.sortKey : TABLE_KEYS.sortKey;
  const input: QueryCommandInput = {
    TableName: db.tableName,
    KeyConditionExpression: query.sortKeyPrefix ? '#p = :p AND begins_with(#s, :s)' : '#p = :p',
    ExpressionAttributeNames: query.sortKeyPrefix
      ? { '#p': partitionAttribute, '#s': sortAttribute }
      : { '#p': partitionAttribute },
    ExpressionAttributeValues: query.sortKeyPrefix
      ? { ':p': query.partition, ':s': query.sortKeyPrefix }
      : { ':p': query.partition },
    Limit: page.limit,
    ScanIndexForward: !query.descending,
    ...(query.onGsi1 ? { IndexName: GSI1.indexName } : { ConsistentRead: true }),
    ...(page.cursor
      ? {
          ExclusiveStartKey: decodeCursor(page.cursor, {
            attributes: query.onGsi1
              ? [GSI1.partitionKey, GSI1.sortKey, TABLE_KEYS.partitionKey, TABLE_KEYS.sortKey]
              : [TABLE_KEYS.partitionKey, TABLE_KEYS.sortKey],
            partitionAttribute,
            partition: query.partition,
            sortAttribute,
            sortKeyPrefix: query.sortKeyPrefix,
          }),
        }
      : {}),
  };
  const result = await db.client.send(new QueryCommand(input));
  const data = (result.Items ?? []).map(toDomain);
  // DynamoDB may hand back a LastEvaluatedKey for a page that happens to end the partition;
  // clients then get one empty page at most, which the contract allows.
  return { data, next_cursor: encodeCursor(result.LastEvaluatedKey as KeyMap | undefined) };
}
