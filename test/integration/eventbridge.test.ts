import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  busEventFrom,
  type EventBridgeEvent,
  UnexpectedEventError,
} from '../../functions/eventbridge-event.js';
import { type BusEvent, EVENT_SOURCE } from '../../shared/bus/bus.js';
import { EventBridgeBus, EventBusPublishError } from '../../shared/bus/eventbridge-bus.js';
import { FAKE_CREDENTIALS, type FakeAwsService, startFakeAwsService } from '../helpers/fake-aws.js';

const BUS = 'tollgate-test';

const busEvent = (n: number): BusEvent => ({
  id: `evt_${String(n).padStart(3, '0')}`,
  type: n % 2 === 0 ? 'anomaly.detected.v1' : 'data_quality.unpriced_usage.v1',
  tenant_id: 'ten_01',
  time: '2026-11-29T12:00:00.000Z',
  data: { n, cost: '0.00012345' },
});

// biome-ignore lint/suspicious/noExplicitAny: PutEvents entries as the SDK sent them.
type Entry = any;

/** What EventBridge hands a rule's Lambda target for an entry it accepted. */
function deliveredToTarget(entry: Entry): EventBridgeEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: '123456789012',
    time: new Date(entry.Time * 1000).toISOString().replace('.000Z', 'Z'),
    region: 'eu-west-1',
    resources: [],
    detail: JSON.parse(entry.Detail),
  };
}

describe('the EventBridge bus', () => {
  let eventBridge: FakeAwsService;
  let client: EventBridgeClient;
  const accepted: Entry[] = [];
  /** Entries (by bus event id) to refuse, and how many more times. */
  const refuse = new Map<string, number>();

  beforeAll(async () => {
    eventBridge = await startFakeAwsService({});
    eventBridge.on('AWSEvents.PutEvents', (body) => {
      if (body.Entries.length > 10) {
        return { status: 400, body: { __type: 'ValidationException', message: 'at most 10 entries' } };
      }
      const results = body.Entries.map((entry: Entry) => {
        const id = JSON.parse(entry.Detail).id;
        const left = refuse.get(id) ?? 0;
        if (left > 0) {
          refuse.set(id, left - 1);
          return { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' };
        }
        accepted.push(entry);
        return { EventId: randomUUID() };
      });
      return {
        body: {
          FailedEntryCount: results.filter((r: { ErrorCode?: string }) => r.ErrorCode).length,
          Entries: results,
        },
      };
    });
    client = new EventBridgeClient({
      region: 'eu-west-1',
      endpoint: eventBridge.endpoint,
      credentials: FAKE_CREDENTIALS,
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client.destroy();
    await eventBridge.close();
  });
  beforeEach(() => {
    accepted.length = 0;
    eventBridge.calls.length = 0;
    refuse.clear();
  });

  it('puts at most 10 entries per call, on the named bus, with the type as detail-type', async () => {
    const events = Array.from({ length: 23 }, (_, n) => busEvent(n));
    await new EventBridgeBus(client, BUS).publish(events);
    expect(eventBridge.calls.map((call) => call.body.Entries.length)).toEqual([10, 10, 3]);
    expect(accepted).toHaveLength(23);
    for (const [n, entry] of accepted.entries()) {
      expect(entry).toMatchObject({ EventBusName: BUS, Source: EVENT_SOURCE, DetailType: busEvent(n).type });
    }
  });

  it('resends only the entries EventBridge refused, once', async () => {
    refuse.set('evt_004', 1);
    refuse.set('evt_007', 1);
    await new EventBridgeBus(client, BUS).publish(Array.from({ length: 10 }, (_, n) => busEvent(n)));
    expect(
      eventBridge.calls.map((call) => call.body.Entries.map((e: Entry) => JSON.parse(e.Detail).id)),
    ).toEqual([Array.from({ length: 10 }, (_, n) => busEvent(n).id), ['evt_004', 'evt_007']]);
    expect(accepted.map((entry) => JSON.parse(entry.Detail).id).sort()).toEqual(
      Array.from({ length: 10 }, (_, n) => busEvent(n).id),
    );
  });

  it('fails the publish when an entry is refused twice, so the caller keeps it (outbox)', async () => {
    refuse.set('evt_001', 2);
    await expect(new EventBridgeBus(client, BUS).publish([busEvent(0), busEvent(1)])).rejects.toThrow(
      EventBusPublishError,
    );
    expect(eventBridge.calls).toHaveLength(2);
  });

  it('hands a rule target the very bus event that was published', async () => {
    const published = [busEvent(0), busEvent(1)];
    await new EventBridgeBus(client, BUS).publish(published);
    expect(accepted.map((entry) => busEventFrom(deliveredToTarget(entry)))).toEqual(published);
  });
});

describe('busEventFrom (an EventBridge rule invoking a Lambda)', () => {
  const fixture = (): EventBridgeEvent =>
    JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/lambda/eventbridge-event.json'), 'utf8'));

  it('takes the bus event out of the delivery', () => {
    expect(busEventFrom(fixture())).toEqual({
      id: 'evt_01JDXK3V5Q8R0M6T2W9YB4C7DE',
      type: 'budget.threshold_crossed.v1',
      tenant_id: 'ten_01JDXK2A1B2C3D4E5F6G7H8J9K',
      time: '2026-11-29T12:00:00.000Z',
      data: { budget_id: 'bud_01', threshold_pct: '80', spent: '80.00000000' },
    });
  });

  it('refuses other sources, details that are not bus events, and mismatched types', () => {
    expect(() => busEventFrom({ ...fixture(), source: 'aws.events' })).toThrow(UnexpectedEventError);
    expect(() => busEventFrom({ ...fixture(), detail: { id: 'x' } })).toThrow(/carries no bus event/);
    expect(() => busEventFrom({ ...fixture(), 'detail-type': 'anomaly.detected.v1' })).toThrow(/detail-type/);
  });
});
