/**
 * `npm run bench:webhooks`: webhook delivery in local mode (dynalite on disk, or DynamoDB Local
 * with `--engine=dynamodb-local`), to a receiver on 127.0.0.1.
 *
 * 1. TENANTS tenants with ENDPOINTS endpoints each; EVENTS bus events per tenant, published at
 *    once. Prints deliveries per second and the latency from publish to receipt (p50, p95): each
 *    delivery is persisted (wake-up, delivery), attempted, and its attempt recorded.
 * 2. The `webhook-retry` job with nothing due, run RUNS times: its mean duration, which must not
 *    grow with the number of tenants (one Query whatever their number).
 * 3. A receiver failing every first attempt: the time for the job to deliver every retry.
 *
 * Options: --tenants=N (default 10) --endpoints=N (default 2) --events=N (default 50)
 *          --runs=N (default 50) --engine=dynalite|dynamodb-local
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalTollgate } from '../local/local-mode.js';
import type { BusEvent, InProcessBus } from '../shared/bus/bus.js';
import { loadConfig } from '../shared/config/config.js';
import { newId } from '../shared/ids.js';
import { startDynamoDbLocal } from '../test/helpers/dynamodb-local.js';

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '10' },
    endpoints: { type: 'string', default: '2' },
    events: { type: 'string', default: '50' },
    runs: { type: 'string', default: '50' },
    engine: { type: 'string', default: 'dynalite' },
  },
});
const TENANTS = Number(values.tenants);
const ENDPOINTS = Number(values.endpoints);
const EVENTS = Number(values.events);
const RUNS = Number(values.runs);

/** Receipt times by event id and endpoint path; `failFirst` answers 503 to each first attempt. */
const received = new Map<string, number>();
const seen = new Set<string>();
let failFirst = false;
const receiver = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    const key = `${request.headers['webhook-id']}${request.url}`;
    if (failFirst && !seen.has(key)) {
      seen.add(key);
      response.writeHead(503).end();
      return;
    }
    received.set(key, Date.now());
    response.writeHead(200).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const receiverPort = (receiver.address() as AddressInfo).port;

const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-bench-'));
const dynamoLocal = values.engine === 'dynamodb-local' ? await startDynamoDbLocal() : undefined;
const config = loadConfig({
  PORT: '0',
  TOLLGATE_DATA_DIR: dataDir,
  TOLLGATE_LOG_LEVEL: 'warn',
  TOLLGATE_ALLOW_PRIVATE_URLS: 'true',
  TOLLGATE_WEBHOOK_RETRY_SCHEDULE: '0,1',
  TOLLGATE_RATE_LIMIT_PER_SECOND: '100000',
  TOLLGATE_RATE_LIMIT_BURST: '100000',
  ...(dynamoLocal ? { TOLLGATE_DYNAMODB_ENDPOINT: dynamoLocal.endpoint } : {}),
});
const tollgate = await startLocalTollgate(config);
const bus = tollgate.runtime.bus as InProcessBus;
const retryJob = tollgate.runtime.jobs.get('webhook-retry');
if (!retryJob) throw new Error('webhook-retry is not registered');

async function call(method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${tollgate.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function idleJobMs(): Promise<number> {
  const started = performance.now();
  for (let run = 0; run < RUNS; run++) await retryJob?.run({});
  return (performance.now() - started) / RUNS;
}

/** Runs the retry job (beside the scheduler's own runs) until `count` deliveries were received. */
async function deliverAll(count: number, since: number) {
  while (received.size < count) {
    const summary = await retryJob?.run({});
    if (summary?.result.due === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    if (Date.now() - since > 600_000) throw new Error(`only ${received.size} of ${count} delivered`);
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

try {
  const idleWithOne = await idleJobMs();
  const tenantIds: string[] = [];
  for (let t = 0; t < TENANTS; t++) {
    const tenant = (await call('POST', '/v1/tenants', tollgate.operatorKey, { name: `bench ${t}` })) as {
      id: string;
      api_key: { key: string };
    };
    tenantIds.push(tenant.id);
    for (let e = 0; e < ENDPOINTS; e++)
      await call('POST', '/v1/webhook-endpoints', tenant.api_key.key, {
        url: `http://127.0.0.1:${receiverPort}/t${t}e${e}`,
      });
  }

  // 1. Fan-out and first attempts.
  const events: BusEvent[] = tenantIds.flatMap((tenantId) =>
    Array.from({ length: EVENTS }, () => ({
      id: newId('evt'),
      type: 'anomaly.detected.v1',
      tenant_id: tenantId,
      time: new Date().toISOString(),
      data: { metric: 'cost' },
    })),
  );
  const expected = events.length * ENDPOINTS;
  const published = Date.now();
  await bus.publish(events);
  await bus.drain();
  const firstAttempts = received.size;
  // Attempts that timed out or failed under the load are retried by the job (1 s later).
  await deliverAll(expected, published);
  const elapsed = (Date.now() - published) / 1000;
  const latencies = [...received.values()].map((at) => at - published).sort((a, b) => a - b);
  console.log(
    `fan-out: ${TENANTS} tenants × ${ENDPOINTS} endpoints × ${EVENTS} events = ${expected} deliveries ` +
      `(${firstAttempts} on their first attempt) in ${elapsed.toFixed(1)} s (${(expected / elapsed).toFixed(0)}/s); ` +
      `publish→receipt p50 ${percentile(latencies, 50)} ms, p95 ${percentile(latencies, 95)} ms`,
  );

  // 2. The job with nothing due, now with TENANTS tenants.
  const idleWithMany = await idleJobMs();
  console.log(
    `webhook-retry with nothing due: ${idleWithOne.toFixed(1)} ms per run with 1 tenant, ` +
      `${idleWithMany.toFixed(1)} ms with ${TENANTS + 1} tenants (${RUNS} runs each)`,
  );

  // 3. Retries: every first attempt fails, the job delivers the second after the 1 s wait.
  received.clear();
  failFirst = true;
  const retryEvents = events
    .slice(0, Math.min(events.length, 200))
    .map((event) => ({ ...event, id: newId('evt') }));
  await bus.publish(retryEvents);
  await bus.drain();
  const retryStarted = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await deliverAll(retryEvents.length * ENDPOINTS, retryStarted);
  const retryElapsed = (Date.now() - retryStarted) / 1000 - 1;
  console.log(
    `retries: ${received.size} second attempts made by the job in ${retryElapsed.toFixed(1)} s after their due time ` +
      `(${(received.size / Math.max(retryElapsed, 0.001)).toFixed(0)}/s)`,
  );
} finally {
  await tollgate.stop();
  await dynamoLocal?.stop();
  receiver.closeAllConnections();
  receiver.close();
  await rm(dataDir, { recursive: true, force: true });
}
