import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { type App, createApp } from '../../functions/api/app.js';
import { startEmbeddedDynamo } from '../../local/embedded-dynamo.js';
import { InProcessBus } from '../../shared/bus/bus.js';
import { loadConfig } from '../../shared/config/config.js';
import { closeDb, createDb, type Db } from '../../shared/db/client.js';
import { ensureTable } from '../../shared/db/ensure-table.js';
import { createLogger, type Logger } from '../../shared/observability/logger.js';
import { createRuntime, type Runtime } from '../../shared/runtime.js';
import { subscribeWebhooks, type WebhookOptions } from '../../shared/webhooks/index.js';

export type Engine = 'dynamodb-local' | 'dynalite';
export const ENGINES: Engine[] = ['dynamodb-local', 'dynalite'];

export const OPERATOR_KEY = 'tgop_test-operator-key-0123456789abcdef';

export interface TestStore {
  db: Db;
  endpoint: string;
  cleanup(): Promise<void>;
}

/** A fresh table on the chosen engine: DynamoDB Local (shared by the run) or a private dynalite. */
export async function createTestStore(engine: Engine = 'dynamodb-local'): Promise<TestStore> {
  const embedded = engine === 'dynalite' ? await startEmbeddedDynamo() : undefined;
  const endpoint = embedded?.endpoint ?? inject('dynamoDbLocalEndpoint');
  const db = createDb({ tableName: `test-${randomUUID()}`, region: 'local', endpoint });
  await ensureTable(db.client, db.tableName);
  return {
    db,
    endpoint,
    cleanup: async () => {
      if (embedded) {
        closeDb(db);
        await embedded.close();
        return;
      }
      await db.client.send(new DeleteTableCommand({ TableName: db.tableName }));
      closeDb(db);
    },
  };
}

export interface RequestOptions {
  key?: string | undefined;
  body?: unknown;
  /** A raw body, sent as-is (malformed JSON, oversized payloads). */
  rawBody?: string;
  headers?: Record<string, string>;
}

// Tests read bodies loosely and assert on them; a typed body would only restate the schema.
// biome-ignore lint/suspicious/noExplicitAny: test responses are asserted on, not trusted.
type LooseJson = any;
export type TestResponse = Omit<Response, 'json'> & { json(): Promise<LooseJson> };

export interface TestTollgate {
  app: App;
  runtime: Runtime;
  store: TestStore;
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>;
  /** Creates a tenant through the API and returns its id and all-scope key. */
  createTenant(name?: string): Promise<{ id: string; key: string }>;
  /** Mints a key for a tenant through the API. */
  mintKey(adminKey: string, body: Record<string, unknown>): Promise<{ id: string; key: string }>;
  cleanup(): Promise<void>;
}

/** The real app on a real table, with config given the way the environment would give it. */
export async function createTestTollgate(
  options: {
    engine?: Engine;
    env?: Record<string, string>;
    /** Another runtime over this store (a restart): its table is not created nor deleted. */
    store?: TestStore;
    /**
     * Another runtime over this data dir (a restart: its key file opens what the first sealed);
     * it is not deleted by cleanup.
     */
    dataDir?: string;
    webhooks?: WebhookOptions;
    /** Where the runtime logs (to assert on log lines); silent by default. */
    logger?: Logger;
    /** The clock of budgets and jobs. */
    now?: () => Date;
  } = {},
): Promise<TestTollgate> {
  const ownsStore = !options.store;
  const store = options.store ?? (await createTestStore(options.engine));
  // Each instance keeps its files (the credential key file) in a directory of its own.
  const ownsDataDir = !options.dataDir;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'tollgate-test-')));
  const config = loadConfig({
    TOLLGATE_DATA_DIR: dataDir,
    TOLLGATE_DYNAMODB_ENDPOINT: store.endpoint,
    TOLLGATE_TABLE_NAME: store.db.tableName,
    TOLLGATE_ADMIN_KEY: OPERATOR_KEY,
    TOLLGATE_LOG_LEVEL: 'silent',
    AWS_REGION: 'local',
    ...options.env,
  });
  const logger = options.logger ?? createLogger(config.logLevel);
  const bus = new InProcessBus(logger);
  const runtime = createRuntime({
    config,
    bus,
    logger,
    db: store.db,
    webhooks: options.webhooks,
    ...(options.now ? { now: options.now } : {}),
  });
  subscribeWebhooks(bus, runtime.webhooks);
  const app = createApp(runtime);

  const request = (
    method: string,
    path: string,
    { key, body, rawBody, headers = {} }: RequestOptions = {},
  ) => {
    const allHeaders: Record<string, string> = { ...headers };
    if (key) allHeaders.authorization = `Bearer ${key}`;
    let payload: string | undefined = rawBody;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      allHeaders['content-type'] ??= 'application/json';
    }
    return Promise.resolve(
      app.request(path, { method, headers: allHeaders, body: payload ?? null }),
    ) as Promise<TestResponse>;
  };

  return {
    app,
    runtime,
    store,
    request,
    async createTenant(name = 'Acme') {
      const response = await request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { name } });
      if (response.status !== 201)
        throw new Error(`tenant creation failed: ${response.status} ${await response.text()}`);
      const created = (await response.json()) as { id: string; api_key: { key: string } };
      return { id: created.id, key: created.api_key.key };
    },
    async mintKey(adminKey, body) {
      const response = await request('POST', '/v1/api-keys', { key: adminKey, body });
      if (response.status !== 201)
        throw new Error(`key creation failed: ${response.status} ${await response.text()}`);
      return (await response.json()) as { id: string; key: string };
    },
    cleanup: async () => {
      await bus.drain();
      if (ownsStore) await store.cleanup();
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
