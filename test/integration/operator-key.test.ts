import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { handle, type LambdaContext } from 'hono/aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../functions/api/app.js';
import { createLambdaRuntime } from '../../functions/lambda-runtime.js';
import { SecretsManagerOperatorKey } from '../../shared/api-keys/secrets-manager-operator-key.js';
import { createLogger } from '../../shared/observability/logger.js';
import { FAKE_CREDENTIALS, type FakeAwsService, startFakeAwsService } from '../helpers/fake-aws.js';
import { httpApiEvent } from '../helpers/lambda-event.js';
import { createTestStore, OPERATOR_KEY, type TestStore } from '../helpers/tollgate.js';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tollgate-dev/operator-key-AbCdEf';
const FIRST_KEY = 'FirstOperatorKeyFromSecretsManager0123456789ab';
const ROTATED_KEY = 'RotatedOperatorKeyFromSecretsManager987654321x';
const TTL_MS = 300_000;

/** Secrets Manager's GetSecretValue answer, as documented. */
function secretValue(value: string) {
  return {
    body: {
      ARN: SECRET_ARN,
      Name: 'tollgate-dev/operator-key',
      SecretString: value,
      VersionId: `v-${value.length}-${value.slice(0, 4)}`,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 1_795_953_600,
    },
  };
}

const unavailable = () => ({
  status: 500,
  body: { __type: 'InternalServiceError', message: 'Secrets Manager is having a bad day' },
});

describe('the operator key from Secrets Manager', () => {
  let secrets: FakeAwsService;
  let clock: number;
  const logger = createLogger('silent');

  function source(options: { retryAfterFailureMs?: number } = {}) {
    const client = new SecretsManagerClient({
      region: 'eu-west-1',
      endpoint: secrets.endpoint,
      credentials: FAKE_CREDENTIALS,
      maxAttempts: 1,
    });
    return new SecretsManagerOperatorKey(client, SECRET_ARN, {
      ttlMs: TTL_MS,
      logger,
      now: () => clock,
      ...options,
    });
  }

  beforeAll(async () => {
    secrets = await startFakeAwsService({});
  });
  afterAll(() => secrets.close());

  function reset(value: string) {
    secrets.calls.length = 0;
    clock = 1_000_000;
    secrets.on('secretsmanager.GetSecretValue', () => secretValue(value));
  }

  it('reads the secret once for concurrent requests and keeps it for the TTL', async () => {
    reset(FIRST_KEY);
    const operatorKey = source();
    const keys = await Promise.all([operatorKey.current(), operatorKey.current(), operatorKey.current()]);
    expect(keys).toEqual([FIRST_KEY, FIRST_KEY, FIRST_KEY]);
    expect(secrets.calls).toEqual([
      { target: 'secretsmanager.GetSecretValue', body: { SecretId: SECRET_ARN } },
    ]);

    clock += TTL_MS - 1;
    expect(await operatorKey.current()).toBe(FIRST_KEY);
    expect(secrets.calls).toHaveLength(1);
  });

  it('picks up a rotated key once the TTL has passed', async () => {
    reset(FIRST_KEY);
    const operatorKey = source();
    expect(await operatorKey.current()).toBe(FIRST_KEY);
    secrets.on('secretsmanager.GetSecretValue', () => secretValue(ROTATED_KEY));
    expect(await operatorKey.current()).toBe(FIRST_KEY);
    clock += TTL_MS;
    expect(await operatorKey.current()).toBe(ROTATED_KEY);
    expect(secrets.calls).toHaveLength(2);
  });

  it('keeps the key it has when Secrets Manager fails, and asks again a little later', async () => {
    reset(FIRST_KEY);
    const operatorKey = source({ retryAfterFailureMs: 5_000 });
    expect(await operatorKey.current()).toBe(FIRST_KEY);
    secrets.on('secretsmanager.GetSecretValue', unavailable);
    clock += TTL_MS;
    expect(await operatorKey.current()).toBe(FIRST_KEY);
    clock += 4_999;
    expect(await operatorKey.current()).toBe(FIRST_KEY);
    expect(secrets.calls).toHaveLength(2);
    secrets.on('secretsmanager.GetSecretValue', () => secretValue(ROTATED_KEY));
    clock += 1;
    expect(await operatorKey.current()).toBe(ROTATED_KEY);
  });

  it('refuses operator requests until a valid key can be read', async () => {
    reset(FIRST_KEY);
    secrets.on('secretsmanager.GetSecretValue', unavailable);
    const operatorKey = source({ retryAfterFailureMs: 5_000 });
    expect(await operatorKey.current()).toBeUndefined();
    secrets.on('secretsmanager.GetSecretValue', () => secretValue('too-short'));
    clock += 5_000;
    expect(await operatorKey.current()).toBeUndefined();
    secrets.on('secretsmanager.GetSecretValue', () => secretValue(`  ${FIRST_KEY}\n`));
    clock += 5_000;
    expect(await operatorKey.current()).toBe(FIRST_KEY);
  });
});

