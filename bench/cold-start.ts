/**
 * `npm run bench:cold-start`: what a cold API Lambda pays before its first answer.
 *
 * 1. Bundles functions/api/handler.ts exactly as the stack does (infra/bundling.ts) and reports
 *    the size of all its code (target < 1.5 MB; the infra tests assert it), the bytes loaded at
 *    init (the entry and the chunks it imports statically) and their largest parts.
 * 2. In RUNS fresh `node` processes: imports the bundle, which builds the runtime and the app
 *    (what Lambda's init phase does), then answers one GET /healthz as API Gateway sends it.
 *    Reports the median and the spread of the import + build time (target < 300 ms), of the first
 *    request, and of the whole process start to first answer.
 *
 * The environment is a Lambda's minus the network: no call leaves the machine during init (the
 * operator key is given directly, not through Secrets Manager), with the NODE_OPTIONS the stack
 * sets. Options: --runs=N (default 9), --node-options='…' (compare other flags).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLE_FILE, bundleFunction, LAMBDA_NODE_OPTIONS, MAX_API_BUNDLE_BYTES } from '../infra/bundling.js';

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
const response = await handler(
  {
    version: '2.0', routeKey: '$default', rawPath: '/healthz', rawQueryString: '',
    headers: { host: 'api.example.com' },
    requestContext: { accountId: '123456789012', apiId: 'bench', domainName: 'api.example.com',
      domainPrefix: 'api', http: { method: 'GET', path: '/healthz', protocol: 'HTTP/1.1',
      sourceIp: '203.0.113.9', userAgent: 'bench' }, requestId: 'bench', routeKey: '$default',
      stage: '$default', time: '29/Nov/2026:12:00:00 +0000', timeEpoch: 1795953600000 },
    isBase64Encoded: false,
  },
  { awsRequestId: 'bench', functionName: 'tollgate-bench-api' },
);
if (response.statusCode !== 200) throw new Error('healthz answered ' + response.statusCode);
const answered = performance.now();
console.log(JSON.stringify({ importAndBuild: built - started, importAndBuildCpu: (cpu.user + cpu.system) / 1000, firstRequest: answered - built, sinceProcessStart: answered }));
`,
);

const environment = {
  PATH: process.env.PATH,
  TOLLGATE_TABLE_NAME: 'tollgate-bench',
  TOLLGATE_EVENT_BUS_NAME: 'tollgate-bench',
  TOLLGATE_ADMIN_KEY: 'bench-operator-key-0123456789abcdef',
  TOLLGATE_LOG_LEVEL: 'silent',
  AWS_REGION: 'eu-west-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  // As the construct sets it (infra/tollgate-function.ts); --node-options overrides it to compare.
  NODE_OPTIONS: values['node-options'] ?? LAMBDA_NODE_OPTIONS,
};

interface Sample {
  importAndBuild: number;
  /** CPU time of the import + build: what the wall time would be with a core to itself. */
  importAndBuildCpu: number;
  firstRequest: number;
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
    'process start → first answer',
    stats((s) => s.sinceProcessStart),
  ),
);
