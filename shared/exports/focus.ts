import type { Db } from '../db/client.js';
import { pricedModelName } from '../kpis/priced-model.js';
import { Decimal, parseDecimal, toDecimalString, ZERO } from '../money/money.js';
import { COST_BUCKETS, type CostBucket, computeCost } from '../pricing/cost.js';
import type { ModelPrice } from '../pricing/types.js';
import type { CanonicalUsage, ServiceTier } from '../usage/canonical.js';
import { expandUsage } from '../usage/service.js';
import { type EventTimeRange, usageEventPages } from './usage-events.js';

/**
 * The columns of a FOCUS 1.2 export, in this order: the FOCUS columns that apply to metered
 * model usage (alphabetical, as the specification lists them), then Tollgate's own, prefixed
 * `x_` as FOCUS requires of extension columns.
 */
export const FOCUS_COLUMNS = [
  'BilledCost',
  'BillingAccountId',
  'BillingAccountName',
  'BillingCurrency',
  'BillingPeriodEnd',
  'BillingPeriodStart',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargeFrequency',
  'ChargePeriodEnd',
  'ChargePeriodStart',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ContractedCost',
  'ContractedUnitPrice',
  'EffectiveCost',
  'InvoiceIssuerName',
  'ListCost',
  'ListUnitPrice',
  'PricingCategory',
  'PricingQuantity',
  'PricingUnit',
  'ProviderName',
  'PublisherName',
  'RegionId',
  'RegionName',
  'ResourceId',
  'ResourceName',
  'ResourceType',
  'ServiceCategory',
  'ServiceName',
  'ServiceSubcategory',
  'SkuId',
  'SkuMeter',
  'SkuPriceDetails',
  'SkuPriceId',
  'SubAccountId',
  'SubAccountName',
  'Tags',
  'x_EventId',
  'x_EventTimestamp',
  'x_TenantId',
  'x_Provider',
  'x_Model',
  'x_ServiceTier',
  'x_TokenType',
  'x_PriceId',
  'x_ListPriceId',
  'x_Unpriced',
] as const;
export type FocusColumn = (typeof FOCUS_COLUMNS)[number];

/** The columns that may be null; every other one always has a value. */
export const NULLABLE_FOCUS_COLUMNS: readonly FocusColumn[] = [
  'BillingAccountName',
  'ChargeClass',
  'ContractedUnitPrice',
  'ListUnitPrice',
  'RegionId',
  'RegionName',
  'ResourceId',
  'ResourceName',
  'ResourceType',
  'SkuPriceId',
  'SubAccountId',
  'SubAccountName',
  'x_PriceId',
  'x_ListPriceId',
];

/** Money, rates and quantities are exact decimal strings; token counts are integers. */
export type FocusValue = string | number | boolean | null;
export type FocusRow = Record<FocusColumn, FocusValue>;

/** Token types, one row each: the priced buckets, named as the cost breakdown (`cb`) names them. */
export const TOKEN_TYPES = COST_BUCKETS;
export type TokenType = CostBucket;

const SKU_METERS: Record<TokenType, string> = {
  input: 'Input Tokens',
  cached_input: 'Cached Input Tokens',
  cache_write: 'Cache Write Tokens (5 min)',
  cache_write_1h: 'Cache Write Tokens (1 h)',
  output: 'Output Tokens',
  reasoning: 'Reasoning Tokens',
};

/** Tokens of one type; output excludes reasoning so that the rows never count a token twice. */
export function tokensOf(usage: CanonicalUsage, type: TokenType): number {
  switch (type) {
    case 'input':
      return usage.input_tokens;
    case 'cached_input':
      return usage.cached_input_tokens;
    case 'cache_write':
      return usage.cache_write_tokens;
    case 'cache_write_1h':
      return usage.cache_write_1h_tokens;
    case 'output':
      return usage.output_tokens - usage.reasoning_tokens;
    case 'reasoning':
      return usage.reasoning_tokens;
  }
}

interface ProviderNames {
  service: string;
  provider: string;
  /** Who bills the tenant for it. */
  issuer: string;
  /** Who made the model, when the provider does not say it by the model's name. */
  publisher: string;
}

const PROVIDERS: Record<string, ProviderNames> = {
  openai: { service: 'OpenAI API', provider: 'OpenAI', issuer: 'OpenAI', publisher: 'OpenAI' },
  anthropic: { service: 'Anthropic API', provider: 'Anthropic', issuer: 'Anthropic', publisher: 'Anthropic' },
  google: { service: 'Google Gemini API', provider: 'Google', issuer: 'Google', publisher: 'Google' },
  // AWS and Microsoft name themselves so in their own FOCUS exports: rows join with those.
  bedrock: { service: 'Amazon Bedrock', provider: 'AWS', issuer: 'AWS', publisher: 'Amazon' },
  azure: { service: 'Azure OpenAI', provider: 'Microsoft', issuer: 'Microsoft', publisher: 'OpenAI' },
  mistral: { service: 'Mistral AI', provider: 'Mistral AI', issuer: 'Mistral AI', publisher: 'Mistral AI' },
};

