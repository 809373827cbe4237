/**
 * `npm run bench:cold-start`: what a cold API Lambda pays before its first answer.
 *
 * 1. Bundles functions/api/handler.ts exactly as the stack does (infra/bundling.ts) and reports
 *    the size of all its code (target < 1.5 MB; the infra tests assert it), the bytes loaded at
 *    init (the entry and the chunks it imports statically) and their largest parts.
 * 2. In RUNS fresh `node` processes: imports the bundle, which builds the runtime and the app
 *    (what Lambda's init phase does), then answers one GET /healthz as API Gateway sends it, then
 *    one request with the operator key. Reports the median and the spread of the import + build
 *    time (target < 300 ms), of both requests, and of the whole process start to first answer.
 *
 * The environment is the one the stack gives the API function (the variables of its grants,
 * NODE_OPTIONS), minus the network: Secrets Manager is a fake on 127.0.0.1, so the operator key
 * is read at cold start as on Lambda, then timed again as the wait of the first operator request.
 * Options: --runs=N (default 9), --node-options='…' (compare other flags).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLE_FILE, bundleFunction, LAMBDA_NODE_OPTIONS, MAX_API_BUNDLE_BYTES } from '../infra/bundling.js';
import { FUNCTIONS, type FunctionSpec } from '../infra/functions.js';
import { FUNCTION_ENV } from '../infra/tollgate-function.js';
import { FAKE_CREDENTIALS, startFakeAwsService } from '../test/helpers/fake-aws.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '9' }, 'node-options': { type: 'string' } },
});
const RUNS = Number(values.runs);
const TARGET_MS = 300;

const root = join(import.meta.dirname, '..');
const outdir = join(root, '.bench', 'cold-start');

const bundle = await bundleFunction(join(root, 'functions', 'api', 'handler.ts'), outdir);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(3)} MB`;
const initFiles = bundle.files.filter((file) => file.atInit);
console.log(
  `API bundle: ${bundle.totalBytes} bytes (${mb(bundle.totalBytes)}) in ${bundle.files.length} files, limit ${
    MAX_API_BUNDLE_BYTES / 1e6
  } MB — ${bundle.totalBytes < MAX_API_BUNDLE_BYTES ? 'ok' : 'OVER'}`,
);
console.log(
  `  loaded at init: ${bundle.initBytes} bytes (${mb(bundle.initBytes)}): ${initFiles
    .map((file) => `${file.path} ${kb(file.bytes)}`)
    .join(', ')}`,
);
console.log(
  `  largest parts at init: ${bundle.initContributors
    .slice(0, 8)
    .map(([name, bytes]) => `${name} ${kb(bytes)}`)
    .join(', ')}`,
);
const onFirstUse = bundle.files.filter((file) => !file.atInit);
console.log(
  `  loaded on first use: ${onFirstUse.length} chunks, ${kb(onFirstUse.reduce((sum, file) => sum + file.bytes, 0))}`,
);

// Runs in the fresh process: nothing of this one (tsx, esbuild, caches) is loaded there.
const probe = join(outdir, 'probe.mjs');
await writeFile(
  probe,
  `const started = performance.now();
const cpuBefore = process.cpuUsage();
const { handler } = await import(${JSON.stringify(`./${BUNDLE_FILE}`)});
const built = performance.now();
const cpu = process.cpuUsage(cpuBefore);
const event = (method, path, headers, body) => ({
  version: '2.0', routeKey: '$default', rawPath: path, rawQueryString: '',
  headers: { host: 'api.example.com', ...headers },
  requestContext: { accountId: '123456789012', apiId: 'bench', domainName: 'api.example.com',
    domainPrefix: 'api', http: { method, path, protocol: 'HTTP/1.1',
    sourceIp: '203.0.113.9', userAgent: 'bench' }, requestId: 'bench', routeKey: '$default',
    stage: '$default', time: '29/Nov/2026:12:00:00 +0000', timeEpoch: 1795953600000 },
  ...(body === undefined ? {} : { body }),
  isBase64Encoded: false,
});
const context = { awsRequestId: 'bench', functionName: 'tollgate-bench-api' };
const health = await handler(event('GET', '/healthz', {}), context);
if (health.statusCode !== 200) throw new Error('healthz answered ' + health.statusCode);
const answered = performance.now();
// Authenticated: waits for the operator key (Secrets Manager), then is refused by validation
// before any table access (no DynamoDB runs here).
const operator = await handler(
  event('POST', '/v1/tenants', { authorization: 'Bearer ' + process.env.BENCH_OPERATOR_KEY, 'content-type': 'application/json' }, '{}'),
  context,
);
if (operator.statusCode !== 400) throw new Error('the operator request answered ' + operator.statusCode + ' ' + operator.body);
const operatorAnswered = performance.now();
console.log(JSON.stringify({ importAndBuild: built - started, importAndBuildCpu: (cpu.user + cpu.system) / 1000,
  firstRequest: answered - built, operatorRequest: operatorAnswered - answered, sinceProcessStart: answered }));
`,
);

// Secrets Manager, answering on 127.0.0.1 as the real one does, so the operator key is read at
// cold start as on Lambda (chunk, client, call); the other AWS services are not called.
const OPERATOR_KEY = 'BenchOperatorKeyFromSecretsManager0123456789';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tollgate-bench/operator-key-AbCdEf';
const secrets = await startFakeAwsService({
  'secretsmanager.GetSecretValue': () => ({
    body: {
      ARN: SECRET_ARN,
      Name: 'tollgate-bench/operator-key',
      SecretString: OPERATOR_KEY,
      VersionId: 'v1',
    },
  }),
});

// The API function's environment as the stack sets it (its grants in infra/functions.ts), with
// stand-in values, plus what Lambda itself sets (region, the role's credentials).
const { grants } = FUNCTIONS.find((spec) => spec.name === 'api') as FunctionSpec;
const environment: Record<string, string | undefined> = {
  PATH: process.env.PATH,
  [FUNCTION_ENV.tableName]: 'tollgate-bench',
  ...(grants.bus ? { [FUNCTION_ENV.eventBusName]: 'tollgate-bench' } : {}),
  ...(grants.retryQueue
    ? {
        [FUNCTION_ENV.retryQueueUrl]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/tollgate-bench-retry',
      }
    : {}),
  ...(grants.credentialsKey
    ? { [FUNCTION_ENV.credentialsKeyId]: 'arn:aws:kms:eu-west-1:123456789012:key/bench' }
    : {}),
  ...(grants.operatorSecret ? { [FUNCTION_ENV.operatorKeySecretArn]: SECRET_ARN } : {}),
  // As the construct sets it (infra/bundling.ts); --node-options overrides it to compare.
  NODE_OPTIONS: values['node-options'] ?? LAMBDA_NODE_OPTIONS,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: 'bench-session-token',
  AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
  // Without the grant the key would come from here instead; the probe presents it either way.
  TOLLGATE_ADMIN_KEY: grants.operatorSecret ? undefined : OPERATOR_KEY,
  BENCH_OPERATOR_KEY: OPERATOR_KEY,
  TOLLGATE_LOG_LEVEL: 'silent',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

interface Sample {
  importAndBuild: number;
  /** CPU time of the import + build: what the wall time would be with a core to itself. */
  importAndBuildCpu: number;
  firstRequest: number;
  /** The next request, with the operator key: how long the first authenticated request waits. */
  operatorRequest: number;
  sinceProcessStart: number;
}

