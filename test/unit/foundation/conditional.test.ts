import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { succeeded } from '../../../shared/db/conditional.js';

describe('succeeded', () => {
  it('answers true for a write that was made, false for one whose condition did not hold', async () => {
    expect(await succeeded(Promise.resolve({}))).toBe(true);
    const refused = new ConditionalCheckFailedException({
      message: 'The conditional request failed',
      $metadata: {},
    });
    expect(await succeeded(Promise.reject(refused))).toBe(false);
  });

  it('throws every other failure', async () => {
    await expect(succeeded(Promise.reject(new Error('store unavailable')))).rejects.toThrow(
      'store unavailable',
    );
  });
});
