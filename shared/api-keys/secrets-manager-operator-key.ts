import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from '../observability/logger.js';
import { MIN_OPERATOR_KEY_LENGTH, type OperatorKeySource } from './operator-key.js';

export interface SecretOperatorKeyOptions {
  /** How long a container trusts the value it read: a rotated key is picked up within this. */
  ttlMs: number;
  /** After a failed read with nothing to fall back on, wait this long before asking again. */
  retryAfterFailureMs?: number;
  logger: Logger;
  now?: () => number;
}

/**
 * The operator key held in Secrets Manager, read at cold start and re-read once it is older than
 * the TTL, so `put-secret-value` rotates it everywhere within that time without a deploy.
 * Concurrent requests share one read. If Secrets Manager cannot be reached, the value already
 * read stays in force (an outage of Secrets Manager is not an outage of the API); with no value
 * yet, operator requests are refused (401) while tenant keys keep working.
 */
export class SecretsManagerOperatorKey implements OperatorKeySource {
  readonly #client: SecretsManagerClient;
  readonly #secretId: string;
  readonly #ttlMs: number;
  readonly #retryAfterFailureMs: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  #value: string | undefined;
  #freshUntil = Number.NEGATIVE_INFINITY;
  #reading: Promise<string | undefined> | undefined;

  constructor(client: SecretsManagerClient, secretId: string, options: SecretOperatorKeyOptions) {
    this.#client = client;
    this.#secretId = secretId;
    this.#ttlMs = options.ttlMs;
    this.#retryAfterFailureMs = options.retryAfterFailureMs ?? 5_000;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  current(): Promise<string | undefined> {
    if (this.#now() < this.#freshUntil) return Promise.resolve(this.#value);
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #read(): Promise<string | undefined> {
    try {
      const result = await this.#client.send(new GetSecretValueCommand({ SecretId: this.#secretId }));
      const value = result.SecretString?.trim() ?? '';
      if (value.length < MIN_OPERATOR_KEY_LENGTH) {
        throw new Error(`the secret holds no operator key of at least ${MIN_OPERATOR_KEY_LENGTH} characters`);
      }
      if (this.#value !== undefined && value !== this.#value) this.#logger.info('operator key rotated');
      this.#value = value;
      this.#freshUntil = this.#now() + this.#ttlMs;
    } catch (error) {
      // Never log the value; the error of the SDK carries none.
      this.#logger.error(
        { err: error, secret_id: this.#secretId, keeps_previous: this.#value !== undefined },
        'could not read the operator key from Secrets Manager',
      );
      this.#freshUntil = this.#now() + this.#retryAfterFailureMs;
    }
    return this.#value;
  }
}

/** The Lambda runtime's source, with its client: the runtime imports this module lazily. */
export function createSecretsManagerOperatorKey(
  region: string,
  secretId: string,
  options: SecretOperatorKeyOptions,
): SecretsManagerOperatorKey {
  return new SecretsManagerOperatorKey(new SecretsManagerClient({ region }), secretId, options);
}
