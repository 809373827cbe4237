/**
 * `npm run bench:enforce`: the latency of the enforcement endpoints against one raw round trip of
 * their engine, at the same concurrency.
 *
 * Three processes, as in production, where the engine is a service of its own and the callers are
 * other machines: the engine (dynalite forked by bench/support/engine-process.ts, or DynamoDB Local
 * with `--engine=dynamodb-local`), the Tollgate server (`npm start`'s local/start.ts, its scheduler
 * idle) and this process, which only sends requests.
 *
 * 1. Creates a tenant with BUDGETS budgets (a tenant-wide one that blocks, per-feature money
 *    budgets, per-customer token budgets) and some usage.
 * 2. Two rounds, each: CLIENTS concurrent clients call GET /healthz (no key, no store: the floor of
 *    any request to the server on this machine, for scale), POST /v1/enforcement/check over real HTTP,
 *    then POST /v1/enforcement/authorize (each authorization is released afterwards, untimed, as a
 *    settling usage event would); then, from this process on the same engine and table, a
 *    consistent GetItem (check's raw round trip) and a conditional UpdateItem adding to one counter
 *    item (authorize's). p50/p99 of each, each measured after 300 unmeasured calls of the same
 *    operation (warm code, caches and connections: the steady state an app meets).
 *    - paced: each client sends one request every --interval-ms (default 1000: an app guarding one
 *      LLM call at a time; LLM calls take seconds). Latency counts from when a request was due.
 *    - saturation: each client sends its next request as soon as the last one answered; this
 *      measures the machine's capacity (requests/s), not the latency an app sees.
 * 3. Prints the figures (for API requests also the time the server says it spent, from each
 *    response's Server-Timing: the rest is the network and the wait for a core), the engine
 *    requests per API request (counted by the engine, dynalite only;
 *    authorize with its release), and the ratios (target, paced round: each p99 ≤ 3× its raw round
 *    trip and ≤ 15 ms).
 *
 * Options: --requests=N per endpoint and round (default 3000) --clients=N (default 50)
 *          --budgets=N (default 12) --interval-ms=N (default 1000)
 *          --engine=dynalite|dynamodb-local|embedded (embedded: the server's own dynalite, in its
 *          process, as `npm start` runs by default)
 *          --rounds=paced,saturation (either or both) --profile-server=DIR (a CPU profile of the
 *          server process) --profile-engine=DIR (the same of the engine, dynalite in its own process)
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { closeDb, createDb } from '../shared/db/client.js';
import { startDynamoDbLocal } from '../test/helpers/dynamodb-local.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    clients: { type: 'string', default: '50' },
    budgets: { type: 'string', default: '12' },
    engine: { type: 'string', default: 'dynalite' },
    'interval-ms': { type: 'string', default: '1000' },
    /** Which rounds to run: paced, saturation or both (comma-separated). */
    rounds: { type: 'string', default: 'paced,saturation' },
    /** Writes a CPU profile of the server process into this directory. */
    'profile-server': { type: 'string' },
    /** Writes a CPU profile of the engine process (dynalite in its own process) into this directory. */
    'profile-engine': { type: 'string' },
  },
});
const REQUESTS = Number(values.requests);
const CLIENTS = Number(values.clients);
const BUDGETS = Number(values.budgets);
const INTERVAL_MS = Number(values['interval-ms']);
const OPERATOR_KEY = 'bench-operator-key-0123456789abcdef';
const TABLE = 'tollgate-bench';
const root = join(import.meta.dirname, '..');
const tsx = ['--import', 'tsx'];

const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-bench-'));

/** A child's Node flags: tsx, and a CPU profile written into `dir` when one is asked for. */
const profiledIn = (dir: string | undefined) => (dir ? [...tsx, '--cpu-prof', `--cpu-prof-dir=${dir}`] : tsx);

