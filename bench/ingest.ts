/**
 * `npm run bench:ingest`: the ingestion rate of the local server against the raw rate of its
 * engine, and the write units each event costs.
 *
 * 1. Starts local mode (as `npm start` does: dynalite on disk, or DynamoDB Local with
 *    `--engine=dynamodb-local`) and posts EVENTS usage events in batches of 500 from CLIENTS
 *    concurrent clients over real HTTP.
 * 2. On the same engine and table: the same number of conditional PutItems (64 in flight), the
 *    cheapest write that claims an id exactly once without transactions; then, for context,
 *    plain BatchWriteItem.
 * 3. Prints both rates, their ratio (target ≥ 50%) and the write request units per event
 *    (target ≤ 2): what the engine reports for the table, plus one unit per keys-only gsi2 entry.
 *
 * Options: --events=N (default 20000) --clients=N (default 4) --engine=dynalite|dynamodb-local
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ConsumedCapacity } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { startLocalTollgate } from '../local/local-mode.js';
import { loadConfig } from '../shared/config/config.js';
import { startDynamoDbLocal } from '../test/helpers/dynamodb-local.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    clients: { type: 'string', default: '4' },
    engine: { type: 'string', default: 'dynalite' },
  },
});
const EVENTS = Number(values.events);
const CLIENTS = Number(values.clients);
const BATCH = 500;
const RAW_IN_FLIGHT = 64;

const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-bench-'));
const dynamoLocal = values.engine === 'dynamodb-local' ? await startDynamoDbLocal() : undefined;
const config = loadConfig({
  PORT: '0',
  TOLLGATE_DATA_DIR: dataDir,
  TOLLGATE_LOG_LEVEL: 'warn',
  TOLLGATE_RATE_LIMIT_PER_SECOND: '100000',
  TOLLGATE_RATE_LIMIT_BURST: '100000',
  ...(dynamoLocal ? { TOLLGATE_DYNAMODB_ENDPOINT: dynamoLocal.endpoint } : {}),
});
const tollgate = await startLocalTollgate(config);
const { db } = tollgate.runtime;

let tableUnits = 0;
let meteredWrites = 0;
let reportedIndexUnits = 0;
db.meter = (capacity: ConsumedCapacity | undefined) => {
  meteredWrites++;
  tableUnits += capacity?.Table?.CapacityUnits ?? capacity?.CapacityUnits ?? 0;
  for (const index of Object.values(capacity?.GlobalSecondaryIndexes ?? {}))
    reportedIndexUnits += index.CapacityUnits ?? 0;
};

const created = await fetch(`${tollgate.url}/v1/tenants`, {
  method: 'POST',
  headers: { authorization: `Bearer ${tollgate.operatorKey}`, 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'bench' }),
});
const tenantKey = ((await created.json()) as { api_key: { key: string } }).api_key.key;

const models = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash'];
const providers = ['openai', 'openai', 'anthropic', 'google'];
const now = Date.now();
const event = (i: number) => ({
  id: `bench-${i}`,
  timestamp: new Date(now - (i % 3600) * 1000).toISOString(),
  provider: providers[i % 4],
  model: models[i % 4],
  usage: {
    input_tokens: 1000 + (i % 500),
    cached_input_tokens: i % 3 === 0 ? 512 : 0,
    output_tokens: 200 + (i % 100),
  },
  dimensions: { feature: `feature-${i % 20}`, customer: `customer-${i % 50}`, team: `team-${i % 5}` },
});

// 1. Ingestion through the API.
const batches: unknown[][] = [];
for (let start = 0; start < EVENTS; start += BATCH) {
  batches.push(Array.from({ length: Math.min(BATCH, EVENTS - start) }, (_, k) => event(start + k)));
}
let accepted = 0;
let nextBatch = 0;
const ingestStarted = performance.now();
await Promise.all(
  Array.from({ length: CLIENTS }, async () => {
    while (nextBatch < batches.length) {
      const events = batches[nextBatch++];
      const response = await fetch(`${tollgate.url}/v1/usage`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenantKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      });
      if (response.status !== 202)
        throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
      accepted += ((await response.json()) as { accepted: number }).accepted;
    }
  }),
);
const ingestSeconds = (performance.now() - ingestStarted) / 1000;
if (accepted !== EVENTS) throw new Error(`accepted ${accepted} of ${EVENTS}`);

// 2. The engine's raw rate for an exactly-once claim: a conditional PutItem, 64 in flight.
const limit = pLimit(RAW_IN_FLIGHT);
const rawStarted = performance.now();
await Promise.all(
  Array.from({ length: EVENTS }, (_, i) =>
    limit(() =>
      db.client.send(
        new PutCommand({
          TableName: db.tableName,
          Item: { pk: `bench#raw#${i % 16}`, sk: `claim-${i}` },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    ),
  ),
);
const rawSeconds = (performance.now() - rawStarted) / 1000;

// 3. For context: unconditional BatchWriteItem, 25 items a call, 8 calls in flight.
const batchLimit = pLimit(8);
const batchStarted = performance.now();
await Promise.all(
  Array.from({ length: Math.ceil(EVENTS / 25) }, (_, b) =>
    batchLimit(async () => {
      let requests = Array.from({ length: Math.min(25, EVENTS - b * 25) }, (_, k) => ({
        PutRequest: { Item: { pk: `bench#batch#${(b * 25 + k) % 16}`, sk: `item-${b * 25 + k}` } },
      }));
      while (requests.length > 0) {
        const result = await db.client.send(
          new BatchWriteCommand({ RequestItems: { [db.tableName]: requests } }),
        );
        requests = (result.UnprocessedItems?.[db.tableName] ?? []) as typeof requests;
      }
    }),
  ),
);
const batchSeconds = (performance.now() - batchStarted) / 1000;

await tollgate.stop();
await dynamoLocal?.stop();
await rm(dataDir, { recursive: true, force: true });

// Each accepted event also writes one gsi2 entry: keys only, far under 1 KB, so one unit.
const indexUnits = reportedIndexUnits > 0 ? reportedIndexUnits : accepted;
const ingestRate = EVENTS / ingestSeconds;
const rawRate = EVENTS / rawSeconds;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const lines = [
  `engine                         ${values.engine} (${EVENTS} events, ${CLIENTS} clients, batches of ${BATCH})`,
  `ingest via POST /v1/usage      ${fmt(ingestRate)} events/s (${ingestSeconds.toFixed(2)} s)`,
  `raw conditional PutItem (64)   ${fmt(rawRate)} writes/s (${rawSeconds.toFixed(2)} s)`,
  `raw BatchWriteItem (context)   ${fmt(EVENTS / batchSeconds)} items/s (${batchSeconds.toFixed(2)} s)`,
  `ingest / raw conditional put   ${((ingestRate / rawRate) * 100).toFixed(1)}%   (target ≥ 50%)`,
  `write units per event          ${((tableUnits + indexUnits) / meteredWrites).toFixed(2)}   (table ${(tableUnits / meteredWrites).toFixed(2)} + gsi2 ${(indexUnits / meteredWrites).toFixed(2)} ${reportedIndexUnits > 0 ? 'as the engine reported' : 'counted: one per keys-only entry'}; target ≤ 2)`,
];
process.stdout.write(`${lines.join('\n')}\n`);
