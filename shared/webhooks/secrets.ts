import {
  type CredentialEnvelope,
  type DataKeyProvider,
  decryptCredential,
  encryptCredential,
} from '../billing/credentials.js';
import { ExpiringCache } from '../expiring-cache.js';

/**
 * Signing secrets at rest: each is sealed with the provider-credential envelope (its own data key,
 * AES-256-GCM, the data key wrapped by KMS or the local key file). The tenant and the endpoint id
 * are bound in as authenticated data (the KMS encryption context), so an envelope copied to
 * another endpoint's item does not open.
 *
 * An endpoint written before secrets were sealed holds its secret in plain text (`plain`): it
 * still signs, and the next rotation or PATCH of the endpoint seals it (service.ts).
 */
export interface StoredSecret {
  envelope: CredentialEnvelope | null;
  plain: string | null;
}

export interface WebhookSecretsOptions {
  /** How long an opened secret stays in this process's cache. */
  cacheTtlMs?: number;
  /** At most this many opened secrets are kept (the oldest go first). */
  cacheSize?: number;
  now?: () => number;
}

export const DEFAULT_SECRET_CACHE_TTL_MS = 5 * 60_000;
export const DEFAULT_SECRET_CACHE_SIZE = 1_000;

/** The envelope's context: the endpoint id takes the place of a connection id. */
const contextOf = (tenantId: string, endpointId: string) => ({ tenantId, connectionId: endpointId });

/**
 * Seals and opens endpoint secrets. Every delivery attempt signs, so opened secrets are cached
 * per process by endpoint and secret version (a rotation makes a new version, so a cached secret
 * is never stale): a fan-out to many deliveries of one endpoint asks KMS once.
 */
export class WebhookSecrets {
  readonly #cache: ExpiringCache<Promise<string>>;
  readonly #now: () => number;

  constructor(
    private readonly keys: DataKeyProvider,
    options: WebhookSecretsOptions = {},
  ) {
    this.#cache = new ExpiringCache(
      options.cacheTtlMs ?? DEFAULT_SECRET_CACHE_TTL_MS,
      options.cacheSize ?? DEFAULT_SECRET_CACHE_SIZE,
    );
    this.#now = options.now ?? Date.now;
  }

  seal(tenantId: string, endpointId: string, secret: string): Promise<CredentialEnvelope> {
    return encryptCredential(this.keys, contextOf(tenantId, endpointId), secret);
  }

  /** The secret in clear; `version` names it in the cache (the endpoint's secret version and slot). */
  async open(tenantId: string, endpointId: string, version: string, stored: StoredSecret): Promise<string> {
    if (!stored.envelope) {
      if (stored.plain === null) throw new Error(`webhook endpoint ${endpointId} has no secret`);
      return stored.plain;
    }
    const key = `${tenantId}#${endpointId}#${version}`;
    const now = this.#now();
    const cached = this.#cache.get(key, now);
    if (cached) return cached;
    // The promise is cached, so concurrent first uses (a fan-out) unwrap the data key once.
    const secret = decryptCredential(this.keys, contextOf(tenantId, endpointId), stored.envelope);
    this.#cache.set(key, secret, now);
    secret.catch(() => this.#cache.delete(key, secret));
    return secret;
  }

  /** How many opened secrets the cache holds (tests: the cache stays bounded). */
  get cachedCount(): number {
    return this.#cache.size;
  }
}
