/**
 * `npm run bench:enforce`: the latency of the enforcement endpoints against one raw round trip of
 * their engine, at the same concurrency.
 *
 * 1. Starts local mode (as `npm start` does: dynalite on disk, or DynamoDB Local with
 *    `--engine=dynamodb-local`), creates a tenant with BUDGETS budgets (a tenant-wide one that
 *    blocks, per-feature money budgets, per-customer token budgets) and some usage.
 * 2. CLIENTS concurrent clients call POST /v1/enforcement/check over real HTTP, then
 *    POST /v1/enforcement/authorize (each authorization is released afterwards, untimed, as a
 *    settling usage event would): p50/p99 of each.
 * 3. On the same engine and table, at the same concurrency: a consistent GetItem (check's raw round
 *    trip) and a conditional UpdateItem that adds to one counter item (authorize's), p50/p99.
 * 4. Prints the figures, the store calls each request made (authorize with its release), and the
 *    ratios (target: each p99 ≤ 3× its raw round trip and ≤ 15 ms).
 *
 * Options: --requests=N per endpoint (default 3000) --clients=N (default 50) --budgets=N (default 12)
 *          --engine=dynalite|dynamodb-local
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { startLocalTollgate } from '../local/local-mode.js';
import { loadConfig } from '../shared/config/config.js';
import { startDynamoDbLocal } from '../test/helpers/dynamodb-local.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    clients: { type: 'string', default: '50' },
    budgets: { type: 'string', default: '12' },
    engine: { type: 'string', default: 'dynalite' },
  },
});
const REQUESTS = Number(values.requests);
const CLIENTS = Number(values.clients);
const BUDGETS = Number(values.budgets);

const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-bench-'));
const dynamoLocal = values.engine === 'dynamodb-local' ? await startDynamoDbLocal() : undefined;
const config = loadConfig({
  PORT: '0',
  TOLLGATE_DATA_DIR: dataDir,
  TOLLGATE_LOG_LEVEL: 'warn',
  TOLLGATE_RATE_LIMIT_PER_SECOND: '100000',
  TOLLGATE_RATE_LIMIT_BURST: '100000',
  // The scheduler's rollup would compete with the measured requests.
  TOLLGATE_ROLLUP_INTERVAL_SECONDS: '86400',
  ...(dynamoLocal ? { TOLLGATE_DYNAMODB_ENDPOINT: dynamoLocal.endpoint } : {}),
});
const tollgate = await startLocalTollgate(config);
const { db } = tollgate.runtime;

/** Store calls made by the app (every engine request its clients send), to report them per request. */
let storeCalls = 0;
for (const client of [db.client, db.exactClient]) {
  const send = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as { send: unknown }).send = (...args: unknown[]) => {
    storeCalls++;
    return send(...args);
  };
}

async function call(method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${tollgate.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status >= 300)
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? undefined : response.json();
}

