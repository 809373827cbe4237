import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../shared/config/config.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8787,
      dataDir: '.tollgate',
      adminKey: undefined,
      dynamoEndpoint: undefined,
      allowPrivateUrls: false,
      openaiBaseUrl: 'https://api.openai.com',
      anthropicBaseUrl: 'https://api.anthropic.com',
      rollupIntervalSeconds: 60,
      webhookRetrySchedule: [0, 5, 300, 1800, 7200, 18000, 36000, 36000],
      maxBodyBytes: 1048576,
    });
  });

  it('reads every variable, treating an empty value as unset', () => {
    const config = loadConfig({
      PORT: '9000',
      TOLLGATE_DATA_DIR: '/var/tollgate',
      TOLLGATE_ADMIN_KEY: 'an-operator-key-of-enough-length',
      TOLLGATE_DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      TOLLGATE_ALLOW_PRIVATE_URLS: 'true',
      TOLLGATE_ROLLUP_INTERVAL_SECONDS: '5',
      TOLLGATE_WEBHOOK_RETRY_SCHEDULE: '0,1,2',
      TOLLGATE_OPENAI_BASE_URL: '',
    });
    expect(config).toMatchObject({
      port: 9000,
      dataDir: '/var/tollgate',
      adminKey: 'an-operator-key-of-enough-length',
      dynamoEndpoint: 'http://127.0.0.1:8000',
      allowPrivateUrls: true,
      rollupIntervalSeconds: 5,
      webhookRetrySchedule: [0, 1, 2],
      openaiBaseUrl: 'https://api.openai.com',
    });
  });

  it('reads where Lambda takes the operator key from, and how long it keeps it', () => {
    expect(loadConfig({})).toMatchObject({ operatorKeySecretArn: undefined, operatorKeyTtlSeconds: 300 });
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tollgate-prod/operator-key-AbCdEf';
    expect(
      loadConfig({ TOLLGATE_OPERATOR_KEY_SECRET_ARN: arn, TOLLGATE_OPERATOR_KEY_TTL_SECONDS: '60' }),
    ).toMatchObject({ operatorKeySecretArn: arn, operatorKeyTtlSeconds: 60 });
    expect(() => loadConfig({ TOLLGATE_OPERATOR_KEY_TTL_SECONDS: '0' })).toThrow(
      /TOLLGATE_OPERATOR_KEY_TTL_SECONDS/,
    );
  });

  it('names every invalid variable in one error', () => {
    const attempt = () =>
      loadConfig({ PORT: 'eighty', TOLLGATE_WEBHOOK_RETRY_SCHEDULE: '0,soon', TOLLGATE_ADMIN_KEY: 'short' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/PORT[\s\S]*TOLLGATE_ADMIN_KEY[\s\S]*TOLLGATE_WEBHOOK_RETRY_SCHEDULE/);
  });

  it('refuses an operator key with the shape of a tenant key', () => {
    const tenantShaped = `tg_${'0'.repeat(26)}_${'1'.repeat(26)}_${'a'.repeat(43)}`;
    expect(() => loadConfig({ TOLLGATE_ADMIN_KEY: tenantShaped })).toThrow(
      /TOLLGATE_ADMIN_KEY: the operator key must not have the shape of a tenant key/,
    );
  });
});
