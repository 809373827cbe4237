import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, NumberValue, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../db/client.js';
import { parseDecimal, toDecimalString } from '../money/money.js';
import { type CellKey, type CellSums, COUNT_FIELDS, cellKeys, emptySums, MONEY_FIELDS } from './cells.js';

export interface RollupCursor {
  /** The sequence number of the last window started. */
  seq: number;
  /** Events ingested before this instant are in the cells (once the window is done). */
  until: string;
  /** While a window is being applied: its end. A run that finds this resumes the same window. */
  planned_until?: string;
  state: 'applying' | 'done';
}

export async function getCursor(db: Db, tenantId: string): Promise<RollupCursor | undefined> {
  const { Item } = await db.client.send(
    new GetCommand({ TableName: db.tableName, Key: cellKeys.cursor(tenantId), ConsistentRead: true }),
  );
  return Item?.cursor as RollupCursor | undefined;
}

/** Writes the cursor if its sequence is still `expectedSeq` (or, for the first window, absent). */
export async function putCursor(
  db: Db,
  tenantId: string,
  cursor: RollupCursor,
  expected: { seq: number | undefined; state: RollupCursor['state'] | undefined },
): Promise<boolean> {
  try {
    await db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: { ...cellKeys.cursor(tenantId), entity: 'kpi_rollup_cursor', cursor },
        ...(expected.seq === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : {
              ConditionExpression: '#c.#seq = :seq AND #c.#state = :state',
              ExpressionAttributeNames: { '#c': 'cursor', '#seq': 'seq', '#state': 'state' },
              ExpressionAttributeValues: { ':seq': expected.seq, ':state': expected.state },
            }),
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * Adds `sums` to a cell unless window `seq` was already applied to it. DynamoDB adds numbers
 * as exact decimals (38 digits), so money sums never drift; the condition makes a resumed or
 * concurrent run of the same window a no-op for the cells it already reached.
 */
export async function applyToCell(db: Db, key: CellKey, sums: CellSums, seq: number): Promise<boolean> {
  const names: Record<string, string> = { '#seq': 'seq' };
  const values: Record<string, unknown> = { ':seq': seq };
  const additions: string[] = [];
  let n = 0;
  const add = (attribute: string, value: number | NumberValue) => {
    n++;
    names[`#a${n}`] = attribute;
    values[`:a${n}`] = value;
    additions.push(`#a${n} :a${n}`);
  };
  for (const field of COUNT_FIELDS) if (sums[field] !== 0) add(field, sums[field]);
  for (const field of MONEY_FIELDS) {
    if (!sums[field].isZero()) add(field, NumberValue.from(toDecimalString(sums[field])));
  }
  for (const [name, outcome] of Object.entries(sums.outcomes)) {
    add(`o#${name}`, NumberValue.from(toDecimalString(outcome.value)));
    add(`oc#${name}`, outcome.count);
  }
  try {
    await db.exactClient.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        UpdateExpression: `SET #seq = :seq${additions.length ? ` ADD ${additions.join(', ')}` : ''}`,
        ConditionExpression: 'attribute_not_exists(#seq) OR #seq < :seq',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/** A cell as read back: its sort key (bucket and value) and its sums. */
export interface CellRow {
  sk: string;
  sums: CellSums;
}

function toSums(item: Record<string, unknown>): CellSums {
  const sums = emptySums();
  for (const field of COUNT_FIELDS) if (item[field] !== undefined) sums[field] = Number(item[field]);
  for (const field of MONEY_FIELDS)
    if (item[field] !== undefined) sums[field] = parseDecimal(item[field] as string);
  for (const [attribute, value] of Object.entries(item)) {
    if (!attribute.startsWith('o#')) continue;
    const name = attribute.slice(2);
    sums.outcomes[name] = { value: parseDecimal(value as string), count: Number(item[`oc#${name}`] ?? 0) };
  }
  return sums;
}

/** The cells of one partition whose sort keys fall in [fromSk, toSk), numbers exact. */
export async function queryCells(db: Db, pk: string, fromSk: string, toSk: string): Promise<CellRow[]> {
  const rows: CellRow[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.exactClient.send(
      new QueryCommand({
        TableName: db.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':pk': pk, ':from': fromSk, ':to': toSk },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const sk = item.sk as string;
      if (sk < toSk) rows.push({ sk, sums: toSums(item) });
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return rows;
}

/** Remembers which attributes (dimension keys, model, provider) a tenant's events carry. */
export async function recordAttributes(db: Db, tenantId: string, attributes: string[]): Promise<void> {
  if (attributes.length === 0) return;
  await db.client.send(
    new UpdateCommand({
      TableName: db.tableName,
      Key: cellKeys.attributes(tenantId),
      UpdateExpression: 'ADD #names :names',
      ExpressionAttributeNames: { '#names': 'names' },
      ExpressionAttributeValues: { ':names': new Set(attributes) },
    }),
  );
}

export async function getAttributes(db: Db, tenantId: string): Promise<string[]> {
  const { Item } = await db.client.send(
    new GetCommand({ TableName: db.tableName, Key: cellKeys.attributes(tenantId) }),
  );
  return [...((Item?.names as Set<string> | undefined) ?? [])].sort();
}
