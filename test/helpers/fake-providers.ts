import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Local stand-ins for OpenAI's organization Usage/Costs API and Anthropic's Admin usage and cost
 * reports: real HTTP servers on 127.0.0.1 that check the providers' auth headers, answer the
 * requested window with one bucket per UTC day (empty days included, as the real APIs do), page
 * by `limit` with `has_more`/`next_page`, record every request, and fail on demand.
 */

const DAY = 86_400;
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'billing');

export type OpenAIEndpoint = 'usage/completions' | 'usage/embeddings' | 'costs';
export type AnthropicEndpoint = 'usage_report/messages' | 'cost_report';

export interface RecordedRequest {
  provider: 'openai' | 'anthropic';
  endpoint: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

export interface Fault {
  /** Answer with this status (and `Retry-After`, when given). */
  status?: number;
  retryAfter?: string;
  /** Hold the answer this long before sending it (a timeout for a client that waits less). */
  hangMs?: number;
  /** Only requests for a later page (`page=` set): a failure mid-pagination. */
  laterPagesOnly?: boolean;
  /** How many matching requests fail; Infinity until cleared. */
  times: number;
}

/** A day's results, by UTC day (YYYY-MM-DD). */
type DayResults = Map<string, unknown[]>;

export interface FakeProviders {
  openaiUrl: string;
  anthropicUrl: string;
  openaiKey: string;
  anthropicKey: string;
  requests: RecordedRequest[];
  /** Buckets per page at most (the client's `limit` also applies). */
  pageSize: number;
  /** Start the first bucket of every answer this many seconds after the window's start (unaligned). */
  firstBucketOffsetSeconds: number;
  setDay(provider: 'openai', endpoint: OpenAIEndpoint, day: string, results: unknown[]): void;
  setDay(provider: 'anthropic', endpoint: AnthropicEndpoint, day: string, results: unknown[]): void;
  /** Loads a fixture page's buckets, moved so that its first bucket falls on `firstDay`. */
  load(provider: 'openai', endpoint: OpenAIEndpoint, fixture: string, firstDay: string): void;
  load(provider: 'anthropic', endpoint: AnthropicEndpoint, fixture: string, firstDay: string): void;
  fault(provider: 'openai' | 'anthropic', endpoint: string, fault: Fault): void;
  clearFaults(): void;
  requestsTo(provider: 'openai' | 'anthropic', endpoint: string): RecordedRequest[];
  close(): Promise<void>;
}

export function readFixture(name: string): unknown {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
}

const dayOfSeconds = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);
const secondsOfDay = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

