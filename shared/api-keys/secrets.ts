import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Tenant keys read `tg_<tenant ulid>_<key ulid>_<secret>`. The key names its own tenant and id,
 * so authenticating is one strongly consistent GetItem under the tenant's partition (no global
 * lookup index, which would be eventually consistent), which an instance then trusts for a few
 * seconds (service.ts).
 */
const TENANT_KEY = /^tg_([0-9A-HJKMNP-TV-Z]{26})_([0-9A-HJKMNP-TV-Z]{26})_([A-Za-z0-9_-]{43})$/;

export interface ParsedTenantKey {
  tenantId: string;
  keyId: string;
}

export function mintTenantKey(tenantId: string, keyId: string): string {
  const secret = randomBytes(32).toString('base64url');
  return `tg_${tenantId.slice('ten_'.length)}_${keyId.slice('key_'.length)}_${secret}`;
}

/** Whether a key has the shape of a tenant key (its secret is not checked). */
export function isTenantKeyShaped(key: string): boolean {
  return TENANT_KEY.test(key);
}

export function parseTenantKey(key: string): ParsedTenantKey | undefined {
  const match = TENANT_KEY.exec(key);
  if (!match) return undefined;
  return { tenantId: `ten_${match[1]}`, keyId: `key_${match[2]}` };
}

/** A fast hash is right here: the secret has 256 bits of entropy, nothing to brute-force. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Compares two keys in constant time (hashing first makes the lengths equal). */
export function keysMatch(presented: string, expectedHash: string): boolean {
  const presentedHash = Buffer.from(hashKey(presented), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return presentedHash.length === expected.length && timingSafeEqual(presentedHash, expected);
}

export function keyHint(key: string): string {
  return `tg_…${key.slice(-4)}`;
}

/** The operator key: generated locally when none is configured. */
export function mintOperatorKey(): string {
  return `tgop_${randomBytes(32).toString('base64url')}`;
}
