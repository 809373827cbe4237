import { z } from 'zod';
import { parseDecimal } from '../money/money.js';
import { toDayLines } from './buckets.js';
import {
  anthropicTokenType,
  type BilledCostLine,
  type BilledUsageLine,
  type DayLines,
  emptyTokens,
  utcDayOf,
} from './lines.js';
import type { PullWindow } from './openai.js';
import { count, dimension, firstIssue, readAllPages, usdCurrency } from './paging.js';
import { getProviderJson, type ProviderHttpOptions } from './provider-http.js';

/**
 * Anthropic's Admin API usage and cost reports (`x-api-key` admin key, `anthropic-version`):
 * daily message usage by model and workspace, and daily costs by description and workspace.
 * Cost amounts are decimal strings in cents; they are divided by 100 exactly.
 */
export const ANTHROPIC_VERSION = '2023-06-01';

const BucketSchema = z.object({
  starting_at: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'not an RFC 3339 time'),
  ending_at: z.string().nullish(),
  results: z.array(z.unknown()).nullish(),
});

const CentsSchema = z.union([z.string(), z.number()]).transform((value, context) => {
  try {
    return parseDecimal(value).dividedBy(100);
  } catch {
    context.addIssue({ code: 'custom', message: `not an amount in cents: ${String(value).slice(0, 40)}` });
    return z.NEVER;
  }
});

const CostResultSchema = z.object({
  amount: CentsSchema,
  currency: usdCurrency,
  description: dimension,
  cost_type: dimension,
  model: dimension,
  service_tier: dimension,
  token_type: dimension,
  context_window: dimension,
  inference_geo: dimension,
  workspace_id: dimension,
});

const UsageResultSchema = z.object({
  uncached_input_tokens: count,
  cache_creation: z.object({ ephemeral_1h_input_tokens: count, ephemeral_5m_input_tokens: count }).nullish(),
  cache_read_input_tokens: count,
  output_tokens: count,
  model: dimension,
  workspace_id: dimension,
  service_tier: dimension,
  context_window: dimension,
});

async function readBuckets(
  baseUrl: string,
  path: string,
  params: [string, string][],
  apiKey: string,
  window: PullWindow,
  http: ProviderHttpOptions,
) {
  const raw = await readAllPages(async (page) => {
    const url = new URL(`${baseUrl.replace(/\/+$/, '')}/v1/organizations/${path}`);
    url.searchParams.set('starting_at', new Date(window.startTime * 1000).toISOString());
    url.searchParams.set('ending_at', new Date(window.endTime * 1000).toISOString());
    url.searchParams.set('bucket_width', '1d');
    url.searchParams.set('limit', '31');
    // Anthropic documents arrays as `name[]=value`.
    for (const [name, value] of params) url.searchParams.append(name, value);
    if (page) url.searchParams.set('page', page);
    return getProviderJson(
      url,
      `Anthropic GET /v1/organizations/${path}`,
      {
        'x-api-key': apiKey,
        'anthropic-version': ANTHROPIC_VERSION,
        accept: 'application/json',
        'user-agent': 'Tollgate/1.0 (billing pull)',
      },
      http,
    );
  }, `Anthropic ${path}`);
  return raw.map((item, index) => {
    const bucket = BucketSchema.safeParse(item);
    if (!bucket.success) throw new Error(`Anthropic ${path}: bucket ${index}: ${firstIssue(bucket.error)}`);
    const start = Date.parse(bucket.data.starting_at);
    return { start, day: utcDayOf(start), results: bucket.data.results ?? [] };
  });
}

export async function pullAnthropicCosts(
  baseUrl: string,
  apiKey: string,
  window: PullWindow,
  http: ProviderHttpOptions,
): Promise<DayLines[]> {
  const buckets = await readBuckets(
    baseUrl,
    'cost_report',
    [
      ['group_by[]', 'description'],
      ['group_by[]', 'workspace_id'],
    ],
    apiKey,
    window,
    http,
  );
  return toDayLines('anthropic.cost_report', buckets, CostResultSchema, (row, day): BilledCostLine => {
    const tokenType = anthropicTokenType(row.cost_type, row.token_type);
    return {
      kind: 'cost',
      source: 'anthropic.cost_report',
      day,
      identity: JSON.stringify([
        row.workspace_id,
        row.description,
        row.cost_type,
        row.model,
        row.token_type,
        row.service_tier,
        row.context_window,
        row.inference_geo,
      ]),
      model: tokenType === null ? null : row.model,
      token_type: tokenType,
      line_item: row.description,
      project: row.workspace_id,
      amount: row.amount,
      currency: row.currency,
      quantity: null,
      quantity_unit: null,
    };
  });
}

export async function pullAnthropicUsage(
  baseUrl: string,
  apiKey: string,
  window: PullWindow,
  http: ProviderHttpOptions,
): Promise<DayLines[]> {
  const buckets = await readBuckets(
    baseUrl,
    'usage_report/messages',
    [
      ['group_by[]', 'model'],
      ['group_by[]', 'workspace_id'],
    ],
    apiKey,
    window,
    http,
  );
  return toDayLines(
    'anthropic.usage_report.messages',
    buckets,
    UsageResultSchema,
    (row, day): BilledUsageLine => ({
      kind: 'usage',
      source: 'anthropic.usage_report.messages',
      day,
      identity: JSON.stringify([row.model, row.workspace_id, row.service_tier, row.context_window]),
      model: row.model,
      project: row.workspace_id,
      tokens: {
        ...emptyTokens(),
        input: row.uncached_input_tokens,
        cached_input: row.cache_read_input_tokens,
        cache_write: row.cache_creation?.ephemeral_5m_input_tokens ?? 0,
        cache_write_1h: row.cache_creation?.ephemeral_1h_input_tokens ?? 0,
        output: row.output_tokens,
      },
      requests: 0,
    }),
  );
}
