import { createHash } from 'node:crypto';
import { MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors/errors.js';

export const MAX_EVENTS_PER_REQUEST = 1000;

/** One event of a request body, before validation, with what makes it unique per tenant. */
export interface EnvelopeItem {
  index: number;
  /** The event object (for CloudEvents: `data`, with `id` and `timestamp` taken from the envelope). */
  event: unknown;
  /** CloudEvents are unique per (source, id); Tollgate's own events per id. */
  source?: string;
  /** Envelope-level problems (a malformed CloudEvent): the item is rejected with these. */
  errors?: { path: string; message: string }[];
}

type BodyKind = 'json' | 'cloudevent' | 'cloudevent-batch';

function bodyKind(contentType: string | undefined): BodyKind {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType === 'application/json' || mediaType === '') return 'json';
  if (mediaType === 'application/cloudevents+json') return 'cloudevent';
  if (mediaType === 'application/cloudevents-batch+json') return 'cloudevent-batch';
  throw new UnsupportedMediaTypeError(
    'Send application/json, application/cloudevents+json or application/cloudevents-batch+json.',
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tooMany(count: number): never {
  throw new PayloadTooLargeError(`${count} events in one request; send at most ${MAX_EVENTS_PER_REQUEST}.`);
}

/** Structured-mode CloudEvents 1.0: the envelope's id, source and time; the event in `data`. */
function fromCloudEvent(index: number, value: unknown): EnvelopeItem {
  if (!isObject(value))
    return { index, event: value, errors: [{ path: '', message: 'a CloudEvent must be an object' }] };
  const errors: { path: string; message: string }[] = [];
  if (value.specversion !== '1.0') errors.push({ path: 'specversion', message: 'must be "1.0"' });
  for (const field of ['id', 'source', 'type'] as const) {
    if (typeof value[field] !== 'string' || value[field] === '')
      errors.push({ path: field, message: 'required string' });
  }
  if (value.time !== undefined && typeof value.time !== 'string')
    errors.push({ path: 'time', message: 'must be a string' });
  if (value.data_base64 !== undefined)
    errors.push({ path: 'data_base64', message: 'send the event as JSON in "data"' });
  if (!isObject(value.data))
    errors.push({ path: 'data', message: 'must be a JSON object holding the event' });
  const data = isObject(value.data) ? value.data : {};
  const event = { ...data, id: value.id, ...(value.time !== undefined ? { timestamp: value.time } : {}) };
  const source = typeof value.source === 'string' ? value.source : undefined;
  return errors.length > 0
    ? { index, event, ...(source ? { source } : {}), errors }
    : { index, event, ...(source ? { source } : {}) };
}

/**
 * Splits a request body into events: one event or `{events: [...]}` (application/json), one
 * CloudEvent, or a CloudEvents batch. A body that is none of these is a 400; more than
 * MAX_EVENTS_PER_REQUEST events a 413. Each event is validated later, on its own.
 */
export function parseEnvelope(contentType: string | undefined, body: string): EnvelopeItem[] {
  const kind = bodyKind(contentType);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new MalformedRequestError('The body is not valid JSON.', 'MALFORMED_JSON');
  }
  if (kind === 'cloudevent') {
    if (!isObject(parsed))
      throw new MalformedRequestError('A CloudEvent is a JSON object.', 'INVALID_ENVELOPE');
    return [fromCloudEvent(0, parsed)];
  }
  if (kind === 'cloudevent-batch') {
    if (!Array.isArray(parsed))
      throw new MalformedRequestError('A CloudEvents batch is a JSON array.', 'INVALID_ENVELOPE');
    if (parsed.length === 0) throw new MalformedRequestError('The batch is empty.', 'INVALID_ENVELOPE');
    if (parsed.length > MAX_EVENTS_PER_REQUEST) tooMany(parsed.length);
    return parsed.map((value, index) => fromCloudEvent(index, value));
  }
  if (!isObject(parsed)) {
    throw new MalformedRequestError('Send one event object, or {"events": [ … ]}.', 'INVALID_ENVELOPE');
  }
  if ('events' in parsed) {
    const events = parsed.events;
    if (!Array.isArray(events))
      throw new MalformedRequestError('"events" must be an array.', 'INVALID_ENVELOPE');
    if (events.length === 0) throw new MalformedRequestError('"events" is empty.', 'INVALID_ENVELOPE');
    if (events.length > MAX_EVENTS_PER_REQUEST) tooMany(events.length);
    return events.map((event, index) => ({ index, event }));
  }
  return [{ index: 0, event: parsed }];
}

/** What makes an event unique per tenant: its id, or for a CloudEvent its (source, id). */
export function dedupeKeyOf(id: string, source?: string): string {
  if (source === undefined) return `id:${id}`;
  const sourceHash = createHash('sha256').update(source).digest('base64url').slice(0, 22);
  return `ce:${sourceHash}:${id}`;
}
