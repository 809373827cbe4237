import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../../shared/db/pagination.js';
import { ValidationError } from '../../../shared/errors/errors.js';

describe('list cursors', () => {
  const mine = 'v1#tenant#ten_mine';

  it('round-trip the last key of a page', () => {
    const key = { pk: mine, sk: 'v1#api-key#key_1' };
    const cursor = encodeCursor(key);
    expect(cursor).not.toBeNull();
    expect(decodeCursor(cursor as string, 'pk', mine)).toEqual(key);
    expect(encodeCursor(undefined)).toBeNull();
  });

  it("refuse a cursor into another tenant's partition", () => {
    const theirs = encodeCursor({ pk: 'v1#tenant#ten_theirs', sk: 'v1#api-key#key_9' }) as string;
    expect(() => decodeCursor(theirs, 'pk', mine)).toThrow(ValidationError);
  });

  it('refuse garbage', () => {
    for (const cursor of [
      'not-base64-json',
      Buffer.from('[1,2]').toString('base64url'),
      Buffer.from('{"pk":1}').toString('base64url'),
    ]) {
      expect(() => decodeCursor(cursor, 'pk', mine)).toThrow(/cursor/);
    }
  });
});
