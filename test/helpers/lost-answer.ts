import type { Db } from '../../shared/db/client.js';

/** A low-level write request as the SDK sends it (attribute values marshalled). */
export interface SentWrite {
  commandName: string;
  Key?: { pk?: { S?: string } };
  Item?: Record<string, { S?: string } | undefined>;
  UpdateExpression?: string;
}

/**
 * Loses the answer of the first write `matches` picks, after the write reached the table, as a
 * reset connection would: the SDK retries it, and the retry meets the write it repeats. On both
 * of the app's document clients; `restore` takes the step out again.
 */
export function loseFirstAnswer(db: Db, matches: (write: SentWrite) => boolean) {
  let lost = 0;
  const clients = [db.client, db.exactClient];
  for (const client of clients) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        const write = { ...(args.input as object), commandName: String(context.commandName) } as SentWrite;
        if (lost === 0 && matches(write)) {
          lost++;
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' });
        }
        return result;
      },
      { step: 'deserialize', name: 'loseFirstAnswer' },
    );
  }
  return {
    /** How many answers were lost (0 or 1): a test asserts the loss happened. */
    lost: () => lost,
    restore: () => {
      for (const client of clients) client.middlewareStack.remove('loseFirstAnswer');
    },
  };
}

/**
 * Fails the first write `matches` picks before it reaches the table, with an error the SDK does
 * not retry (as a store that refuses it would): the operation stops part-way.
 */
export function failFirstWrite(db: Db, matches: (write: SentWrite) => boolean) {
  let failed = 0;
  const clients = [db.client, db.exactClient];
  for (const client of clients) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const write = { ...(args.input as object), commandName: String(context.commandName) } as SentWrite;
        if (failed === 0 && matches(write)) {
          failed++;
          throw Object.assign(new Error('the store refused the write'), {
            name: 'InternalFailure',
            $fault: 'client',
          });
        }
        return next(args);
      },
      { step: 'deserialize', name: 'failFirstWrite' },
    );
  }
  return {
    /** How many writes failed (0 or 1): a test asserts the failure happened. */
    failed: () => failed,
    restore: () => {
      for (const client of clients) client.middlewareStack.remove('failFirstWrite');
    },
  };
}
