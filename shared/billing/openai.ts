import { z } from 'zod';
import { parseDecimal, toDecimalString } from '../money/money.js';
import { toDayLines } from './buckets.js';
import {
  type BilledCostLine,
  type BilledUsageLine,
  type DayLines,
  emptyTokens,
  parseOpenAILineItem,
  utcDayOf,
} from './lines.js';
import { count, dimension, firstIssue, readAllPages, usdCurrency } from './paging.js';
import { getProviderJson, type ProviderHttpOptions } from './provider-http.js';

/**
 * OpenAI's organization Usage and Costs APIs (admin key, `Authorization: Bearer`): daily buckets
 * of completions and embeddings usage by model and project, and daily costs by line item and
 * project. Unknown fields are ignored; counts and amounts are read whether they come as numbers
 * or strings.
 */

const BucketSchema = z.object({
  start_time: z.union([z.number(), z.string().regex(/^\d+$/)]).transform(Number),
  end_time: z
    .union([z.number(), z.string().regex(/^\d+$/)])
    .transform(Number)
    .nullish(),
  results: z.array(z.unknown()).nullish(),
});

const AmountSchema = z.union([z.number(), z.string()]).transform((value, context) => {
  try {
    return parseDecimal(value);
  } catch {
    context.addIssue({ code: 'custom', message: `not an amount: ${String(value).slice(0, 40)}` });
    return z.NEVER;
  }
});

const CostResultSchema = z.object({
  amount: z.object({ value: AmountSchema, currency: usdCurrency }),
  line_item: dimension,
  project_id: dimension,
  quantity: z.union([z.number(), z.string()]).nullish(),
  quantity_unit: dimension,
});

const CompletionsResultSchema = z.object({
  input_tokens: count,
  input_cached_tokens: count,
  input_cache_write_tokens: count,
  // Absent in older responses, where cache writes were not reported: then uncached = input − cached.
  input_uncached_tokens: z.union([z.number(), z.string().regex(/^\d+$/)]).nullish(),
  output_tokens: count,
  num_model_requests: count,
  model: dimension,
  project_id: dimension,
  batch: z.boolean().nullish(),
  service_tier: dimension,
});

const EmbeddingsResultSchema = z.object({
  input_tokens: count,
  num_model_requests: count,
  model: dimension,
  project_id: dimension,
});

export interface PullWindow {
  /** Unix seconds, on a UTC midnight. */
  startTime: number;
  /** Unix seconds, exclusive. */
  endTime: number;
}

function openAIHeaders(apiKey: string): Record<string, string> {
  return {
    authorization: `Bearer ${apiKey}`,
    accept: 'application/json',
    'user-agent': 'Tollgate/1.0 (billing pull)',
  };
}

async function readBuckets(
  baseUrl: string,
  path: string,
  params: [string, string][],
  apiKey: string,
  window: PullWindow,
  http: ProviderHttpOptions,
) {
  const raw = await readAllPages(async (page) => {
    const url = new URL(`${baseUrl.replace(/\/+$/, '')}/v1/organization/${path}`);
    url.searchParams.set('start_time', String(window.startTime));
    url.searchParams.set('end_time', String(window.endTime));
    url.searchParams.set('bucket_width', '1d');
    url.searchParams.set('limit', '31');
    // Arrays as repeated keys, as OpenAI's cookbook sends them.
    for (const [name, value] of params) url.searchParams.append(name, value);
    if (page) url.searchParams.set('page', page);
    return getProviderJson(url, `OpenAI GET /v1/organization/${path}`, openAIHeaders(apiKey), http);
  }, `OpenAI ${path}`);
  return raw.map((item, index) => {
    const bucket = BucketSchema.safeParse(item);
    if (!bucket.success) throw new Error(`OpenAI ${path}: bucket ${index}: ${firstIssue(bucket.error)}`);
    // A first bucket may start at the requested instant rather than midnight: it belongs to its UTC day.
    const start = bucket.data.start_time * 1000;
    return { start, day: utcDayOf(start), results: bucket.data.results ?? [] };
  });
}

export async function pullOpenAICosts(
  baseUrl: string,
  apiKey: string,
  window: PullWindow,
  http: ProviderHttpOptions,
): Promise<DayLines[]> {
  const buckets = await readBuckets(
    baseUrl,
    'costs',
    [
      ['group_by', 'line_item'],
      ['group_by', 'project_id'],
    ],
    apiKey,
    window,
    http,
  );
  return toDayLines('openai.costs', buckets, CostResultSchema, (row, day): BilledCostLine => {
    const { model, token_type } = parseOpenAILineItem(row.line_item);
    const quantity = row.quantity ?? null;
    return {
      kind: 'cost',
      source: 'openai.costs',
      day,
      identity: JSON.stringify([row.line_item, row.project_id]),
      model,
      token_type,
      line_item: row.line_item,
      project: row.project_id,
      amount: row.amount.value,
      currency: row.amount.currency,
      quantity: quantity === null ? null : toDecimalString(parseDecimal(quantity)),
      quantity_unit: row.quantity_unit,
    };
  });
}

export async function pullOpenAIUsage(
  baseUrl: string,
  apiKey: string,
  window: PullWindow,
  http: ProviderHttpOptions,
): Promise<DayLines[]> {
  const grouping: [string, string][] = [
    ['group_by', 'model'],
    ['group_by', 'project_id'],
  ];
  const completions = toDayLines(
    'openai.usage.completions',
    await readBuckets(baseUrl, 'usage/completions', grouping, apiKey, window, http),
    CompletionsResultSchema,
    (row, day): BilledUsageLine => {
      const tokens = emptyTokens();
      tokens.cached_input = row.input_cached_tokens;
      tokens.cache_write = row.input_cache_write_tokens;
      tokens.input =
        row.input_uncached_tokens === null || row.input_uncached_tokens === undefined
          ? Math.max(0, row.input_tokens - row.input_cached_tokens)
          : Number(row.input_uncached_tokens);
      tokens.output = row.output_tokens;
      return {
        kind: 'usage',
        source: 'openai.usage.completions',
        day,
        identity: JSON.stringify([row.model, row.project_id, row.batch ?? null, row.service_tier]),
        model: row.model,
        project: row.project_id,
        tokens,
        requests: row.num_model_requests,
      };
    },
  );
  const embeddings = toDayLines(
    'openai.usage.embeddings',
    await readBuckets(baseUrl, 'usage/embeddings', grouping, apiKey, window, http),
    EmbeddingsResultSchema,
    (row, day): BilledUsageLine => ({
      kind: 'usage',
      source: 'openai.usage.embeddings',
      day,
      identity: JSON.stringify([row.model, row.project_id]),
      model: row.model,
      project: row.project_id,
      tokens: { ...emptyTokens(), input: row.input_tokens },
      requests: row.num_model_requests,
    }),
  );
  return [...completions, ...embeddings];
}
