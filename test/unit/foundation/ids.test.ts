import { describe, expect, it } from 'vitest';
import { hashedId, idPattern, isId, newId } from '../../../shared/ids.js';

describe('ids', () => {
  it('newId draws a fresh, well-formed id each time', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId('rsv')));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(idPattern('rsv'));
  });

  it('hashedId is the same for the same seed at any time, different for another, and well-formed', () => {
    const first = hashedId('rsv', 'req_8f2c');
    expect(hashedId('rsv', 'req_8f2c')).toBe(first);
    expect(hashedId('rsv', 'req_8f2d')).not.toBe(first);
    expect(isId('rsv', first)).toBe(true);
    // Its characters spread over the whole alphabet (every position is drawn from the hash).
    const characters = new Set(
      Array.from({ length: 200 }, (_, i) => hashedId('rsv', `seed-${i}`).slice(4)).join(''),
    );
    expect(characters.size).toBe(32);
  });
});
