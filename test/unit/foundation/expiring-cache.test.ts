import { describe, expect, it } from 'vitest';
import { ExpiringCache } from '../../../shared/expiring-cache.js';

describe('ExpiringCache', () => {
  it('keeps a value until its time runs out', () => {
    const cache = new ExpiringCache<string>(1_000, 10);
    cache.set('a', 'one', 0);
    expect(cache.get('a', 999)).toBe('one');
    expect(cache.get('a', 1_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps nothing with a ttl of 0', () => {
    const cache = new ExpiringCache<string>(0, 10);
    cache.set('a', 'one', 0);
    expect(cache.get('a', 0)).toBeUndefined();
  });

  it('drops the oldest entry past its bound', () => {
    const cache = new ExpiringCache<number>(1_000, 2);
    cache.set('a', 1, 0);
    cache.set('b', 2, 0);
    cache.set('a', 3, 0); // written again: now the newest
    cache.set('c', 4, 0);
    expect([cache.get('a', 1), cache.get('b', 1), cache.get('c', 1)]).toEqual([3, undefined, 4]);
  });

  it('deletes with `only` just while the key holds that value', () => {
    const cache = new ExpiringCache<string>(1_000, 10);
    cache.set('a', 'old', 0);
    cache.set('a', 'new', 0);
    cache.delete('a', 'old');
    expect(cache.get('a', 1)).toBe('new');
    cache.delete('a', 'new');
    expect(cache.get('a', 1)).toBeUndefined();
  });
});
