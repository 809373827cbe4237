import type { Db } from '../../shared/db/client.js';

/** A low-level write request as the SDK sends it (attribute values marshalled). */
export interface SentWrite {
  commandName: string;
  Key?: { pk?: { S?: string }; sk?: { S?: string } };
  Item?: Record<string, { S?: string } | undefined>;
  UpdateExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ConditionExpression?: string;
}

/** Picks the write that raises a tenant's budget set revision (after a budget is stored or changed). */
export const budgetSetBump =
  (tenantId: string) =>
  (write: SentWrite): boolean =>
    write.commandName === 'UpdateItemCommand' &&
    (write.Key?.pk?.S ?? '').includes(tenantId) &&
    (write.UpdateExpression ?? '').includes('ADD rev');

/**
 * Puts `step` on both of the app's document clients, innermost (just around the request on the
 * wire), for the first write `matches` picks; later writes pass. Answers how often it fired (0 or
 * 1: a test asserts it did) and `restore`, which takes the step out again.
 */
let installed = 0;

function onFirstWrite(
  db: Db,
  kind: string,
  matches: (write: SentWrite) => boolean,
  step: (send: () => Promise<unknown>) => Promise<unknown>,
) {
  let fired = 0;
  // A name of its own, so that several can be on at once.
  const name = `${kind}-${++installed}`;
  const clients = [db.client, db.exactClient];
  for (const client of clients) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const write = { ...(args.input as object), commandName: String(context.commandName) } as SentWrite;
        if (fired > 0 || !matches(write)) return next(args);
        fired++;
        return step(() => next(args)) as ReturnType<typeof next>;
      },
      { step: 'deserialize', name },
    );
  }
  return {
    fired: () => fired,
    restore: () => {
      for (const client of clients) client.middlewareStack.remove(name);
    },
  };
}

/**
 * Loses the answer of the first write `matches` picks, after the write reached the table, as a
 * reset connection would: the SDK retries it, and the retry meets the write it repeats.
 */
export function loseFirstAnswer(db: Db, matches: (write: SentWrite) => boolean) {
  const step = onFirstWrite(db, 'loseFirstAnswer', matches, async (send) => {
    await send();
    throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' });
  });
  return { lost: step.fired, restore: step.restore };
}

/**
 * Loses the first write `matches` picks on its way, before it reached the table (a connection
 * reset while sending); `meanwhile` runs before the SDK retries it, as another request would.
 */
export function loseFirstRequest(
  db: Db,
  matches: (write: SentWrite) => boolean,
  meanwhile: () => Promise<unknown>,
) {
  const step = onFirstWrite(db, 'loseFirstRequest', matches, async () => {
    await meanwhile();
    throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' });
  });
  return { lost: step.fired, restore: step.restore };
}

/**
 * Runs `request` as two copies of it would race: the first write `matches` picks is lost on its
 * way (see loseFirstRequest), another run of `request` completes meanwhile, and then the SDK
 * retries the lost write. Answers [the run that went meanwhile, the retried one].
 */
export async function raceWithLostRequest<T>(
  db: Db,
  matches: (write: SentWrite) => boolean,
  request: () => Promise<T>,
): Promise<[T, T]> {
  let meanwhile: T | undefined;
  const losing = loseFirstRequest(db, matches, async () => {
    meanwhile = await request();
  });
  try {
    const retried = await request();
    if (losing.lost() !== 1) throw new Error('the request never sent the write to lose');
    return [meanwhile as T, retried];
  } finally {
    losing.restore();
  }
}

/**
 * Fails the first write `matches` picks before it reaches the table, with an error the SDK does
 * not retry (as a store that refuses it would): the operation stops part-way.
 */
export function failFirstWrite(db: Db, matches: (write: SentWrite) => boolean) {
  const step = onFirstWrite(db, 'failFirstWrite', matches, async () => {
    throw Object.assign(new Error('the store refused the write'), {
      name: 'InternalFailure',
      $fault: 'client',
    });
  });
  return { failed: step.fired, restore: step.restore };
}

/**
 * Holds the first write `matches` picks before it reaches the table until `release` (a slow
 * network or a paused instance): `held` resolves once it is waiting.
 */
export function delayFirstWrite(db: Db, matches: (write: SentWrite) => boolean) {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let markHeld = () => {};
  const held = new Promise<void>((resolve) => {
    markHeld = resolve;
  });
  const step = onFirstWrite(db, 'delayFirstWrite', matches, async (send) => {
    markHeld();
    await released;
    return send();
  });
  return { held, release, delayed: step.fired, restore: step.restore };
}
