import { describe, expect, it } from 'vitest';
import { type CursorShape, decodeCursor, encodeCursor } from '../../../shared/db/pagination.js';
import { ValidationError } from '../../../shared/errors/errors.js';

describe('list cursors', () => {
  const mine = 'v1#tenant#ten_mine';
  const apiKeys: CursorShape = {
    attributes: ['pk', 'sk'],
    partitionAttribute: 'pk',
    partition: mine,
    sortAttribute: 'sk',
    sortKeyPrefix: 'v1#api-key#',
  };
  const cursorOf = (key: Record<string, string>) => encodeCursor(key) as string;

  it('round-trip the last key of a page', () => {
    const key = { pk: mine, sk: 'v1#api-key#key_1' };
    const cursor = encodeCursor(key);
    expect(cursor).not.toBeNull();
    expect(decodeCursor(cursor as string, apiKeys)).toEqual(key);
    expect(encodeCursor(undefined)).toBeNull();
  });

  it("refuse a cursor into another tenant's partition", () => {
    const theirs = cursorOf({ pk: 'v1#tenant#ten_theirs', sk: 'v1#api-key#key_9' });
    expect(() => decodeCursor(theirs, apiKeys)).toThrow(ValidationError);
  });

  it('refuse a cursor of another list of the same tenant, or with other key attributes', () => {
    for (const key of [
      { pk: mine, sk: 'v1#webhook-endpoint#whe_1' },
      { pk: mine, sk: 'v1#api-key#a', zz: '1' },
      { pk: mine },
      { gsi1pk: 'v1#operator#tenants', gsi1sk: 'ten_0' },
    ] as Record<string, string>[]) {
      expect(() => decodeCursor(cursorOf(key), apiKeys)).toThrow(/not one this list returned/);
    }
  });

  it('take a GSI cursor with the index and table keys both', () => {
    const tenants: CursorShape = {
      attributes: ['gsi1pk', 'gsi1sk', 'pk', 'sk'],
      partitionAttribute: 'gsi1pk',
      partition: 'v1#operator#tenants',
      sortAttribute: 'gsi1sk',
    };
    const key = { gsi1pk: 'v1#operator#tenants', gsi1sk: 'ten_0', pk: 'v1#tenant#ten_0', sk: 'v1#tenant' };
    expect(decodeCursor(cursorOf(key), tenants)).toEqual(key);
    expect(() => decodeCursor(cursorOf({ gsi1pk: 'v1#operator#tenants', gsi1sk: 'ten_0' }), tenants)).toThrow(
      ValidationError,
    );
  });

  it('refuse garbage', () => {
    for (const cursor of [
      'not-base64-json',
      Buffer.from('[1,2]').toString('base64url'),
      Buffer.from('{"pk":1}').toString('base64url'),
    ]) {
      expect(() => decodeCursor(cursor, apiKeys)).toThrow(/cursor/);
    }
  });
});
