import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeferredDataKeyProvider, LocalKeyFileProvider } from '../../../shared/billing/credentials.js';
import { loadOnce } from '../../../shared/load-once.js';

describe('loadOnce (optional AWS clients loaded on first use)', () => {
  it('loads nothing until asked, then once for every caller', async () => {
    let loads = 0;
    const client = loadOnce(async () => ({ id: ++loads }));
    expect(loads).toBe(0);
    const [first, second] = await Promise.all([client(), client()]);
    expect(await client()).toBe(first);
    expect(second).toBe(first);
    expect(loads).toBe(1);
  });

  it('tries again after a failed load instead of keeping the failure', async () => {
    let attempts = 0;
    const client = loadOnce(async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('chunk not readable');
      return 'client';
    });
    await expect(client()).rejects.toThrow('chunk not readable');
    await expect(client()).resolves.toBe('client');
    expect(attempts).toBe(2);
  });

  it('gives a deferred data-key provider the behaviour of the one it loads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-load-once-'));
    try {
      let loads = 0;
      const deferred = new DeferredDataKeyProvider('local', async () => {
        loads += 1;
        return LocalKeyFileProvider.inDataDir(dir);
      });
      expect(loads).toBe(0);
      const context = { tenantId: 'ten_1', connectionId: 'bc_1' };
      const key = await deferred.generateDataKey(context);
      expect(await deferred.decryptDataKey(key.wrapped, context)).toEqual(key.plaintext);
      expect(loads).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