/** Bedrock model ids start with their publisher (`anthropic.claude-…`, `meta.llama…`). */
const BEDROCK_PUBLISHERS: Record<string, string> = {
  anthropic: 'Anthropic',
  meta: 'Meta',
  amazon: 'Amazon',
  mistral: 'Mistral AI',
  cohere: 'Cohere',
  ai21: 'AI21 Labs',
  deepseek: 'DeepSeek',
  openai: 'OpenAI',
  qwen: 'Qwen',
  writer: 'Writer',
  stability: 'Stability AI',
};

// Cross-region inference profiles prefix the model id with a geography (`us.anthropic.…`).
const BEDROCK_GEOGRAPHY = /^(us|eu|apac|global|jp|au|ca|us-gov)\./;

/** FOCUS's service, provider, invoice issuer and publisher names for a Tollgate provider and model. */
export function providerNames(provider: string, model: string): ProviderNames {
  const known = PROVIDERS[provider];
  if (!known) return { service: provider, provider, issuer: provider, publisher: provider };
  if (provider !== 'bedrock') return known;
  const id = (model.split('/').pop() ?? model).replace(BEDROCK_GEOGRAPHY, '');
  const vendor = id.split('.')[0] ?? '';
  return { ...known, publisher: BEDROCK_PUBLISHERS[vendor] ?? known.publisher };
}

/** The stored attributes of a usage event that an export reads. */
export interface StoredUsageEvent {
  id: string;
  ts: string;
  prov: string;
  model: string;
  tier: ServiceTier;
  u?: Record<string, number>;
  dims?: Record<string, string>;
  cost?: string;
  price?: string;
  cb?: Record<string, string>;
}

/** Reads the export's attributes off a stored item (items are written by the usage service only). */
export function asStoredUsageEvent(item: Record<string, unknown>): StoredUsageEvent {
  return {
    id: item.id as string,
    ts: item.ts as string,
    prov: item.prov as string,
    model: item.model as string,
    tier: (item.tier as ServiceTier | undefined) ?? 'standard',
    u: item.u as Record<string, number> | undefined,
    dims: item.dims as Record<string, string> | undefined,
    cost: item.cost as string | undefined,
    price: item.price as string | undefined,
    cb: item.cb as Record<string, string> | undefined,
  };
}

/**
 * Whether a key's `restrict` lets it see the event: every pair must match. `model` and
 * `provider` name the event's model and provider, as they do in KPI filters, so a restricted key
 * sees the same slice in both.
 */
export function visibleTo(event: StoredUsageEvent, restrict: Record<string, string> | null): boolean {
  for (const [name, value] of Object.entries(restrict ?? {})) {
    // A model by its priced name, as the KPIs read it: a key restricted to gpt-4o sees its snapshots.
    const visible =
      name === 'model'
        ? pricedModelName(event.model) === pricedModelName(value)
        : (name === 'provider' ? event.prov : event.dims?.[name]) === value;
    if (!visible) return false;
  }
  return true;
}

export interface FocusContext {
  tenantId: string;
  tenantName: string | null;
  /** The list price in force: the built-in and operator prices, no tenant override. */
  listPriceAt(provider: string, model: string, at: Date): ModelPrice | undefined;
  /**
   * The tenant's price in force, only for events priced before their cost was stored per token
   * type: the breakdown is recomputed from it.
   */
  contractedPriceAt(provider: string, model: string, at: Date): ModelPrice | undefined;
}

const MILLION = new Decimal(1_000_000);
const HOUR_MS = 3_600_000;

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The cost per token type of a priced event. Events carry it (`cb`); for one priced before they
 * did, it is recomputed with the tenant's price at the event's time, and whatever that misses of
 * the stored cost (a price changed since) goes to the last token type, so the rows still add up
 * to exactly the cost the event was billed.
 */
function costByType(event: StoredUsageEvent, usage: CanonicalUsage, context: FocusContext) {
  const cost = parseDecimal(event.cost ?? '0');
  const byType = new Map<TokenType, Decimal>();
  if (event.cb) {
    for (const type of TOKEN_TYPES) byType.set(type, parseDecimal(event.cb[type] ?? '0'));
    return byType;
  }
  const price = context.contractedPriceAt(event.prov, event.model, new Date(event.ts));
  const recomputed = price ? computeCost(usage, price, event.tier).breakdown : undefined;
  const present = TOKEN_TYPES.filter((type) => tokensOf(usage, type) > 0);
  let sum = ZERO;
  for (const type of present) {
    const amount = recomputed?.[type] ?? ZERO;
    byType.set(type, amount);
    sum = sum.plus(amount);
  }
  const last = present.at(-1);
  if (last && !sum.equals(cost)) byType.set(last, (byType.get(last) ?? ZERO).plus(cost.minus(sum)));
  return byType;
}

