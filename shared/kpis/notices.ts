import { DeleteCommand, PutCommand, paginateQuery, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { BusEvent, EventBus } from '../bus/bus.js';
import type { Db } from '../db/client.js';
import { storedItemIs, succeededOrOwn } from '../db/conditional.js';
import { tenantPartition } from '../db/keys.js';
import { newId } from '../ids.js';

/**
 * Things Tollgate tells a tenant about (anomalies, unpriced usage), each kept once under a key
 * that names what it is about, and published on the bus through an outbox: the notice and its
 * outbox entry are written first, the entry is deleted once the bus took the event, and every
 * job run publishes what an earlier run could not. Consumers are idempotent on the event id.
 */
const OUTBOX = 'v1#outbox#';

export async function recordNotice(
  db: Db,
  tenantId: string,
  sk: string,
  type: string,
  data: Record<string, unknown>,
  now: Date,
): Promise<BusEvent | undefined> {
  const event: BusEvent = {
    id: newId('evt', now.getTime()),
    type,
    tenant_id: tenantId,
    time: now.toISOString(),
    data,
  };
  const key = { pk: tenantPartition(tenantId), sk };
  // A refusal that finds this event stored was this write, retried by the SDK after its answer
  // was lost: the notice is this call's to put in the outbox, or it would never be sent.
  const recorded = await succeededOrOwn(
    db.client.send(
      new PutCommand({
        TableName: db.tableName,
        Item: { ...key, entity: 'notice', event },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
    storedItemIs(db, key, (item) => (item.event as BusEvent | undefined)?.id === event.id),
  );
  if (!recorded) return undefined;
  await db.client.send(
    new PutCommand({
      TableName: db.tableName,
      Item: { pk: tenantPartition(tenantId), sk: `${OUTBOX}${event.id}`, event },
    }),
  );
  return event;
}

/** Publishes the tenant's pending notices; what the bus refuses stays for the next run. */
export async function flushOutbox(db: Db, tenantId: string, bus: EventBus): Promise<number> {
  const { Items = [] } = await db.client.send(
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :outbox)',
      ExpressionAttributeValues: { ':pk': tenantPartition(tenantId), ':outbox': OUTBOX },
      ConsistentRead: true,
      Limit: 100,
    }),
  );
  if (Items.length === 0) return 0;
  await bus.publish(Items.map((item) => item.event as BusEvent));
  for (const item of Items) {
    await db.client.send(new DeleteCommand({ TableName: db.tableName, Key: { pk: item.pk, sk: item.sk } }));
  }
  return Items.length;
}

/** The notices whose keys start with `prefix` and fall in [from, to) after it. */
export async function listNotices(
  db: Db,
  tenantId: string,
  prefix: string,
  from: string,
  to: string,
): Promise<BusEvent[]> {
  const events: BusEvent[] = [];
  for await (const page of paginateQuery(
    { client: db.client },
    {
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': tenantPartition(tenantId),
        ':from': `${prefix}${from}`,
        ':to': `${prefix}${to}`,
      },
    },
  )) {
    for (const item of page.Items ?? [])
      if ((item.sk as string) < `${prefix}${to}`) events.push(item.event as BusEvent);
  }
  return events;
}
