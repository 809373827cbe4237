import { GetCommand, PutCommand, paginateQuery, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../db/client.js';
import { succeeded } from '../db/conditional.js';
import { parseDecimal, toDecimalString } from '../money/money.js';
import { addSums, type CellSums, COUNT_FIELDS, cellKeys, emptySums, MONEY_FIELDS } from './cells.js';

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
  return succeeded(
    db.client.send(
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
    ),
  );
}

/**
 * A cell item's encoding: one JSON string attribute mapping each value to its sums, counts as
 * numbers (well inside 2^53) and money as exact decimal strings, in the field order below. One
 * string is what keeps reading a bucket cheap: the engine and the SDK handle one attribute per
 * item, not fifteen per value. Sums of one item are merged in code with decimal.js, exactly.
 */
type EncodedSums = [...(number | string)[]];
const CELL_VERSION_ATTRIBUTE = 'c1';
/** Well under DynamoDB's 400 KB item limit; a partition and time with more values spill into another item. */
const MAX_CELL_BYTES = 200_000;

function encodeSums(sums: CellSums): EncodedSums {
  const encoded: EncodedSums = [
    ...COUNT_FIELDS.map((field) => sums[field]),
    ...MONEY_FIELDS.map((field) => toDecimalString(sums[field])),
  ];
  const outcomes = Object.entries(sums.outcomes);
  if (outcomes.length > 0) {
    encoded.push(
      JSON.stringify(
        Object.fromEntries(outcomes.map(([name, o]) => [name, [toDecimalString(o.value), o.count]])),
      ),
    );
  }
  return encoded;
}

function decodeSums(encoded: EncodedSums): CellSums {
  const sums = emptySums();
  COUNT_FIELDS.forEach((field, i) => {
    sums[field] = Number(encoded[i] ?? 0);
  });
  MONEY_FIELDS.forEach((field, i) => {
    sums[field] = parseDecimal(String(encoded[COUNT_FIELDS.length + i] ?? '0'));
  });
  const outcomes = encoded[COUNT_FIELDS.length + MONEY_FIELDS.length];
  if (typeof outcomes === 'string') {
    for (const [name, [value, count]] of Object.entries(
      JSON.parse(outcomes) as Record<string, [string, number]>,
    )) {
      sums.outcomes[name] = { value: parseDecimal(value), count };
    }
  }
  return sums;
}

interface CellItem {
  sk: string;
  seq: number;
  values: Record<string, EncodedSums>;
}

const cellSk = (time: string, chunk: number) => `${time}#${chunk}`;
const chunkOf = (sk: string) => Number(sk.slice(sk.lastIndexOf('#') + 1));

async function readCellItems(db: Db, pk: string, time: string): Promise<CellItem[]> {
  const { Items = [] } = await db.client.send(
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :time)',
      ExpressionAttributeValues: { ':pk': pk, ':time': `${time}#` },
      ConsistentRead: true,
    }),
  );
  return Items.map((item) => ({
    sk: item.sk as string,
    seq: item.seq as number,
    values: JSON.parse(item[CELL_VERSION_ATTRIBUTE] as string) as Record<string, EncodedSums>,
  }));
}

/**
 * Adds window `seq`'s sums for the values of one cell partition and time, unless the window was
 * already applied. Each item records the last window it took (`seq`), and an item is written
 * only if its `seq` is still the one read, so a resumed or concurrent run of the same window
 * changes nothing it already changed: a value found in an item that took this window is done;
 * a value found nowhere is new, and goes to an item that has not taken the window yet (or a
 * new one), so every value lives in exactly one item.
 */
export async function applyToCells(
  db: Db,
  pk: string,
  time: string,
  deltas: Map<string, CellSums>,
  seq: number,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const items = await readCellItems(db, pk, time);
    const pending = new Map(deltas);
    const changed = new Map<string, CellItem & { created: boolean; readSeq: number }>();
    for (const item of items) {
      for (const [value, delta] of [...pending]) {
        const stored = item.values[value];
        if (stored === undefined) continue;
        pending.delete(value);
        if (item.seq >= seq) continue; // this window already reached this item
        item.values[value] = encodeSums(addSums(decodeSums(stored), delta));
        changed.set(item.sk, { ...item, created: false, readSeq: item.seq });
      }
    }
    // New values fill items that have not taken this window, then new items.
    let nextChunk = items.reduce((max, item) => Math.max(max, chunkOf(item.sk) + 1), 0);
    const open = items
      .filter((item) => item.seq < seq)
      .map((item) => ({ item, bytes: Buffer.byteLength(JSON.stringify(item.values)) }));
    for (const [value, delta] of pending) {
      const encoded = encodeSums(delta);
      const entryBytes = Buffer.byteLength(JSON.stringify({ [value]: encoded }));
      let target = open.find((candidate) => candidate.bytes + entryBytes <= MAX_CELL_BYTES);
      if (!target) {
        const item: CellItem = { sk: cellSk(time, nextChunk++), seq: -1, values: {} };
        target = { item, bytes: 2 };
        open.push(target);
        changed.set(item.sk, { ...item, created: true, readSeq: -1 });
      } else if (!changed.has(target.item.sk)) {
        changed.set(target.item.sk, { ...target.item, created: false, readSeq: target.item.seq });
      }
      // `changed` shares the `values` object with `open`, so this lands in what is written.
      target.item.values[value] = encoded;
      target.bytes += entryBytes;
    }
    const results = await Promise.all(
      [...changed.values()].map(async (item) => {
        return succeeded(
          db.client.send(
            new PutCommand({
              TableName: db.tableName,
              Item: {
                pk,
                sk: item.sk,
                entity: 'kpi_cell',
                seq,
                [CELL_VERSION_ATTRIBUTE]: JSON.stringify(item.values),
              },
              ...(item.created
                ? { ConditionExpression: 'attribute_not_exists(pk)' }
                : {
                    ConditionExpression: '#seq = :read',
                    ExpressionAttributeNames: { '#seq': 'seq' },
                    ExpressionAttributeValues: { ':read': item.readSeq },
                  }),
            }),
          ),
        );
      }),
    );
    if (results.every(Boolean)) return;
    // Another run of this window wrote first: read again; what it applied is now skipped.
    if (attempt >= 10) throw new Error(`cell ${pk} ${time}: too many concurrent writers`);
  }
}

/** A cell as read back: `time#value` (`time` for a total) and its sums. */
export interface CellRow {
  sk: string;
  sums: CellSums;
}

/** The rows of one cell partition whose times fall in [fromTime, toTime), numbers exact. */
export async function queryCells(db: Db, pk: string, fromTime: string, toTime: string): Promise<CellRow[]> {
  const rows: CellRow[] = [];
  for await (const page of paginateQuery(
    { client: db.client },
    {
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': pk, ':from': fromTime, ':to': toTime },
    },
  )) {
    for (const item of page.Items ?? []) {
      const sk = item.sk as string;
      const time = sk.slice(0, sk.lastIndexOf('#'));
      if (time >= toTime) continue;
      const values = JSON.parse(item[CELL_VERSION_ATTRIBUTE] as string) as Record<string, EncodedSums>;
      for (const [value, encoded] of Object.entries(values)) {
        rows.push({ sk: value === '' ? time : `${time}#${value}`, sums: decodeSums(encoded) });
      }
    }
  }
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
