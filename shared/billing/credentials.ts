import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ServiceUnavailableError } from '../errors/errors.js';
import { loadOnce } from '../load-once.js';

/**
 * Provider credentials are encrypted at rest with envelope encryption: each connection has its own
 * 256-bit data key, which encrypts the credential with AES-256-GCM; the data key itself is stored
 * only wrapped by a key-encryption key (KMS on AWS: kms-data-keys.ts, a key file in the data dir locally). The
 * tenant and connection ids are bound in as authenticated data (and as the KMS encryption
 * context), so a ciphertext copied to another tenant's or connection's item does not decrypt.
 */

/** Who the credential belongs to: bound into every ciphertext. */
export interface CredentialContext {
  tenantId: string;
  connectionId: string;
}

export interface DataKey {
  plaintext: Buffer;
  /** The data key wrapped by the key-encryption key, base64. */
  wrapped: string;
}

/** The key-encryption side of the envelope. */
export interface DataKeyProvider {
  /** Names the key-encryption key kind stored beside the envelope (`kms`, `local`). */
  readonly kind: string;
  generateDataKey(context: CredentialContext): Promise<DataKey>;
  decryptDataKey(wrapped: string, context: CredentialContext): Promise<Buffer>;
}

/** What is stored for a credential. Nothing in it reveals the credential without the key-encryption key. */
export interface CredentialEnvelope {
  v: 1;
  kek: string;
  wrapped_key: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

const aad = (context: CredentialContext) =>
  Buffer.from(`tollgate-credential:v1:${context.tenantId}:${context.connectionId}`, 'utf8');

function sealWith(key: Buffer, plaintext: Buffer, additional: Buffer) {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additional);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

function openWith(key: Buffer, sealed: { iv: Buffer; tag: Buffer; ciphertext: Buffer }, additional: Buffer) {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
  decipher.setAAD(additional);
  decipher.setAuthTag(sealed.tag);
  return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
}

export async function encryptCredential(
  provider: DataKeyProvider,
  context: CredentialContext,
  secret: string,
): Promise<CredentialEnvelope> {
  const dataKey = await provider.generateDataKey(context);
  try {
    const sealed = sealWith(dataKey.plaintext, Buffer.from(secret, 'utf8'), aad(context));
    return {
      v: 1,
      kek: provider.kind,
      wrapped_key: dataKey.wrapped,
      iv: sealed.iv.toString('base64'),
      tag: sealed.tag.toString('base64'),
      ciphertext: sealed.ciphertext.toString('base64'),
    };
  } finally {
    dataKey.plaintext.fill(0);
  }
}

export async function decryptCredential(
  provider: DataKeyProvider,
  context: CredentialContext,
  envelope: CredentialEnvelope,
): Promise<string> {
  if (envelope.kek !== provider.kind)
    throw new Error(
      `credential was sealed with a ${envelope.kek} key; this process has a ${provider.kind} key`,
    );
  const key = await provider.decryptDataKey(envelope.wrapped_key, context);
  try {
    return openWith(
      key,
      {
        iv: Buffer.from(envelope.iv, 'base64'),
        tag: Buffer.from(envelope.tag, 'base64'),
        ciphertext: Buffer.from(envelope.ciphertext, 'base64'),
      },
      aad(context),
    ).toString('utf8');
  } finally {
    key.fill(0);
  }
}

/**
 * A provider built on first use: the AWS KMS client is loaded when a credential is first sealed or
 * opened, not at every cold start (most API requests never touch provider credentials).
 */
export class DeferredDataKeyProvider implements DataKeyProvider {
  readonly #provider: () => Promise<DataKeyProvider>;

  constructor(
    readonly kind: string,
    load: () => Promise<DataKeyProvider>,
  ) {
    this.#provider = loadOnce(load);
  }

  async generateDataKey(context: CredentialContext): Promise<DataKey> {
    return (await this.#provider()).generateDataKey(context);
  }

  async decryptDataKey(wrapped: string, context: CredentialContext): Promise<Buffer> {
    return (await this.#provider()).decryptDataKey(wrapped, context);
  }
}

/**
 * Local mode: a 256-bit key-encryption key in a file of the data dir, created (0600, never
 * overwritten) on first use. Losing the file makes the stored credentials unreadable: the
 * connections must then be created again.
 */
export class LocalKeyFileProvider implements DataKeyProvider {
  readonly kind = 'local';
  #key: Promise<Buffer> | undefined;

  constructor(private readonly path: string) {}

  static inDataDir(dataDir: string): LocalKeyFileProvider {
    return new LocalKeyFileProvider(join(dataDir, 'credentials.key'));
  }

  #keyEncryptionKey(): Promise<Buffer> {
    this.#key ??= this.#loadOrCreate().catch((error: unknown) => {
      this.#key = undefined;
      throw error;
    });
    return this.#key;
  }

  async #loadOrCreate(): Promise<Buffer> {
    try {
      return this.#decode(await readFile(this.path, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await mkdir(dirname(this.path), { recursive: true });
    const key = randomBytes(32);
    try {
      // 'wx' fails when another process created the file first; that process's key then wins.
      const file = await open(this.path, 'wx', 0o600);
      await file.writeFile(`${key.toString('base64')}\n`, 'utf8');
      await file.close();
      return key;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return this.#decode(await readFile(this.path, 'utf8'));
    }
  }

  #decode(text: string): Buffer {
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== 32) throw new Error(`${this.path} does not hold a 256-bit key`);
    return key;
  }

  async generateDataKey(context: CredentialContext): Promise<DataKey> {
    const plaintext = randomBytes(32);
    const sealed = sealWith(await this.#keyEncryptionKey(), plaintext, aad(context));
    return {
      plaintext,
      wrapped: Buffer.concat([sealed.iv, sealed.tag, sealed.ciphertext]).toString('base64'),
    };
  }

  async decryptDataKey(wrapped: string, context: CredentialContext): Promise<Buffer> {
    const bytes = Buffer.from(wrapped, 'base64');
    return openWith(
      await this.#keyEncryptionKey(),
      { iv: bytes.subarray(0, 12), tag: bytes.subarray(12, 28), ciphertext: bytes.subarray(28) },
      aad(context),
    );
  }
}

/**
 * Where no key-encryption key is configured (on Lambda without a KMS key): every use fails with
 * a message naming the setting, instead of trying to write a key file to a read-only disk.
 */
export class UnconfiguredKeyProvider implements DataKeyProvider {
  readonly kind = 'unconfigured';
  #fail(): never {
    throw new ServiceUnavailableError(
      'Provider credentials and webhook signing secrets cannot be stored: the operator has not configured TOLLGATE_CREDENTIALS_KMS_KEY_ID.',
      'CREDENTIAL_KEY_UNCONFIGURED',
      // The operator has to deploy a setting: not a matter of seconds.
      { retryAfterSeconds: 300 },
    );
  }
  async generateDataKey(): Promise<DataKey> {
    this.#fail();
  }
  async decryptDataKey(): Promise<Buffer> {
    this.#fail();
  }
}
