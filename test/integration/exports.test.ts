import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { handle, type LambdaContext } from 'hono/aws-lambda';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/api/app.js';
import { keys } from '../../shared/db/keys.js';
import { FOCUS_COLUMNS } from '../../shared/exports/focus.js';
import { LAMBDA_RESPONSE_PAYLOAD_BYTES } from '../../shared/http/buffered-response.js';
import { claimRawEvent } from '../../shared/ingest/raw-event-repository.js';
import { sumMoney, toMoneyString } from '../../shared/money/money.js';
import { httpApiEvent } from '../helpers/lambda-event.js';
import { createTestTollgate, OPERATOR_KEY, type TestTollgate } from '../helpers/tollgate.js';

let tollgate: TestTollgate;
let tenant: { id: string; key: string };

const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const D1 = today - 3 * DAY;
const D2 = today - 2 * DAY;
const FROM = iso(D1);
const TO = iso(today - DAY);
const at = (day: number, hour: number, minute = 0) => iso(day + hour * 3_600_000 + minute * 60_000);

type Row = Record<string, string | number | boolean | null>;

async function post(key: string, events: unknown[]) {
  const response = await tollgate.request('POST', '/v1/usage', { key, body: { events } });
  expect(response.status).toBe(202);
  const body = await response.json();
  expect(body.rejected).toEqual([]);
  return body;
}

async function exportText(query: string, key = tenant.key) {
  const response = await tollgate.request('GET', `/v1/exports/focus?${query}`, { key });
  return { response, text: await response.text() };
}

async function exportJsonl(query = `from=${FROM}&to=${TO}`, key = tenant.key): Promise<Row[]> {
  const { response, text } = await exportText(`${query}&format=jsonl`, key);
  expect(response.status, text).toBe(200);
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Row);
}

