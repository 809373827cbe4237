import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decryptCredential,
  encryptCredential,
  LocalKeyFileProvider,
} from '../../../shared/billing/credentials.js';
import { KmsDataKeyProvider } from '../../../shared/billing/kms-data-keys.js';
import { parseRetryAfter } from '../../../shared/billing/provider-http.js';

const SECRET = 'sk-admin-0123456789abcdefghijklmnop';
const context = { tenantId: 'ten_A', connectionId: 'pcn_A' };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-credentials-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('credential envelopes with a local key file', () => {
  it('round-trips, creates the key file 0600 on first use, and a second process reads it', async () => {
    const provider = LocalKeyFileProvider.inDataDir(join(dir, 'nested'));
    const envelope = await encryptCredential(provider, context, SECRET);
    expect(JSON.stringify(envelope)).not.toContain(SECRET);
    expect(envelope).toMatchObject({ v: 1, kek: 'local' });
    const file = join(dir, 'nested', 'credentials.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64')).toHaveLength(32);

    const another = LocalKeyFileProvider.inDataDir(join(dir, 'nested'));
    expect(await decryptCredential(another, context, envelope)).toBe(SECRET);
  });

  it('gives each credential its own data key', async () => {
    const provider = LocalKeyFileProvider.inDataDir(dir);
    const a = await encryptCredential(provider, context, SECRET);
    const b = await encryptCredential(provider, context, SECRET);
    expect(a.wrapped_key).not.toBe(b.wrapped_key);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it("refuses a ciphertext moved to another tenant's or connection's item, or tampered with", async () => {
    const provider = LocalKeyFileProvider.inDataDir(dir);
    const envelope = await encryptCredential(provider, context, SECRET);
    await expect(decryptCredential(provider, { ...context, tenantId: 'ten_B' }, envelope)).rejects.toThrow();
    await expect(
      decryptCredential(provider, { ...context, connectionId: 'pcn_B' }, envelope),
    ).rejects.toThrow();
    const flipped = Buffer.from(envelope.ciphertext, 'base64');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    await expect(
      decryptCredential(provider, context, { ...envelope, ciphertext: flipped.toString('base64') }),
    ).rejects.toThrow();
  });

  it('cannot open credentials sealed under another key file', async () => {
    const envelope = await encryptCredential(
      LocalKeyFileProvider.inDataDir(join(dir, 'one')),
      context,
      SECRET,
    );
    await expect(
      decryptCredential(LocalKeyFileProvider.inDataDir(join(dir, 'two')), context, envelope),
    ).rejects.toThrow();
  });
});

describe('credential envelopes with KMS', () => {
  /** KMS itself is AWS's: this stands in for it at the SDK boundary, keeping one real key. */
  function fakeKms() {
    const master = randomBytes(32);
    const sent: (GenerateDataKeyCommand | DecryptCommand)[] = [];
    const client = {
      async send(command: GenerateDataKeyCommand | DecryptCommand) {
        sent.push(command);
        const ctx = JSON.stringify(command.input.EncryptionContext);
        if (command instanceof GenerateDataKeyCommand) {
          const plaintext = randomBytes(32);
          const blob = Buffer.concat([Buffer.from(ctx.padEnd(64).slice(0, 64)), xor(plaintext, master)]);
          return { Plaintext: new Uint8Array(plaintext), CiphertextBlob: new Uint8Array(blob) };
        }
        const blob = Buffer.from(command.input.CiphertextBlob as Uint8Array);
        if (blob.subarray(0, 64).toString().trimEnd() !== ctx) throw new Error('InvalidCiphertextException');
        return { Plaintext: new Uint8Array(xor(blob.subarray(64), master)) };
      },
    };
    return { client: client as unknown as KMSClient, sent };
  }
  const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((byte, i) => byte ^ (b[i] ?? 0)));

  it('asks KMS for an AES-256 data key under the configured key, with the ids as encryption context', async () => {
    const { client, sent } = fakeKms();
    const provider = new KmsDataKeyProvider(client, 'arn:aws:kms:us-east-1:111122223333:key/abc');
    const envelope = await encryptCredential(provider, context, SECRET);
    expect(envelope.kek).toBe('kms');
    expect(await decryptCredential(provider, context, envelope)).toBe(SECRET);
    expect(sent[0]?.input).toEqual({
      KeyId: 'arn:aws:kms:us-east-1:111122223333:key/abc',
      KeySpec: 'AES_256',
      EncryptionContext: { tenant_id: 'ten_A', connection_id: 'pcn_A' },
    });
    expect(sent[1]).toBeInstanceOf(DecryptCommand);
    expect(sent[1]?.input).toMatchObject({
      EncryptionContext: { tenant_id: 'ten_A', connection_id: 'pcn_A' },
    });
    await expect(decryptCredential(provider, { ...context, tenantId: 'ten_B' }, envelope)).rejects.toThrow();
  });

  it('refuses an envelope sealed by the other kind of key', async () => {
    const local = await encryptCredential(LocalKeyFileProvider.inDataDir(dir), context, SECRET);
    const provider = new KmsDataKeyProvider(fakeKms().client, 'key');
    await expect(decryptCredential(provider, context, local)).rejects.toThrow(/sealed with a local key/);
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0.5')).toBe(500);
    const now = Date.parse('2026-11-29T12:00:00Z');
    expect(parseRetryAfter('Sun, 29 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sun, 29 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
