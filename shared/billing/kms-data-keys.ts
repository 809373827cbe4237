import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { CredentialContext, DataKey, DataKeyProvider } from './credentials.js';

/**
 * The KMS side of credential envelopes, in a module of its own: the runtime imports it on first
 * use (DeferredDataKeyProvider), so the KMS client is not loaded at cold start.
 */
export function createKmsDataKeyProvider(region: string, keyId: string): KmsDataKeyProvider {
  return new KmsDataKeyProvider(new KMSClient({ region }), keyId);
}

/** AWS KMS: GenerateDataKey and Decrypt under one symmetric key, with the ids as encryption context. */
export class KmsDataKeyProvider implements DataKeyProvider {
  readonly kind = 'kms';
  constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
  ) {}

  async generateDataKey(context: CredentialContext): Promise<DataKey> {
    const result = await this.kms.send(
      new GenerateDataKeyCommand({
        KeyId: this.keyId,
        KeySpec: 'AES_256',
        EncryptionContext: { tenant_id: context.tenantId, connection_id: context.connectionId },
      }),
    );
    if (!result.Plaintext || !result.CiphertextBlob) throw new Error('KMS returned no data key');
    return {
      plaintext: Buffer.from(result.Plaintext),
      wrapped: Buffer.from(result.CiphertextBlob).toString('base64'),
    };
  }

  async decryptDataKey(wrapped: string, context: CredentialContext): Promise<Buffer> {
    const result = await this.kms.send(
      new DecryptCommand({
        KeyId: this.keyId,
        CiphertextBlob: Buffer.from(wrapped, 'base64'),
        EncryptionContext: { tenant_id: context.tenantId, connection_id: context.connectionId },
      }),
    );
    if (!result.Plaintext) throw new Error('KMS returned no plaintext');
    return Buffer.from(result.Plaintext);
  }
}