async function measure(): Promise<Sample> {
  const child = spawn(process.execPath, [probe], { env: environment, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`the probe exited with ${code}`);
  return JSON.parse(output.trim().split('\n').at(-1) ?? '{}');
}

const samples: Sample[] = [];
for (let run = 0; run < RUNS; run++) samples.push(await measure());

const stats = (pick: (sample: Sample) => number) => {
  const sorted = samples.map(pick).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN };
};
const line = (label: string, { median, min, max }: ReturnType<typeof stats>) =>
  `${label.padEnd(34)} median ${median.toFixed(0).padStart(4)} ms  (min ${min.toFixed(0)}, max ${max.toFixed(0)})`;

const importAndBuild = stats((s) => s.importAndBuild);
const [load1] = loadavg();
console.log(
  `\n${RUNS} fresh node ${process.version} processes, NODE_OPTIONS=${JSON.stringify(environment.NODE_OPTIONS)} (load average ${load1?.toFixed(1)} on ${availableParallelism()} cores):`,
);
console.log(
  `${line('import bundle + build runtime/app', importAndBuild)}  target < ${TARGET_MS} ms — ${
    importAndBuild.median < TARGET_MS ? 'ok' : 'OVER'
  }`,
);
console.log(
  line(
    '  of which CPU (user + system)',
    stats((s) => s.importAndBuildCpu),
  ),
);
console.log(
  line(
    'first request (GET /healthz)',
    stats((s) => s.firstRequest),
  ),
);
console.log(
  line(
    'then first operator request',
    stats((s) => s.operatorRequest),
  ),
);
console.log(
  line(
    'process start → first answer',
    stats((s) => s.sinceProcessStart),
  ),
);
const reads = secrets.calls.filter((call) => call.target === 'secretsmanager.GetSecretValue').length;
console.log(`(Secrets Manager read ${reads} times for ${RUNS} cold starts)`);
await secrets.close();