describe('the API Lambda with its operator key in Secrets Manager', () => {
  let secrets: FakeAwsService;
  let store: TestStore;
  beforeAll(async () => {
    secrets = await startFakeAwsService({ 'secretsmanager.GetSecretValue': () => secretValue(FIRST_KEY) });
    store = await createTestStore();
  });
  afterAll(async () => {
    await secrets.close();
    await store.cleanup();
  });
  afterEach(() => vi.unstubAllEnvs());

  it('takes the operator key from the secret the stack names, not from TOLLGATE_ADMIN_KEY', async () => {
    // The SDK's own per-service endpoint variable, as one would point it at a VPC endpoint.
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', secrets.endpoint);
    vi.stubEnv('AWS_ACCESS_KEY_ID', FAKE_CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', FAKE_CREDENTIALS.secretAccessKey);
    const runtime = createLambdaRuntime({
      TOLLGATE_DYNAMODB_ENDPOINT: store.endpoint,
      TOLLGATE_TABLE_NAME: store.db.tableName,
      TOLLGATE_OPERATOR_KEY_SECRET_ARN: SECRET_ARN,
      TOLLGATE_ADMIN_KEY: OPERATOR_KEY,
      TOLLGATE_LOG_LEVEL: 'silent',
      AWS_REGION: 'eu-west-1',
    });
    const handler = handle(createApp(runtime));
    const context = { awsRequestId: 'aws-req-1', functionName: 'tollgate-dev-api' } as LambdaContext;

    const withSecret = await handler(
      httpApiEvent('GET', '/v1/tenants', { headers: { authorization: `Bearer ${FIRST_KEY}` } }),
      context,
    );
    expect(withSecret.statusCode).toBe(200);
    const withEnvKey = await handler(
      httpApiEvent('GET', '/v1/tenants', { headers: { authorization: `Bearer ${OPERATOR_KEY}` } }),
      context,
    );
    expect(withEnvKey.statusCode).toBe(401);
    // Read once, at cold start, for every request since.
    expect(secrets.calls.filter((call) => call.body.SecretId === SECRET_ARN)).toHaveLength(1);
  });

  it('builds a function without the bus grant, which refuses to publish', async () => {
    const runtime = createLambdaRuntime({
      TOLLGATE_TABLE_NAME: 'tollgate-dev',
      TOLLGATE_LOG_LEVEL: 'silent',
    });
    await expect(runtime.bus.publish([])).resolves.toBeUndefined();
    await expect(
      runtime.bus.publish([
        { id: 'evt_1', type: 'x.y.v1', tenant_id: 'ten_1', time: '2026-11-29T00:00:00Z', data: {} },
      ]),
    ).rejects.toThrow(/grant `bus`/);
    expect(await runtime.operatorKey.current()).toBeUndefined();
  });
});
