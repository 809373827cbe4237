import { z } from '@hono/zod-openapi';
import { defaultIsContentTypeBinary } from 'hono/aws-lambda';
import { ValidationError } from '../../../shared/errors/errors.js';
import { EXPORT_CONTENT_TYPES, EXPORT_FORMATS, encodeRowStream } from '../../../shared/exports/encode.js';
import {
  FOCUS_COLUMNS,
  type FocusColumn,
  type FocusContext,
  focusRowPages,
  NULLABLE_FOCUS_COLUMNS,
} from '../../../shared/exports/focus.js';
import { readWithinPayload } from '../../../shared/http/buffered-response.js';
import { getTenant } from '../../../shared/tenants/repository.js';
import { tenantOf } from '../middleware/authorize.js';
import { createRouter, defineOperation } from '../openapi.js';

/** The longest range one export covers: a year, leap day included. */
const MAX_RANGE_DAYS = 366;
const DAY_MS = 86_400_000;

const INTEGER_COLUMNS: readonly FocusColumn[] = ['ConsumedQuantity'];
const BOOLEAN_COLUMNS: readonly FocusColumn[] = ['x_Unpriced'];

function columnSchema(column: FocusColumn) {
  if (INTEGER_COLUMNS.includes(column)) return z.int();
  if (BOOLEAN_COLUMNS.includes(column)) return z.boolean();
  return NULLABLE_FOCUS_COLUMNS.includes(column) ? z.string().nullable() : z.string();
}

const FocusRowSchema = z
  .object(Object.fromEntries(FOCUS_COLUMNS.map((column) => [column, columnSchema(column)])))
  .openapi('FocusRow', {
    description:
      'One FOCUS 1.2 row: the tokens of one type of one usage event. Money, unit prices (USD per 1M tokens) and PricingQuantity are exact decimal strings; ConsumedQuantity is the token count.',
  });

const exportFocus = defineOperation({
  method: 'get',
  path: '/v1/exports/focus',
  tags: ['Exports'],
  summary: 'Cost and usage rows in FOCUS 1.2 columns, streamed',
  description: [
    'One row per token type (input, cached_input, cache_write, cache_write_1h, output without reasoning, reasoning) with tokens, of every usage event whose timestamp is in [from, to) (at most 366 days).',
    'BilledCost = EffectiveCost = ContractedCost: what the tenant pays, its negotiated prices applied; ListCost and ListUnitPrice: the list price in force at the event time. Unpriced events have zero costs and x_Unpriced = true.',
    'The body is streamed as it is read, so a year exports in constant memory; rows are grouped by event but in no particular order. A key with `restrict` exports only its slice. `csv` has a header line; `jsonl` is one JSON object per line. A failure part-way breaks the response off rather than ending it as if complete.',
    'Deployed on AWS Lambda behind API Gateway, a response is buffered and its payload capped at 6 MB (csv as text, jsonl as base64): there an export larger than that answers 400 `EXPORT_TOO_LARGE`; export the range in shorter ones.',
  ].join('\n\n'),
  access: { scopes: ['read'] },
  request: {
    query: z.object({
      from: z.iso.datetime({ offset: true }).openapi({ description: 'Inclusive, by event time.' }),
      to: z.iso.datetime({ offset: true }).openapi({ description: 'Exclusive, by event time.' }),
      format: z.enum(EXPORT_FORMATS).default('csv'),
    }),
  },
  responses: {
    200: {
      description: 'The rows, as an attachment',
      headers: z.object({
        'content-disposition': z.string().openapi({ example: 'attachment; filename="focus-….csv"' }),
      }),
      content: {
        'text/csv': { schema: z.string().openapi({ description: 'A header line, then one line per row.' }) },
        'application/x-ndjson': { schema: FocusRowSchema },
      },
    },
  },
});

const fileStamp = (date: Date) =>
  date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replaceAll(/[-:]/g, '');

export interface ExportRouteOptions {
  /**
   * Set where the adapter buffers whole responses up to a payload size (Lambda behind API
   * Gateway): the export is read whole first, and one larger than that answers EXPORT_TOO_LARGE
   * (400) instead of failing in the adapter with a bare 502.
   */
  responsePayloadLimitBytes?: number | undefined;
}

export const createExportRoutes = (options: ExportRouteOptions = {}) =>
  createRouter().openapi(exportFocus, async (c) => {
    const query = c.req.valid('query');
    const from = new Date(query.from);
    const to = new Date(query.to);
    if (to <= from) {
      throw new ValidationError('"to" must be after "from".', [
        { path: 'query.to', message: 'must be after from' },
      ]);
    }
    if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) {
      throw new ValidationError(`An export covers at most ${MAX_RANGE_DAYS} days.`, [
        { path: 'query.to', message: `at most ${MAX_RANGE_DAYS} days after from` },
      ]);
    }
    const tenantId = tenantOf(c);
    const principal = c.var.principal;
    const { db, services } = c.var.runtime;
    // Everything that can fail cleanly fails here, before the 200 and its body are on their way.
    const [tenant, listPrices, tenantPricer] = await Promise.all([
      getTenant(db, tenantId),
      services.pricing.listPrices(),
      services.pricing.tenantPricer(tenantId),
    ]);
    const context: FocusContext = {
      tenantId,
      tenantName: tenant?.name ?? null,
      listPriceAt: (provider, model, at) => listPrices.priceAt(provider, model, at),
      contractedPriceAt: (provider, model, at) => tenantPricer.priceAt(provider, model, at),
    };
    const pages = focusRowPages(db, context, {
      range: { from, to },
      restrict: principal.kind === 'tenant' ? principal.restrict : null,
      now: c.var.runtime.now(),
    });
    const logger = c.var.logger;
    const body = encodeRowStream(FOCUS_COLUMNS, pages, query.format, (error) =>
      logger.error({ err: error }, 'FOCUS export failed part-way; the response was cut short'),
    );
    const filename = `focus-${tenantId}-${fileStamp(from)}-${fileStamp(to)}.${query.format}`;
    const headers = {
      'content-type': EXPORT_CONTENT_TYPES[query.format],
      'content-disposition': `attachment; filename="${filename}"`,
      'cache-control': 'no-store',
    };
    const { responsePayloadLimitBytes } = options;
    if (responsePayloadLimitBytes === undefined) return c.body(body, 200, headers);
    const whole = await readWithinPayload(body, {
      payloadLimitBytes: responsePayloadLimitBytes,
      isBinary: defaultIsContentTypeBinary(headers['content-type']),
    });
    if (!whole) {
      throw new ValidationError(
        `The export of this range is larger than one response of this deployment can carry (${responsePayloadLimitBytes} bytes as sent). Export it in shorter ranges.`,
        [{ path: 'query.to', message: 'a shorter range' }],
        'EXPORT_TOO_LARGE',
      );
    }
    return c.body(whole, 200, headers);
  });