/** Forks a TypeScript entry point; answers the child and its first IPC message. */
async function forkWithMessage<T>(entry: string, env: Record<string, string>, execArgv = tsx) {
  const child = fork(join(root, entry), [], {
    execArgv,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const [message] = (await once(child, 'message')) as [T];
  return { child, message };
}

// The engine. `embedded`: the server's own, in its process, as `npm start` runs it by default.
const embedded = values.engine === 'embedded';
let engineProcess: ChildProcess | undefined;
const dynamoLocal = values.engine === 'dynamodb-local' ? await startDynamoDbLocal() : undefined;
let endpoint: string | undefined;
if (dynamoLocal) {
  endpoint = dynamoLocal.endpoint;
} else if (!embedded) {
  const started = await forkWithMessage<{ endpoint: string }>(
    'bench/support/engine-process.ts',
    { TOLLGATE_BENCH_ENGINE_PATH: join(dataDir, 'engine') },
    profiledIn(values['profile-engine']),
  );
  engineProcess = started.child;
  endpoint = started.message.endpoint;
}
/** Engine requests served so far (dynalite in its own process only: the others do not count them). */
async function engineRequests(): Promise<number | undefined> {
  if (!engineProcess) return undefined;
  engineProcess.send('counts');
  const [message] = (await once(engineProcess, 'message')) as [{ counts: Record<string, number> }];
  return Object.values(message.counts).reduce((sum, n) => sum + n, 0);
}

// The Tollgate server, as `npm start` runs it, on the engine above.
const server = fork(join(root, 'local', 'start.ts'), [], {
  execArgv: profiledIn(values['profile-server']),
  env: {
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    PORT: '0',
    TOLLGATE_DATA_DIR: join(dataDir, 'server'),
    ...(endpoint ? { TOLLGATE_DYNAMODB_ENDPOINT: endpoint } : {}),
    TOLLGATE_TABLE_NAME: TABLE,
    TOLLGATE_ADMIN_KEY: OPERATOR_KEY,
    TOLLGATE_LOG_LEVEL: 'warn',
    TOLLGATE_RATE_LIMIT_PER_SECOND: '100000',
    TOLLGATE_RATE_LIMIT_BURST: '100000',
    // The scheduler's rollup would compete with the measured requests.
    TOLLGATE_ROLLUP_INTERVAL_SECONDS: '86400',
  },
  stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
});
const baseUrl = await new Promise<string>((resolve, reject) => {
  let output = '';
  server.stdout?.on('data', (chunk: Buffer) => {
    output += chunk;
    const match = /API\s+(http:\/\/\S+)/.exec(output);
    // The banner's last line names the engine (the embedded one's port is the server's choice).
    const engine = /DynamoDB\s+(http:\/\/\S+)/.exec(output);
    if (match?.[1] && engine?.[1]) {
      endpoint ??= engine[1];
      resolve(match[1]);
    }
  });
  server.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
});

/**
 * The clients' HTTP: node:http over kept-alive sockets, one per client. `fetch` costs this process
 * several times the CPU per request (WHATWG streams), and 50 clients sharing one event loop would
 * then wait on each other, a delay the apps it stands for (on other machines) never see.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const serverUrl = new URL(baseUrl);
/** One request; answers its body and the time the server says it spent on it (Server-Timing). */
function send(
  method: string,
  path: string,
  key: string,
  body?: unknown,
): Promise<{ body: unknown; serverMs: number | undefined }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: serverUrl.hostname,
        port: serverUrl.port,
        method,
        path,
        agent,
        headers: {
          authorization: `Bearer ${key}`,
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = response.statusCode ?? 0;
          const timing = /app;dur=([\d.]+)/.exec(String(response.headers['server-timing'] ?? ''));
          if (status >= 300) reject(new Error(`${method} ${path}: ${status} ${text}`));
          else
            resolve({
              body: status === 204 ? undefined : JSON.parse(text),
              serverMs: timing ? Number(timing[1]) : undefined,
            });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}
const call = async (method: string, path: string, key: string, body?: unknown) =>
  (await send(method, path, key, body)).body;

const created = (await call('POST', '/v1/tenants', OPERATOR_KEY, { name: 'bench' })) as {
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

/**
 * Runs `total` operations from `clients` concurrent loops; answers the sorted latencies (ms).
 * With `intervalMs`, each client starts an operation every intervalMs (an app that checks before
 * each of its LLM calls), and a latency counts from when the operation was due, so a client that
 * fell behind is charged its wait (no coordinated omission). Without it, each client sends its next
 * operation as soon as the last one answered (saturation).
 */
async function measure(
  total: number,
  clients: number,
  operation: Operation,
  options: { after?: (i: number) => Promise<unknown>; intervalMs?: number } = {},
) {
  const { after, intervalMs } = options;
  const latencies: number[] = [];
  const serverLatencies: number[] = [];
  let next = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      // Clients start spread over one interval, as independent apps would.
      let due = began + (intervalMs ? (intervalMs * client) / clients : 0);
      while (next < total) {
        const i = next++;
        if (intervalMs) {
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
        }
        const started = intervalMs ? due : performance.now();
        const serverMs = await operation(i);
        latencies.push(performance.now() - started);
        if (typeof serverMs === 'number') serverLatencies.push(serverMs);
        if (after) await after(i);
        if (intervalMs) due += intervalMs;
      }
    }),
  );
  const seconds = (performance.now() - began) / 1000;
  return {
    sorted: latencies.sort((a, b) => a - b),
    serverSorted: serverLatencies.sort((a, b) => a - b),
    perSecond: total / seconds,
  };
}