/** RFC 4180: quoted fields may hold commas, quotes (doubled) and line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') {
        quoted = false;
      } else {
        field += char;
      }
    } else if (char === '"') {
      quoted = true;
    } else if (char === ',') {
      record.push(field);
      field = '';
    } else if (char === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else if (char !== '\r') {
      field += char;
    }
  }
  if (field !== '' || record.length > 0) records.push([...record, field]);
  return records;
}

const byKey = (rows: Row[]) =>
  new Map(rows.map((row) => [`${row.x_EventId}/${row.x_TokenType}`, row] as const));

beforeAll(async () => {
  tollgate = await createTestTollgate({ env: { TOLLGATE_ROLLUP_LAG_SECONDS: '0' } });
  tenant = await tollgate.createTenant('Export Co');
  // The tenant pays 20% below list for gpt-4o: $2 in, $1 cached, $8 out instead of $2.50, $1.25, $10.
  const override = await tollgate.request('PUT', '/v1/prices/overrides/openai/gpt-4o', {
    key: tenant.key,
    body: { effective_from: '2025-01-01T00:00:00Z', discount_pct: '20' },
  });
  expect(override.status).toBe(200);
  await post(tenant.key, [
    // 1000×2 + 2000×1 + 500×8 = 8000 µ$ billed; 2500 + 2500 + 5000 = 10000 µ$ at list.
    {
      id: 'e1',
      timestamp: at(D1, 10, 15),
      provider: 'openai',
      model: 'gpt-4o',
      usage: { input_tokens: 1000, cached_input_tokens: 2000, output_tokens: 500 },
      dimensions: { feature: 'support', customer: 'acme' },
    },
    // Sonnet 4.5: 100×3 + 1000×0.3 + 500×3.75 + 300×6 + 30×15 + 20×15 = 5025 µ$.
    {
      id: 'e2',
      timestamp: at(D1, 11, 59),
      provider: 'anthropic',
      model: 'claude-sonnet-4-5-20250929',
      usage: {
        input_tokens: 100,
        cached_input_tokens: 1000,
        cache_write_tokens: 500,
        cache_write_1h_tokens: 300,
        output_tokens: 50,
        reasoning_tokens: 20,
      },
      dimensions: { feature: 'search', customer: 'globex' },
    },
    // o3 batch ($1 in, $4 out): 2000×1 + 500×4 + 1000×4 = 8000 µ$.
    {
      id: 'e3',
      timestamp: at(D2, 9),
      provider: 'openai',
      model: 'o3',
      service_tier: 'batch',
      usage: { input_tokens: 2000, output_tokens: 1500, reasoning_tokens: 1000 },
      dimensions: { customer: 'acme' },
    },
    // Unpriced.
    {
      id: 'e4',
      timestamp: at(D2, 12),
      provider: 'custom',
      model: 'house-model',
      usage: { input_tokens: 100, output_tokens: 10 },
      dimensions: { customer: 'acme' },
    },
    // Bedrock's US Sonnet 4.5 profile ($3.30 in, $16.50 out): 1000×3.3 + 100×16.5 = 4950 µ$.
    {
      id: 'e5',
      timestamp: at(D2, 23, 59),
      provider: 'bedrock',
      model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      usage: { input_tokens: 1000, output_tokens: 100 },
      dimensions: { customer: 'globex' },
    },
    // Outside [FROM, TO): the day before, and TO itself.
    {
      id: 'before',
      timestamp: at(D1 - DAY, 23, 59),
      provider: 'openai',
      model: 'gpt-4o',
      usage: { input_tokens: 7 },
      dimensions: { customer: 'acme' },
    },
    {
      id: 'at-to',
      timestamp: TO,
      provider: 'openai',
      model: 'gpt-4o',
      usage: { input_tokens: 9 },
      dimensions: { customer: 'acme' },
    },
  ]);
  const rollup = await tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${tenant.id}`, {
    key: OPERATOR_KEY,
  });
  expect(rollup.status).toBe(200);
});
afterAll(() => tollgate.cleanup());

describe('GET /v1/exports/focus', () => {
  it('bills exactly what the KPIs count, one row per token type with tokens', async () => {
    const rows = await exportJsonl();
    const kpis = await tollgate.request('GET', `/v1/kpis?metrics=cost&from=${FROM}&to=${TO}`, {
      key: tenant.key,
    });
    expect(kpis.status).toBe(200);
    const kpiCost = (await kpis.json()).totals.cost;
    expect(kpiCost).toBe('0.02597500');
    expect(toMoneyString(sumMoney(rows.map((row) => row.BilledCost as string)))).toBe(kpiCost);

    const rowIds = rows.map((row) => `${row.x_EventId}/${row.x_TokenType}`).sort();
    expect(rowIds).toEqual(
      [
        'e1/input',
        'e1/cached_input',
        'e1/output',
        'e2/input',
        'e2/cached_input',
        'e2/cache_write',
        'e2/cache_write_1h',
        'e2/output',
        'e2/reasoning',
        'e3/input',
        'e3/output',
        'e3/reasoning',
        'e4/input',
        'e4/output',
        'e5/input',
        'e5/output',
      ].sort(),
    );
    const row = byKey(rows);
    const quantities = Object.fromEntries(
      [...row].map(([id, r]) => [id, [r.ConsumedQuantity, r.PricingQuantity]]),
    );
    expect(quantities).toMatchObject({
      'e2/cache_write': [500, '0.0005'],
      'e2/cache_write_1h': [300, '0.0003'],
      'e2/output': [30, '0.00003'],
      'e2/reasoning': [20, '0.00002'],
      'e3/output': [500, '0.0005'],
      'e3/reasoning': [1000, '0.001'],
    });
    expect(row.get('e2/cache_write')).toMatchObject({ BilledCost: '0.001875', ContractedUnitPrice: '3.75' });
    expect(row.get('e3/reasoning')).toMatchObject({
      BilledCost: '0.004',
      ContractedUnitPrice: '4',
      ListUnitPrice: '4',
      x_ServiceTier: 'batch',
      SkuPriceDetails: JSON.stringify({
        Model: 'o3',
        Provider: 'openai',
        TokenType: 'reasoning',
        ServiceTier: 'batch',
      }),
    });
  });

  it('shows the negotiated price beside the list price', async () => {
    const row = byKey(await exportJsonl());
    expect(row.get('e1/input')).toMatchObject({
      BilledCost: '0.002',
      EffectiveCost: '0.002',
      ContractedCost: '0.002',
      ContractedUnitPrice: '2',
      ListCost: '0.0025',
      ListUnitPrice: '2.5',
      x_ListPriceId: 'builtin:openai/gpt-4o@2024-10-02',
    });
    expect(row.get('e1/output')).toMatchObject({ BilledCost: '0.004', ListCost: '0.005' });
    expect(String(row.get('e1/output')?.SkuPriceId)).toMatch(/^override:openai\/gpt-4o@.*#standard#output$/);
    // Without an override, list and billed agree.
    expect(row.get('e2/input')).toMatchObject({
      BilledCost: '0.0003',
      ListCost: '0.0003',
      ListUnitPrice: '3',
    });
  });

  it('fills the FOCUS columns', async () => {
    const row = byKey(await exportJsonl());
    const e1 = row.get('e1/cached_input');
    expect(Object.keys(e1 ?? {})).toEqual([...FOCUS_COLUMNS]);
    expect(e1).toMatchObject({
      BillingAccountId: tenant.id,
      BillingAccountName: 'Export Co',
      BillingCurrency: 'USD',
      BillingPeriodStart: `${FROM.slice(0, 7)}-01T00:00:00Z`,
      ChargeCategory: 'Usage',
      ChargeClass: null,
      ChargeFrequency: 'Usage-Based',
      ChargePeriodStart: at(D1, 10),
      ChargePeriodEnd: at(D1, 11),
      ConsumedQuantity: 2000,
      ConsumedUnit: 'Tokens',
      PricingCategory: 'Standard',
      PricingQuantity: '0.002',
      PricingUnit: '1000000 Tokens',
      ServiceCategory: 'AI and Machine Learning',
      ServiceName: 'OpenAI API',
      ProviderName: 'OpenAI',
      PublisherName: 'OpenAI',
      InvoiceIssuerName: 'OpenAI',
      ResourceId: null,
      SkuId: 'openai/gpt-4o/cached_input',
      SkuMeter: 'Cached Input Tokens',
      SkuPriceDetails: JSON.stringify({
        Model: 'gpt-4o',
        Provider: 'openai',
        TokenType: 'cached_input',
        ServiceTier: 'standard',
      }),
      Tags: JSON.stringify({ customer: 'acme', feature: 'support' }),
      x_EventId: 'e1',
      x_TenantId: tenant.id,
      x_Unpriced: false,
    });
    const end = new Date(e1?.BillingPeriodStart as string);
    end.setUTCMonth(end.getUTCMonth() + 1);
    expect(e1?.BillingPeriodEnd).toBe(iso(end.getTime()));
    expect(row.get('e2/cache_write_1h')).toMatchObject({
      ServiceName: 'Anthropic API',
      SkuMeter: 'Cache Write Tokens (1 h)',
    });
    expect(row.get('e5/input')).toMatchObject({
      ServiceName: 'Amazon Bedrock',
      ProviderName: 'AWS',
      PublisherName: 'Anthropic',
      BilledCost: '0.0033',
    });
    for (const r of row.values()) {
      for (const column of ['BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost', 'PricingQuantity']) {
        expect(r[column], `${r.x_EventId}/${r.x_TokenType} ${column}`).toMatch(/^\d+(\.\d+)?$/);
      }
    }
  });

  it('exports unpriced usage at zero cost, flagged', async () => {
    const row = byKey(await exportJsonl());
    expect(row.get('e4/input')).toMatchObject({
      BilledCost: '0',
      EffectiveCost: '0',
      ListCost: '0',
      ContractedCost: '0',
      ConsumedQuantity: 100,
      ContractedUnitPrice: null,
      ListUnitPrice: null,
      SkuPriceId: null,
      ServiceName: 'custom',
      x_Unpriced: true,
    });
  });

  it('answers the same rows as CSV, with a header, as an attachment', async () => {
    const jsonl = await exportJsonl();
    const { response, text } = await exportText(`from=${FROM}&to=${TO}&format=csv`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="focus-.+\.csv"$/);
    const [header, ...records] = parseCsv(text);
    expect(header).toEqual([...FOCUS_COLUMNS]);
    const csvRows = records.map((record) =>
      Object.fromEntries((header ?? []).map((column, i) => [column, record[i]])),
    );
    const asCsv = (row: Row) =>
      Object.fromEntries(
        Object.entries(row).map(([column, value]) => [column, value === null ? '' : String(value)]),
      );
    const sort = (rows: Record<string, unknown>[]) =>
      rows.sort((a, b) => `${a.x_EventId}/${a.x_TokenType}`.localeCompare(`${b.x_EventId}/${b.x_TokenType}`));
    expect(sort(csvRows)).toEqual(sort(jsonl.map(asCsv)));

    const jsonlResponse = await tollgate.request(
      'GET',
      `/v1/exports/focus?from=${FROM}&to=${TO}&format=jsonl`,
      {
        key: tenant.key,
      },
    );
    expect(jsonlResponse.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(jsonlResponse.headers.get('content-disposition')).toMatch(/\.jsonl"$/);
    await jsonlResponse.body?.cancel();
  });

  it('gives a restricted key only its slice', async () => {
    const view = await tollgate.mintKey(tenant.key, {
      name: 'acme view',
      scopes: ['read'],
      restrict: { customer: 'acme' },
    });
    const rows = await exportJsonl(undefined, view.key);
    expect(new Set(rows.map((row) => row.x_EventId))).toEqual(new Set(['e1', 'e3', 'e4']));
    expect(rows.every((row) => JSON.parse(row.Tags as string).customer === 'acme')).toBe(true);
    const byModel = await tollgate.mintKey(tenant.key, {
      name: 'o3 view',
      scopes: ['read'],
      restrict: { model: 'o3' },
    });
    expect(new Set((await exportJsonl(undefined, byModel.key)).map((row) => row.x_EventId))).toEqual(
      new Set(['e3']),
    );
  });

  it('refuses bad ranges (400) and keys without the read scope (403)', async () => {
    for (const query of [
      `from=${TO}&to=${FROM}`,
      `from=${FROM}&to=${FROM}`,
      'from=2025-01-01T00:00:00Z&to=2026-01-02T00:00:01Z',
      `from=yesterday&to=${TO}`,
      `to=${TO}`,
      `from=${FROM}&to=${TO}&format=xlsx`,
    ]) {
      const { response, text } = await exportText(query);
      expect(response.status, query).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(JSON.parse(text).code).toBe('VALIDATION_FAILED');
    }
    // 366 days (a leap year) is the most one export covers.
    expect((await exportText('from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z')).response.status).toBe(200);

    const ingestOnly = await tollgate.mintKey(tenant.key, { name: 'writer', scopes: ['ingest'] });
    const { response, text } = await exportText(`from=${FROM}&to=${TO}`, ingestOnly.key);
    expect(response.status).toBe(403);
    expect(JSON.parse(text).code).toBe('INSUFFICIENT_SCOPE');
    expect((await exportText(`from=${FROM}&to=${TO}`, OPERATOR_KEY)).response.status).toBe(403);
  });

  it('splits the cost of an event stored before costs were kept per token type so that it still adds up', async () => {
    const legacy = await tollgate.createTenant('Legacy');
    const ts = at(D2, 8);
    // gpt-4o at list: 1000×2.5 + 100×10 = 3500 µ$; stored as an older version of Tollgate did, without `cb`.
    await claimRawEvent(tollgate.store.db, legacy.id, 'usage', 'id:old', new Date().toISOString(), {
      kind: 'usage',
      id: 'old',
      ts,
      prov: 'openai',
      model: 'gpt-4o',
      tier: 'standard',
      rc: 1,
      u: { input_tokens: 1000, output_tokens: 100 },
      dims: {},
      cost: '0.0035',
      price: 'builtin:openai/gpt-4o@2024-10-02',
    });
    const rows = await exportJsonl(undefined, legacy.key);
    expect(rows.map((row) => [row.x_TokenType, row.BilledCost, row.ListCost])).toEqual(
      expect.arrayContaining([
        ['input', '0.0025', '0.0025'],
        ['output', '0.001', '0.001'],
      ]),
    );
    expect(rows).toHaveLength(2);
  });
});

describe('a large export', () => {
  const EVENTS = 3000;
  let big: { id: string; key: string };
  const bigQuery = () => `from=${iso(today - DAY)}&to=${iso(today)}&format=jsonl`;

  /** Runs `body` while `onBatchGet` sees every BatchGetItem the app sends. */
  async function watchingBatchGets(onBatchGet: () => void, body: () => Promise<void>) {
    const client = tollgate.store.db.client;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (String(context.commandName).startsWith('BatchGet')) onBatchGet();
        return next(args);
      },
      { step: 'initialize', name: 'watchBatchGets' },
    );
    try {
      await body();
    } finally {
      client.middlewareStack.remove('watchBatchGets');
    }
  }

  beforeAll(async () => {
    big = await tollgate.createTenant('Big');
    const base = today - DAY + 3_600_000;
    const ingestedAt = new Date().toISOString();
    // Written straight to the table, as the usage service stores them: posting thousands of events
    // through the API would make this test about ingestion speed.
    const items = Array.from({ length: EVENTS }, (_, i) => {
      const dedupeKey = `id:b${i}`;
      return {
        ...keys.rawEvent(big.id, 'usage', dedupeKey),
        ...keys.rawEventIngested(big.id, 'usage', dedupeKey, ingestedAt),
        ing: ingestedAt,
        kind: 'usage',
        id: `b${i}`,
        ts: iso(base + i * 1000),
        prov: 'openai',
        model: 'gpt-4o-mini',
        tier: 'standard',
        rc: 1,
        u: { input_tokens: 1000, output_tokens: 10 },
        dims: { customer: `c${i % 7}` },
        cost: '0.000156',
        price: 'builtin:openai/gpt-4o-mini@2024-07-18',
        cb: { input: '0.00015', output: '0.000006' },
      };
    });
    const db = tollgate.store.db;
    const limit = pLimit(8);
    await Promise.all(
      Array.from({ length: EVENTS / 25 }, (_, batch) =>
        limit(async () => {
          let pending = items.slice(batch * 25, batch * 25 + 25).map((Item) => ({ PutRequest: { Item } }));
          while (pending.length > 0) {
            const result = await db.client.send(
              new BatchWriteCommand({ RequestItems: { [db.tableName]: pending } }),
            );
            pending = (result.UnprocessedItems?.[db.tableName] ?? []) as typeof pending;
          }
        }),
      ),
    );
  });

  it('streams: the body arrives in many chunks, read as the reader asks', async () => {
    let batchGets = 0;
    await watchingBatchGets(
      () => batchGets++,
      async () => {
        const response = await tollgate.request('GET', `/v1/exports/focus?${bigQuery()}`, { key: big.key });
        expect(response.status).toBe(200);
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        const decoder = new TextDecoder();
        let text = '';
        let chunks = 0;
        let readsAtFirstChunk = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks++;
          if (chunks === 1) readsAtFirstChunk = batchGets;
          text += decoder.decode(value, { stream: true });
        }
        const lines = text.split('\n').filter(Boolean);
        expect(lines).toHaveLength(EVENTS * 2);
        expect(new Set(lines.map((line) => JSON.parse(line).x_EventId)).size).toBe(EVENTS);
        expect(chunks).toBeGreaterThan(10);
        // Only the few pages in flight had been read when the first chunk came out.
        expect(readsAtFirstChunk).toBeLessThan(batchGets / 2);
      },
    );
  });

  it('through the Lambda adapter, answers one larger than a buffered payload carries with EXPORT_TOO_LARGE, and one that fits whole', async () => {
    const handler = handle(
      createApp(tollgate.runtime, { responsePayloadLimitBytes: LAMBDA_RESPONSE_PAYLOAD_BYTES }),
    );
    const viaLambda = (query: string) =>
      handler(
        httpApiEvent('GET', '/v1/exports/focus', { headers: { authorization: `Bearer ${big.key}` }, query }),
        {} as LambdaContext,
      );
    const streamed = async (query: string) =>
      (await tollgate.request('GET', `/v1/exports/focus?${query}`, { key: big.key })).text();
    // Rows come grouped by event, in no particular order.
    const sortedLines = (text: string) => text.split('\n').sort();

    // The day's 3,000 events as jsonl (about 10 MB): too large.
    const refusedWhole = await viaLambda(bigQuery());
    expect(refusedWhole.statusCode).toBe(400);
    expect(refusedWhole.headers?.['content-type']).toContain('application/problem+json');
    expect(JSON.parse(refusedWhole.body as string)).toMatchObject({ code: 'EXPORT_TOO_LARGE', status: 400 });
    // Its first 1,600 as jsonl: about 5.2 MB, under the cap as bytes but not as the base64 the
    // adapter sends a binary type as.
    const firstEvents = (count: number, format: string) =>
      `from=${iso(today - DAY)}&to=${iso(today - DAY + 3_600_000 + count * 1000)}&format=${format}`;
    const jsonlText = await streamed(firstEvents(1600, 'jsonl'));
    expect(jsonlText.split('\n').filter(Boolean)).toHaveLength(3200);
    expect(Buffer.byteLength(jsonlText)).toBeLessThan(LAMBDA_RESPONSE_PAYLOAD_BYTES);
    expect((await viaLambda(firstEvents(1600, 'jsonl'))).statusCode).toBe(400);

    // The first 1,000 as jsonl fit: the whole export, as the node server streams it.
    const fewer = await viaLambda(firstEvents(1000, 'jsonl'));
    expect(fewer.statusCode).toBe(200);
    expect(fewer.isBase64Encoded).toBe(true);
    expect(sortedLines(Buffer.from(fewer.body as string, 'base64').toString('utf8'))).toEqual(
      sortedLines(await streamed(firstEvents(1000, 'jsonl'))),
    );
    expect(Buffer.byteLength(JSON.stringify(fewer))).toBeLessThanOrEqual(LAMBDA_RESPONSE_PAYLOAD_BYTES);

    // The whole day as csv (about 4.5 MB of text, sent as a JSON string) fits too.
    const csvQuery = bigQuery().replace('format=jsonl', 'format=csv');
    const csv = await viaLambda(csvQuery);
    expect(csv.statusCode).toBe(200);
    expect(csv.isBase64Encoded).toBe(false);
    expect(sortedLines(csv.body as string)).toEqual(sortedLines(await streamed(csvQuery)));
    expect(Buffer.byteLength(JSON.stringify(csv))).toBeLessThanOrEqual(LAMBDA_RESPONSE_PAYLOAD_BYTES);
  });

  it('breaks the body off when the store fails part-way, rather than ending it as if complete', async () => {
    let batchGets = 0;
    await watchingBatchGets(
      () => {
        if (++batchGets === 6) throw new Error('store down');
      },
      async () => {
        const response = await tollgate.request('GET', `/v1/exports/focus?${bigQuery()}`, { key: big.key });
        expect(response.status).toBe(200);
        await expect(response.text()).rejects.toThrow('store down');
      },
    );
  });
});