/** The FOCUS rows of one usage event: one per token type with tokens. */
export function focusRowsOfEvent(event: StoredUsageEvent, context: FocusContext): FocusRow[] {
  const usage = expandUsage(event.u);
  const at = Date.parse(event.ts);
  const hourStart = Math.floor(at / HOUR_MS) * HOUR_MS;
  const day = new Date(at);
  const monthStart = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1);
  const monthEnd = Date.UTC(day.getUTCFullYear(), day.getUTCMonth() + 1, 1);
  const names = providerNames(event.prov, event.model);
  const priced = event.cost !== undefined;
  const contracted = priced ? costByType(event, usage, context) : undefined;
  const listPrice = priced ? context.listPriceAt(event.prov, event.model, new Date(at)) : undefined;
  // The whole request decides the rates (long context, tier), so list cost is priced per event.
  const list = listPrice ? computeCost(usage, listPrice, event.tier) : undefined;
  const tags = JSON.stringify(
    Object.fromEntries(Object.entries(event.dims ?? {}).sort(([a], [b]) => a.localeCompare(b))),
  );

  const rows: FocusRow[] = [];
  for (const type of TOKEN_TYPES) {
    const tokens = tokensOf(usage, type);
    if (tokens <= 0) continue;
    const quantity = new Decimal(tokens).dividedBy(MILLION);
    const cost = contracted?.get(type) ?? ZERO;
    const contractedUnitPrice = contracted ? toDecimalString(cost.dividedBy(quantity)) : null;
    // A model priced only by the tenant's own rates has no list price: its list is what it pays.
    const listCost = list ? list.breakdown[type] : cost;
    const listUnitPrice = list ? list.rates_used[type] : contractedUnitPrice;
    const meter = SKU_METERS[type];
    rows.push({
      BilledCost: toDecimalString(cost),
      BillingAccountId: context.tenantId,
      BillingAccountName: context.tenantName,
      BillingCurrency: 'USD',
      BillingPeriodEnd: rfc3339(monthEnd),
      BillingPeriodStart: rfc3339(monthStart),
      ChargeCategory: 'Usage',
      ChargeClass: null,
      ChargeDescription: `${meter} of ${event.model} on ${names.service}`,
      ChargeFrequency: 'Usage-Based',
      ChargePeriodEnd: rfc3339(hourStart + HOUR_MS),
      ChargePeriodStart: rfc3339(hourStart),
      ConsumedQuantity: tokens,
      ConsumedUnit: 'Tokens',
      ContractedCost: toDecimalString(cost),
      ContractedUnitPrice: contractedUnitPrice,
      EffectiveCost: toDecimalString(cost),
      InvoiceIssuerName: names.issuer,
      ListCost: toDecimalString(listCost),
      ListUnitPrice: listUnitPrice === null ? null : toDecimalString(parseDecimal(listUnitPrice)),
      PricingCategory: 'Standard',
      PricingQuantity: toDecimalString(quantity),
      PricingUnit: '1000000 Tokens',
      ProviderName: names.provider,
      PublisherName: names.publisher,
      RegionId: null,
      RegionName: null,
      ResourceId: null,
      ResourceName: null,
      ResourceType: null,
      ServiceCategory: 'AI and Machine Learning',
      ServiceName: names.service,
      ServiceSubcategory: 'Generative AI',
      SkuId: `${event.prov}/${event.model}/${type}`,
      SkuMeter: meter,
      SkuPriceDetails: JSON.stringify({
        Model: event.model,
        Provider: event.prov,
        TokenType: type,
        ServiceTier: event.tier,
      }),
      SkuPriceId: event.price ? `${event.price}#${event.tier}#${type}` : null,
      SubAccountId: null,
      SubAccountName: null,
      Tags: tags,
      x_EventId: event.id,
      x_EventTimestamp: event.ts,
      x_TenantId: context.tenantId,
      x_Provider: event.prov,
      x_Model: event.model,
      x_ServiceTier: event.tier,
      x_TokenType: type,
      x_PriceId: event.price ?? null,
      x_ListPriceId: listPrice?.price_id ?? null,
      x_Unpriced: !priced,
    });
  }
  return rows;
}

export interface FocusExportOptions {
  range: EventTimeRange;
  /** The reading key's `restrict`, if any. */
  restrict: Record<string, string> | null;
  now: Date;
}

/**
 * The FOCUS rows of a tenant's usage in a time range, a page of events at a time, read as the
 * consumer asks for them. Rows are grouped by event but in no global order.
 */
export async function* focusRowPages(
  db: Db,
  context: FocusContext,
  options: FocusExportOptions,
): AsyncGenerator<FocusRow[]> {
  for await (const page of usageEventPages(db, context.tenantId, options.range, { now: options.now })) {
    const rows: FocusRow[] = [];
    for (const item of page) {
      const event = asStoredUsageEvent(item);
      if (visibleTo(event, options.restrict)) rows.push(...focusRowsOfEvent(event, context));
    }
    if (rows.length > 0) yield rows;
  }
}