const subject = (i: number) => ({
  dimensions: { feature: features[i % 4], customer: customers[i % 20] },
  model: 'gpt-4o',
});

// Raw round trips from this process, on the same engine and table.
const db = createDb({ tableName: TABLE, region: 'local', endpoint: endpoint as string });
const rawKey = { pk: 'bench#raw', sk: 'counter' };
await db.client.send(new PutCommand({ TableName: db.tableName, Item: { ...rawKey, used: 0 } }));

/**
 * A measured operation; an API request answers the time the server says it spent on it (its
 * Server-Timing, a number), a raw round trip nothing.
 */
type Operation = (i: number) => Promise<unknown>;

/** The measured operations. Every authorization has an id of its own (a repeated id is a retry). */
let authorizations = 0;
const reservations: string[] = [];
const operations = {
  check: async (i: number) =>
    (await send('POST', '/v1/enforcement/check', key, { ...subject(i), estimated_tokens: 500 })).serverMs,
  authorize: async (i: number) => {
    const { body, serverMs } = await send('POST', '/v1/enforcement/authorize', key, {
      id: `bench-${authorizations++}`,
      ...subject(i),
      estimated_input_tokens: 1200,
      max_output_tokens: 400,
    });
    const answer = body as { reservation_id: string | null };
    if (!answer.reservation_id) throw new Error('the bench budgets should never block');
    reservations[i] = answer.reservation_id;
    return serverMs;
  },
  /** Untimed, as a settling usage event would be: it keeps the held amounts from piling up. */
  release: async (i: number) => {
    await call('DELETE', `/v1/enforcement/reservations/${reservations[i]}`, key);
  },
  /** The API's liveness route (no key, no store): the floor of one request to the server. */
  health: async () => (await send('GET', '/healthz', key)).serverMs,
  rawGet: async () => {
    await db.client.send(new GetCommand({ TableName: db.tableName, Key: rawKey, ConsistentRead: true }));
  },
  rawUpdate: async () => {
    await db.client.send(
      new UpdateCommand({
        TableName: db.tableName,
        Key: rawKey,
        UpdateExpression: 'ADD used :a',
        ConditionExpression: 'used <= :max',
        ExpressionAttributeValues: { ':a': 1, ':max': 1e12 },
      }),
    );
  },
};

/**
 * Measures one operation after warming it up (WARM_UP calls at full speed, unmeasured): a fresh
 * process's first calls measure its JIT and caches warming, and the engine closes connections
 * idle for 5 s, so the connections an operation needs (authorize: one per budget, in parallel)
 * would otherwise be opened again at the start of each round.
 */
const WARM_UP = 300;
async function measureWarm(
  operation: Operation,
  options: { after?: (i: number) => Promise<unknown>; intervalMs?: number | undefined },
) {
  const { intervalMs: _paced, ...warmUp } = options;
  await measure(WARM_UP, CLIENTS, operation, warmUp);
  const before = await engineRequests();
  const result = await measure(REQUESTS, CLIENTS, operation, options);
  const after = await engineRequests();
  const engineCalls = before === undefined || after === undefined ? undefined : (after - before) / REQUESTS;
  return { ...result, engineCalls };
}

