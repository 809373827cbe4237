import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, ENGINES, type TestStore } from '../helpers/tollgate.js';

/**
 * The document clients build each command class's middleware chain once
 * (shared/db/resolved-handlers.ts); every request must still carry its own input and get its own
 * output.
 */
describe.each(ENGINES)('the document client on %s', (engine) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(engine);
  });
  afterAll(() => store.cleanup());

  it('resolves the middleware once per command class, not once per request', async () => {
    const { db } = store;
    let resolutions = 0;
    let requests = 0;
    // A step in the client's own stack: its factory runs each time a chain is built, the function
    // it returns once per request.
    db.client.middlewareStack.add(
      (next) => {
        resolutions++;
        return (args) => {
          requests++;
          return next(args);
        };
      },
      { step: 'initialize', name: 'countResolutions' },
    );
    const pk = 'doc#resolutions';
    for (let i = 0; i < 5; i++) {
      await db.client.send(new PutCommand({ TableName: db.tableName, Item: { pk, sk: `n${i}`, i } }));
    }
    for (let i = 0; i < 5; i++) {
      const { Item } = await db.client.send(
        new GetCommand({ TableName: db.tableName, Key: { pk, sk: `n${i}` }, ConsistentRead: true }),
      );
      expect(Item).toEqual({ pk, sk: `n${i}`, i });
    }
    expect(requests).toBe(10);
    expect(resolutions).toBe(2);

    // A change to the stack applies from the next request on.
    db.client.middlewareStack.remove('countResolutions');
    await db.client.send(new GetCommand({ TableName: db.tableName, Key: { pk, sk: 'n0' } }));
    expect(requests).toBe(10);
  });

  it('keeps concurrent requests of one class apart: each marshals its own input and answers its own output', async () => {
    const { db } = store;
    const pk = 'doc#concurrent';
    const items = Array.from({ length: 60 }, (_, i) => ({
      pk,
      sk: `item#${String(i).padStart(2, '0')}`,
      n: i,
      tags: { even: i % 2 === 0, name: `n${i}` },
      list: [i, `s${i}`],
    }));
    await Promise.all(items.map((Item) => db.client.send(new PutCommand({ TableName: db.tableName, Item }))));

    const [gets, updates] = await Promise.all([
      Promise.all(
        items.map((item) =>
          db.client.send(
            new GetCommand({ TableName: db.tableName, Key: { pk, sk: item.sk }, ConsistentRead: true }),
          ),
        ),
      ),
      Promise.all(
        items.map((item) =>
          db.client.send(
            new UpdateCommand({
              TableName: db.tableName,
              Key: { pk, sk: item.sk },
              UpdateExpression: 'ADD added :n',
              ExpressionAttributeValues: { ':n': item.n * 10 },
              ReturnValues: 'UPDATED_NEW',
            }),
          ),
        ),
      ),
    ]);
    expect(gets.map((answer) => answer.Item)).toEqual(items);
    expect(updates.map((answer) => answer.Attributes)).toEqual(items.map((item) => ({ added: item.n * 10 })));

    const batch = await db.client.send(
      new BatchGetCommand({
        RequestItems: { [db.tableName]: { Keys: items.slice(0, 10).map(({ sk }) => ({ pk, sk })) } },
      }),
    );
    const read = (batch.Responses?.[db.tableName] ?? []).sort((a, b) => (a.sk < b.sk ? -1 : 1));
    expect(read).toEqual(items.slice(0, 10).map((item) => ({ ...item, added: item.n * 10 })));

    const page = await db.client.send(
      new QueryCommand({
        TableName: db.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': 'item#1' },
        ConsistentRead: true,
      }),
    );
    expect(page.Items?.map((item) => item.n)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('keeps each client its own translation: the exact client reads numbers as decimal strings', async () => {
    const { db } = store;
    const Key = { pk: 'doc#exact', sk: 'cell' };
    await db.client.send(
      new PutCommand({ TableName: db.tableName, Item: { ...Key, cost: 0.1, tokens: 12 } }),
    );
    const [plain, exact] = await Promise.all([
      db.client.send(new GetCommand({ TableName: db.tableName, Key, ConsistentRead: true })),
      db.exactClient.send(new GetCommand({ TableName: db.tableName, Key, ConsistentRead: true })),
    ]);
    expect(plain.Item).toEqual({ ...Key, cost: 0.1, tokens: 12 });
    expect(exact.Item).toEqual({ ...Key, cost: '0.1', tokens: '12' });
  });
});