const created = (await call('POST', '/v1/tenants', tollgate.operatorKey, { name: 'bench' })) as {
  api_key: { key: string };
};
const key = created.api_key.key;
const features = ['chat', 'search', 'summarize', 'agent'];
const customers = Array.from({ length: 20 }, (_, i) => `customer-${i}`);
await call('POST', '/v1/budgets', key, {
  name: 'tenant-wide',
  period: 'month',
  limit: { amount: '1000000', currency: 'USD' },
  actions: { '100': { type: 'block' } },
});
for (let i = 1; i < BUDGETS; i++) {
  const feature = features[i % features.length] as string;
  await call(
    'POST',
    '/v1/budgets',
    key,
    i % 2 === 0
      ? {
          name: `feature ${feature} ${i}`,
          scope: { feature },
          period: 'day',
          limit: { amount: '50000', currency: 'USD' },
          actions: { '80': { type: 'downgrade', model_map: { 'gpt-4o': 'gpt-4o-mini' } } },
        }
      : {
          name: `customer ${i}`,
          scope: { customer: customers[i % customers.length] },
          period: 'week',
          limit: { tokens: 1_000_000_000 },
          actions: { '100': { type: 'block' } },
        },
  );
}
for (let batch = 0; batch < 4; batch++) {
  await call('POST', '/v1/usage', key, {
    events: Array.from({ length: 250 }, (_, i) => ({
      id: `seed-${batch}-${i}`,
      provider: 'openai',
      model: 'gpt-4o',
      usage: { input_tokens: 1000, output_tokens: 200 },
      dimensions: { feature: features[i % 4], customer: customers[i % 20] },
    })),
  });
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;

/** Runs `total` operations from `clients` concurrent loops; answers the sorted latencies (ms). */
async function measure(
  total: number,
  clients: number,
  operation: (i: number) => Promise<void>,
  after?: (i: number) => Promise<void>,
) {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        const started = performance.now();
        await operation(i);
        latencies.push(performance.now() - started);
        if (after) await after(i);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

const subject = (i: number) => ({
  dimensions: { feature: features[i % 4], customer: customers[i % 20] },
  model: 'gpt-4o',
});
// Warm up connections and code paths.
await measure(200, CLIENTS, async (i) => {
  await call('POST', '/v1/enforcement/check', key, subject(i));
});

let callsBefore = storeCalls;
const check = await measure(REQUESTS, CLIENTS, async (i) => {
  await call('POST', '/v1/enforcement/check', key, { ...subject(i), estimated_tokens: 500 });
});
const checkCalls = (storeCalls - callsBefore) / REQUESTS;
callsBefore = storeCalls;
const reservations: string[] = [];
const authorize = await measure(
  REQUESTS,
  CLIENTS,
  async (i) => {
    const answer = (await call('POST', '/v1/enforcement/authorize', key, {
      id: `bench-${i}`,
      ...subject(i),
      estimated_input_tokens: 1200,
      max_output_tokens: 400,
    })) as { reservation_id: string | null };
    if (!answer.reservation_id) throw new Error('the bench budgets should never block');
    reservations[i] = answer.reservation_id;
  },
  async (i) => {
    await call('DELETE', `/v1/enforcement/reservations/${reservations[i]}`, key);
  },
);

const authorizeCalls = (storeCalls - callsBefore) / REQUESTS;

// Raw round trips at the same concurrency, same engine and table.
const rawKey = { pk: 'bench#raw', sk: 'counter' };
await db.exactClient.send(new PutCommand({ TableName: db.tableName, Item: { ...rawKey, used: 0 } }));
const rawGet = await measure(REQUESTS, CLIENTS, async () => {
  await db.client.send(new GetCommand({ TableName: db.tableName, Key: rawKey, ConsistentRead: true }));
});
const rawUpdate = await measure(REQUESTS, CLIENTS, async () => {
  await db.client.send(
    new UpdateCommand({
      TableName: db.tableName,
      Key: rawKey,
      UpdateExpression: 'ADD used :a',
      ConditionExpression: 'used <= :max',
      ExpressionAttributeValues: { ':a': 1, ':max': 1e12 },
    }),
  );
});

await tollgate.stop();
await dynamoLocal?.stop();
await rm(dataDir, { recursive: true, force: true });

const ms = (n: number) => `${n.toFixed(2)} ms`;
const row = (label: string, sorted: number[]) =>
  `${label.padEnd(40)} p50 ${ms(percentile(sorted, 50)).padStart(10)}   p99 ${ms(percentile(sorted, 99)).padStart(10)}`;
const ratio = (a: number[], b: number[]) => (percentile(a, 99) / percentile(b, 99)).toFixed(2);
const lines = [
  `engine ${values.engine}; ${REQUESTS} requests per endpoint, ${CLIENTS} concurrent clients, ${BUDGETS} budgets`,
  row('POST /v1/enforcement/check', check),
  row('raw GetItem (consistent)', rawGet),
  row('POST /v1/enforcement/authorize', authorize),
  row('raw conditional UpdateItem (one item)', rawUpdate),
  `store calls per check ${checkCalls.toFixed(2)}; per authorize + its release ${authorizeCalls.toFixed(2)}`,
  `check p99 / raw GetItem p99               ${ratio(check, rawGet)}×   (target ≤ 3×, p99 ≤ 15 ms)`,
  `authorize p99 / raw UpdateItem p99        ${ratio(authorize, rawUpdate)}×   (target ≤ 3×, p99 ≤ 15 ms)`,
];
process.stdout.write(`${lines.join('\n')}\n`);
