import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CredentialContext,
  type DataKeyProvider,
  LocalKeyFileProvider,
} from '../../../shared/billing/credentials.js';
import { WebhookSecrets } from '../../../shared/webhooks/secrets.js';
import { newWebhookSecret } from '../../../shared/webhooks/signing.js';

/** The real local key provider, counting how often a data key is unwrapped (a KMS Decrypt on AWS). */
class CountingProvider implements DataKeyProvider {
  readonly kind: string;
  unwraps = 0;
  constructor(private readonly inner: DataKeyProvider) {
    this.kind = inner.kind;
  }
  generateDataKey(context: CredentialContext) {
    return this.inner.generateDataKey(context);
  }
  decryptDataKey(wrapped: string, context: CredentialContext) {
    this.unwraps += 1;
    return this.inner.decryptDataKey(wrapped, context);
  }
}

describe('webhook signing secrets', () => {
  let dir: string;
  let provider: CountingProvider;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-secrets-'));
    provider = new CountingProvider(LocalKeyFileProvider.inDataDir(dir));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('seals a secret that only its own tenant and endpoint open', async () => {
    const secrets = new WebhookSecrets(provider);
    const secret = newWebhookSecret();
    const envelope = await secrets.seal('ten_a', 'whe_1', secret);
    expect(JSON.stringify(envelope)).not.toContain(secret.slice('whsec_'.length));
    expect(await secrets.open('ten_a', 'whe_1', '1:current', { envelope, plain: null })).toBe(secret);
    await expect(secrets.open('ten_b', 'whe_1', '1:current', { envelope, plain: null })).rejects.toThrow();
    await expect(secrets.open('ten_a', 'whe_2', '1:current', { envelope, plain: null })).rejects.toThrow();
  });

  it('opens each secret version once within the cache lifetime, then again', async () => {
    let clock = 0;
    const secrets = new WebhookSecrets(provider, { cacheTtlMs: 1000, now: () => clock });
    const secret = newWebhookSecret();
    const stored = { envelope: await secrets.seal('ten_a', 'whe_1', secret), plain: null };
    const before = provider.unwraps;
    const opened = await Promise.all(
      Array.from({ length: 50 }, async () => secrets.open('ten_a', 'whe_1', '3:current', stored)),
    );
    // Concurrent first uses share one unwrap; after that, the cache answers.
    const afterFanOut = provider.unwraps;
    expect(afterFanOut - before).toBe(1);
    for (let i = 0; i < 50; i += 1)
      expect(await secrets.open('ten_a', 'whe_1', '3:current', stored)).toBe(secret);
    expect(opened.every((value) => value === secret)).toBe(true);
    expect(provider.unwraps).toBe(afterFanOut);
    clock = 1001;
    await secrets.open('ten_a', 'whe_1', '3:current', stored);
    expect(provider.unwraps).toBe(afterFanOut + 1);
  });

  it('keeps at most its size, dropping the oldest', async () => {
    const secrets = new WebhookSecrets(provider, { cacheSize: 3 });
    const stored = { envelope: await secrets.seal('ten_a', 'whe_1', newWebhookSecret()), plain: null };
    for (let version = 1; version <= 5; version += 1)
      await secrets.open('ten_a', 'whe_1', `${version}:current`, stored);
    expect(secrets.cachedCount).toBe(3);
    const before = provider.unwraps;
    await secrets.open('ten_a', 'whe_1', '5:current', stored);
    expect(provider.unwraps).toBe(before);
    await secrets.open('ten_a', 'whe_1', '1:current', stored);
    expect(provider.unwraps).toBe(before + 1);
  });

  it('forgets a failed open, so the next use tries again', async () => {
    const secrets = new WebhookSecrets(provider);
    const stored = { envelope: await secrets.seal('ten_a', 'whe_1', newWebhookSecret()), plain: null };
    await expect(secrets.open('ten_b', 'whe_1', '1:current', stored)).rejects.toThrow();
    expect(secrets.cachedCount).toBe(0);
  });

  it('answers a plain secret stored before sealing without a key', async () => {
    const secrets = new WebhookSecrets(provider);
    const before = provider.unwraps;
    expect(await secrets.open('ten_a', 'whe_9', '0:current', { envelope: null, plain: 'whsec_old' })).toBe(
      'whsec_old',
    );
    expect(provider.unwraps).toBe(before);
  });
});
