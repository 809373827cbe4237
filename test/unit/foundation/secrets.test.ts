import { describe, expect, it } from 'vitest';
import {
  hashKey,
  keyHint,
  keysMatch,
  mintTenantKey,
  parseTenantKey,
} from '../../../shared/api-keys/secrets.js';
import { newId } from '../../../shared/ids.js';

describe('tenant keys', () => {
  it('embed their tenant and key id, and parse back to them', () => {
    const tenantId = newId('ten');
    const keyId = newId('key');
    const key = mintTenantKey(tenantId, keyId);
    expect(parseTenantKey(key)).toEqual({ tenantId, keyId });
    expect(keyHint(key)).toBe(`tg_…${key.slice(-4)}`);
  });

  it('are unique and match only their own hash', () => {
    const tenantId = newId('ten');
    const keyId = newId('key');
    const first = mintTenantKey(tenantId, keyId);
    const second = mintTenantKey(tenantId, keyId);
    expect(first).not.toBe(second);
    expect(keysMatch(first, hashKey(first))).toBe(true);
    expect(keysMatch(second, hashKey(first))).toBe(false);
  });

  it('refuse anything that is not a tenant key', () => {
    for (const candidate of [
      '',
      'tg_',
      'tgop_abc',
      `tg_${'A'.repeat(26)}_${'B'.repeat(26)}_short`,
      'Bearer tg_x',
    ]) {
      expect(parseTenantKey(candidate)).toBeUndefined();
    }
  });
});