export async function startFakeProviders(
  options: { openaiKey?: string; anthropicKey?: string } = {},
): Promise<FakeProviders> {
  const openaiKey = options.openaiKey ?? 'sk-admin-fake-openai-0123456789';
  const anthropicKey = options.anthropicKey ?? 'sk-ant-admin01-fake-anthropic-0123456789';
  const data = new Map<string, DayResults>();
  const faults = new Map<string, Fault[]>();
  const requests: RecordedRequest[] = [];
  const servers: Server[] = [];

  const fake: FakeProviders = {
    openaiUrl: '',
    anthropicUrl: '',
    openaiKey,
    anthropicKey,
    requests,
    pageSize: 31,
    firstBucketOffsetSeconds: 0,
    setDay(provider: string, endpoint: string, day: string, results: unknown[]) {
      const key = `${provider}:${endpoint}`;
      const days = data.get(key) ?? new Map();
      days.set(day, results);
      data.set(key, days);
    },
    load(provider: string, endpoint: string, fixture: string, firstDay: string) {
      const page = readFixture(fixture) as { data: Record<string, unknown>[] };
      const startOf = (bucket: Record<string, unknown>) =>
        provider === 'openai'
          ? (bucket.start_time as number)
          : Date.parse(bucket.starting_at as string) / 1000;
      const first = startOf(page.data[0] as Record<string, unknown>);
      for (const bucket of page.data) {
        const day = dayOfSeconds(secondsOfDay(firstDay) + (startOf(bucket) - first));
        (fake.setDay as (p: string, e: string, d: string, r: unknown[]) => void)(
          provider,
          endpoint,
          day,
          structuredClone(bucket.results as unknown[]),
        );
      }
    },
    fault(provider, endpoint, fault) {
      const key = `${provider}:${endpoint}`;
      faults.set(key, [...(faults.get(key) ?? []), { ...fault }]);
    },
    clearFaults: () => faults.clear(),
    requestsTo: (provider, endpoint) =>
      requests.filter((request) => request.provider === provider && request.endpoint === endpoint),
    close: async () => {
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };

  /** The next fault for this request, used up as it applies. */
  function takeFault(key: string, isLaterPage: boolean): Fault | undefined {
    const queue = faults.get(key) ?? [];
    const fault = queue.find(
      (candidate) => candidate.times > 0 && (!candidate.laterPagesOnly || isLaterPage),
    );
    if (fault) fault.times--;
    return fault;
  }

  /** Answers a window with one bucket per day, paged. */
  function page(
    key: string,
    windowStart: number,
    windowEnd: number,
    query: URLSearchParams,
    bucket: (start: number, end: number, results: unknown[]) => Record<string, unknown>,
  ) {
    const days = data.get(key) ?? new Map<string, unknown[]>();
    const all: Record<string, unknown>[] = [];
    for (let start = Math.floor(windowStart / DAY) * DAY; start < windowEnd; start += DAY) {
      const shown = all.length === 0 ? start + fake.firstBucketOffsetSeconds : start;
      all.push(bucket(shown, start + DAY, structuredClone(days.get(dayOfSeconds(start)) ?? [])));
    }
    const size = Math.min(fake.pageSize, Number(query.get('limit') ?? 7));
    const token = query.get('page');
    const offset = token ? Number(Buffer.from(token.replace(/^page_/, ''), 'base64url').toString()) : 0;
    const slice = all.slice(offset, offset + size);
    const hasMore = offset + size < all.length;
    return {
      data: slice,
      has_more: hasMore,
      next_page: hasMore ? `page_${Buffer.from(String(offset + size)).toString('base64url')}` : null,
    };
  }

  async function listen(
    provider: 'openai' | 'anthropic',
    handle: (
      endpoint: string,
      query: URLSearchParams,
      headers: IncomingHttpHeaders,
      response: ServerResponse,
    ) => void,
    prefix: string,
  ): Promise<string> {
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const endpoint = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname;
      requests.push({ provider, endpoint, query: url.searchParams, headers: request.headers });
      const fault = takeFault(`${provider}:${endpoint}`, url.searchParams.has('page'));
      const answer = () => {
        if (response.destroyed) return;
        if (fault?.status) {
          sendJson(
            response,
            fault.status,
            { error: { type: 'fake_fault', message: `injected ${fault.status}` } },
            fault.retryAfter ? { 'retry-after': fault.retryAfter } : {},
          );
          return;
        }
        handle(endpoint, url.searchParams, request.headers, response);
      };
      if (fault?.hangMs) setTimeout(answer, fault.hangMs).unref();
      else answer();
    });
    server.unref();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  fake.openaiUrl = await listen(
    'openai',
    (endpoint, query, headers, response) => {
      if (headers.authorization !== `Bearer ${openaiKey}`) {
        sendJson(response, 401, {
          error: { message: 'Incorrect API key provided', type: 'invalid_request_error' },
        });
        return;
      }
      if (!['usage/completions', 'usage/embeddings', 'costs'].includes(endpoint)) {
        sendJson(response, 404, { error: { message: 'not found' } });
        return;
      }
      const start = Number(query.get('start_time'));
      if (!Number.isInteger(start) || start <= 0) {
        sendJson(response, 400, { error: { message: 'start_time is required' } });
        return;
      }
      const end = query.has('end_time') ? Number(query.get('end_time')) : start + 7 * DAY;
      sendJson(response, 200, {
        object: 'page',
        ...page(`openai:${endpoint}`, start, end, query, (bucketStart, bucketEnd, results) => ({
          object: 'bucket',
          start_time: bucketStart,
          end_time: bucketEnd,
          results,
        })),
      });
    },
    '/v1/organization/',
  );

  fake.anthropicUrl = await listen(
    'anthropic',
    (endpoint, query, headers, response) => {
      if (headers['x-api-key'] !== anthropicKey) {
        sendJson(response, 401, {
          type: 'error',
          error: { type: 'authentication_error', message: 'invalid x-api-key' },
        });
        return;
      }
      if (headers['anthropic-version'] !== '2023-06-01') {
        sendJson(response, 400, {
          type: 'error',
          error: { type: 'invalid_request_error', message: 'anthropic-version header is required' },
        });
        return;
      }
      if (!['usage_report/messages', 'cost_report'].includes(endpoint)) {
        sendJson(response, 404, { type: 'error', error: { type: 'not_found_error', message: 'not found' } });
        return;
      }
      const start = Date.parse(query.get('starting_at') ?? '');
      if (Number.isNaN(start)) {
        sendJson(response, 400, {
          type: 'error',
          error: { type: 'invalid_request_error', message: 'starting_at' },
        });
        return;
      }
      const end = query.has('ending_at')
        ? Date.parse(query.get('ending_at') as string)
        : start + 7 * DAY * 1000;
      const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
      sendJson(
        response,
        200,
        page(`anthropic:${endpoint}`, start / 1000, end / 1000, query, (bucketStart, bucketEnd, results) => ({
          starting_at: iso(bucketStart),
          ending_at: iso(bucketEnd),
          results,
        })),
      );
    },
    '/v1/organizations/',
  );

  return fake;
}
