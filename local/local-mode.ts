import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { createApp } from '../functions/api/app.js';
import { InProcessBus } from '../shared/bus/bus.js';
import type { Config } from '../shared/config/config.js';
import { closeDb, createDb } from '../shared/db/client.js';
import { ensureTable } from '../shared/db/ensure-table.js';
import { jobSchedules } from '../shared/jobs/schedules.js';
import { createLogger, type Logger } from '../shared/observability/logger.js';
import { createRuntime, type Runtime } from '../shared/runtime.js';
import { subscribeWebhooks } from '../shared/webhooks/index.js';
import { startEmbeddedDynamo } from './embedded-dynamo.js';
import { resolveOperatorKey } from './operator-key.js';
import { LocalScheduler } from './scheduler.js';

export interface LocalTollgate {
  url: string;
  operatorKey: string;
  runtime: Runtime;
  schedules: string[];
  /** The DynamoDB endpoint the store is on (the embedded engine's, unless one was configured). */
  dynamoEndpoint: string | undefined;
  /** Stops accepting requests, finishes jobs and deliveries in flight, and closes the store. */
  stop(): Promise<void>;
}

const DOCS_SCRIPT_PATH = '/docs/assets/api-reference.js';

async function loadDocsScript(): Promise<string | undefined> {
  try {
    const require = createRequire(import.meta.url);
    return await readFile(require.resolve('@scalar/api-reference/browser/standalone.js'), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Everything Tollgate runs, in this process: the embedded store (or the configured endpoint),
 * the API, the scheduler standing in for EventBridge Scheduler, and the in-process bus.
 */
export async function startLocalTollgate(
  config: Config,
  options: {
    host?: string;
    logger?: Logger;
    /** The clock of budgets (tests move it into a new period); the system clock by default. */
    now?: () => Date;
  } = {},
): Promise<LocalTollgate> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true });

  const embedded = config.dynamoEndpoint ? undefined : await startEmbeddedDynamo(join(dataDir, 'dynamodb'));
  const endpoint = config.dynamoEndpoint ?? embedded?.endpoint;
  const db = createDb({ tableName: config.tableName, region: config.awsRegion, endpoint });
  await ensureTable(db.client, config.tableName);

  const bus = new InProcessBus(logger);
  const operatorKey = await resolveOperatorKey(config.adminKey, dataDir);
  const runtime = createRuntime({
    config,
    bus,
    operatorKey,
    logger,
    db,
    ...(options.now ? { now: options.now } : {}),
  });
  // The in-process stand-in for the EventBridge rules that route events to webhook delivery.
  subscribeWebhooks(bus, runtime.webhooks);

  const docsScript = await loadDocsScript();
  const app = createApp(runtime, docsScript ? { docsScriptUrl: DOCS_SCRIPT_PATH } : {});
  if (docsScript) {
    app.get(DOCS_SCRIPT_PATH, (c) =>
      c.body(docsScript, 200, {
        'content-type': 'text/javascript; charset=utf-8',
        'cache-control': 'max-age=3600',
      }),
    );
  }

  const host = options.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolveServer) => {
    const started = serve({ fetch: app.fetch, port: config.port, hostname: host }, () =>
      resolveServer(started),
    );
  });
  const { port } = server.address() as AddressInfo;

  const scheduler = new LocalScheduler(runtime.jobs, logger);
  const schedules = scheduler.start(jobSchedules(config));

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    operatorKey,
    runtime,
    schedules,
    dynamoEndpoint: endpoint,
    stop: () => {
      stopping ??= (async () => {
        await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
        await scheduler.stop();
        await bus.drain();
        closeDb(db);
        await embedded?.close();
      })();
      return stopping;
    },
  };
}