describe('an export after a re-price', () => {
  it('shows the new costs and skips the corrections that carried them into the KPIs', async () => {
    const repriced = await tollgate.createTenant('Repriced');
    await post(repriced.key, [
      {
        id: 'r1',
        timestamp: at(D1, 8),
        provider: 'openai',
        model: 'gpt-4o',
        usage: { input_tokens: 1000, output_tokens: 100 },
      },
      {
        id: 'r2',
        timestamp: at(D2, 8),
        provider: 'custom',
        model: 'house-model',
        usage: { input_tokens: 2000, output_tokens: 200 },
      },
    ]);
    const rollup = () =>
      tollgate.request('POST', `/v1/admin/jobs/kpi-rollup/run?tenant_id=${repriced.id}`, {
        key: OPERATOR_KEY,
      });
    expect((await rollup()).status).toBe(200);
    for (const [path, body] of [
      ['openai/gpt-4o', { effective_from: '2025-01-01T00:00:00Z', discount_pct: '50' }],
      ['custom/house-model', { effective_from: '2025-01-01T00:00:00Z', rates: { input: '1', output: '2' } }],
    ] as const) {
      const put = await tollgate.request('PUT', `/v1/prices/overrides/${path}`, { key: repriced.key, body });
      expect(put.status).toBe(200);
    }
    const reprice = await tollgate.request('POST', '/v1/prices/reprice', {
      key: repriced.key,
      body: { from: FROM, to: TO, dry_run: false },
    });
    expect(reprice.status).toBe(200);
    expect((await reprice.json()).changed).toBe(2);
    expect((await rollup()).status).toBe(200);

    const rows = await exportJsonl(undefined, repriced.key);
    // gpt-4o at half price: 1000×1.25 + 100×5; house-model at its own rates: 2000×1 + 200×2 (µ$).
    expect(rows.map((row) => [row.x_EventId, row.x_TokenType, row.BilledCost, row.ListCost]).sort()).toEqual([
      ['r1', 'input', '0.00125', '0.0025'],
      ['r1', 'output', '0.0005', '0.001'],
      ['r2', 'input', '0.002', '0.002'],
      ['r2', 'output', '0.0004', '0.0004'],
    ]);
    const kpis = await tollgate.request('GET', `/v1/kpis?metrics=cost&from=${FROM}&to=${TO}`, {
      key: repriced.key,
    });
    const kpiCost = (await kpis.json()).totals.cost;
    expect(kpiCost).toBe('0.00415000');
    expect(toMoneyString(sumMoney(rows.map((row) => row.BilledCost as string)))).toBe(kpiCost);
  });
});
