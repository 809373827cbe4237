import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { contentCodings, decodeBodyText } from '../../../shared/http/content-encoding.js';
import { parseEnvelope } from '../../../shared/ingest/envelope.js';
import { IngestResultSchema, OutcomeEventSchema, UsageEventSchema } from '../../../shared/usage/schema.js';
import type { AppEnv } from '../env.js';
import { tenantOf } from '../middleware/authorize.js';
import { createRouter, openRawOperation } from '../openapi.js';

const CloudEventSchema = (data: z.ZodType, name: string) =>
  z
    .object({
      specversion: z.literal('1.0'),
      id: z.string(),
      source: z.string(),
      type: z.string(),
      time: z.string().optional(),
      data,
    })
    .openapi(name);

const ingestBody = (event: z.ZodType, name: string) => ({
  required: true,
  content: {
    'application/json': {
      schema: z
        .union([event, z.object({ events: z.array(event).min(1).max(1000) })])
        .openapi(`${name}Request`),
    },
    'application/cloudevents+json': { schema: CloudEventSchema(event, `${name}CloudEvent`) },
    'application/cloudevents-batch+json': {
      schema: z.array(CloudEventSchema(event, `${name}CloudEvent`)).max(1000),
    },
  },
});

const accepted = {
  202: { description: 'Per-event results', content: { 'application/json': { schema: IngestResultSchema } } },
  503: {
    description:
      'Some events could not be stored (`STORE_UNAVAILABLE`), or the store refused for load (`STORE_THROTTLED`, with `Retry-After`); retry the batch (stored events come back as duplicates).',
    content: {
      'application/problem+json': {
        schema: z.object({ code: z.enum(['STORE_UNAVAILABLE', 'STORE_THROTTLED']) }),
      },
    },
  },
};

/** Reads the envelope, hands the events to the kind's service, answers the per-event results. */
function ingestWith(service: 'usage' | 'outcomes') {
  return async (c: Context<AppEnv>) => {
    const codings = contentCodings(c.req.header('content-encoding'));
    const body =
      codings.length === 0
        ? await c.req.text()
        : await decodeBodyText(codings, await c.req.arrayBuffer(), c.var.runtime.config.maxBodyBytes);
    const items = parseEnvelope(c.req.header('content-type'), body);
    const result = await c.var.runtime.services[service].ingest(tenantOf(c), items);
    c.var.logger.info(
      { accepted: result.accepted, duplicates: result.duplicates, rejected: result.rejected.length },
      `${service} ingested`,
    );
    return c.json(result, 202);
  };
}

/** The routes that read gzip-compressed bodies (`Content-Encoding: gzip`): high-volume senders compress. */
export const GZIP_BODY_PATHS = new Set(['/v1/usage', '/v1/outcomes']);

export const ingestRoutes = createRouter();

openRawOperation(
  ingestRoutes,
  {
    method: 'post',
    path: '/v1/usage',
    tags: ['Usage and outcomes'],
    summary: 'Post usage events: one, {events: [...]} (≤ 1000), or CloudEvents',
    description:
      'Each event is counted once per tenant by its id (CloudEvents: source + id), whatever the retries. Invalid events are rejected one by one; the valid ones of the batch are kept.',
    access: { scopes: ['ingest'] },
    request: { body: ingestBody(UsageEventSchema, 'Usage') },
    responses: accepted,
  },
  ingestWith('usage'),
);

openRawOperation(
  ingestRoutes,
  {
    method: 'post',
    path: '/v1/outcomes',
    tags: ['Usage and outcomes'],
    summary: 'Post outcome events (business drivers): same rules as usage',
    access: { scopes: ['ingest'] },
    request: { body: ingestBody(OutcomeEventSchema, 'Outcome') },
    responses: accepted,
  },
  ingestWith('outcomes'),
);