type Result = Awaited<ReturnType<typeof measureWarm>>;
interface Round {
  health: Result;
  check: Result;
  authorize: Result;
  rawGet: Result;
  rawUpdate: Result;
}

async function runRound(intervalMs: number | undefined): Promise<Round> {
  return {
    health: await measureWarm(operations.health, { intervalMs }),
    check: await measureWarm(operations.check, { intervalMs }),
    authorize: await measureWarm(operations.authorize, { intervalMs, after: operations.release }),
    rawGet: await measureWarm(operations.rawGet, { intervalMs }),
    rawUpdate: await measureWarm(operations.rawUpdate, { intervalMs }),
  };
}

const ROUNDS = new Set(values.rounds.split(','));
const paced = ROUNDS.has('paced') ? await runRound(INTERVAL_MS) : undefined;
const saturated = ROUNDS.has('saturation') ? await runRound(undefined) : undefined;
const [load1] = loadavg();

closeDb(db);
server.kill('SIGTERM');
await once(server, 'exit');
if (engineProcess) {
  engineProcess.send('stop');
  await once(engineProcess, 'exit');
}
await dynamoLocal?.stop();
await rm(dataDir, { recursive: true, force: true });

const ms = (n: number) => `${n.toFixed(2)} ms`;
const row = (label: string, { sorted, serverSorted, perSecond }: Result) =>
  `  ${label.padEnd(38)} p50 ${ms(percentile(sorted, 50)).padStart(10)}   p99 ${ms(percentile(sorted, 99)).padStart(10)}   ${perSecond.toFixed(0).padStart(5)}/s${
    serverSorted.length
      ? `   (in the server: p50 ${ms(percentile(serverSorted, 50))}, p99 ${ms(percentile(serverSorted, 99))})`
      : ''
  }`;
const ratio = (a: Result, b: Result) => (percentile(a.sorted, 99) / percentile(b.sorted, 99)).toFixed(2);
const perRequest = (calls: number | undefined) => (calls === undefined ? 'n/a' : calls.toFixed(2));
const verdict = (a: Result, b: Result) =>
  percentile(a.sorted, 99) <= 3 * percentile(b.sorted, 99) && percentile(a.sorted, 99) <= 15
    ? 'met'
    : 'NOT met';
const report = (title: string, r: Round) => [
  title,
  row('GET /healthz (no key, no store)', r.health),
  row('POST /v1/enforcement/check', r.check),
  row('raw GetItem (consistent)', r.rawGet),
  row('POST /v1/enforcement/authorize', r.authorize),
  row('raw conditional UpdateItem (one item)', r.rawUpdate),
  `  engine requests per check ${perRequest(r.check.engineCalls)}; per authorize + its release ${perRequest(r.authorize.engineCalls)}`,
  `  check p99 / raw GetItem p99 ${ratio(r.check, r.rawGet)}×; authorize p99 / raw UpdateItem p99 ${ratio(r.authorize, r.rawUpdate)}×`,
];
const lines = [
  `engine ${values.engine}${embedded ? ' (in the server process)' : ' (own process)'}; ${REQUESTS} requests per endpoint and round, ${CLIENTS} concurrent clients, ${BUDGETS} budgets; load average ${load1?.toFixed(1)}`,
  ...(paced
    ? [
        ...report(
          `\n${CLIENTS} clients, each sending one request every ${INTERVAL_MS} ms (${((CLIENTS * 1000) / INTERVAL_MS).toFixed(0)}/s offered; latency from when each request was due):`,
          paced,
        ),
        `  target (each p99 ≤ 3× its raw round trip and ≤ 15 ms): check ${verdict(paced.check, paced.rawGet)}, authorize ${verdict(paced.authorize, paced.rawUpdate)}`,
      ]
    : []),
  ...(saturated
    ? report(
        `\n${CLIENTS} clients, each sending its next request as soon as the last answered (saturation):`,
        saturated,
      )
    : []),
];
process.stdout.write(`${lines.join('\n')}\n`);
