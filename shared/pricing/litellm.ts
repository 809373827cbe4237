import { Decimal, parseDecimal, toDecimalString } from '../money/money.js';
import {
  canonicalInstant,
  hasCanonicalInstant,
  type ModelPrice,
  ModelPriceSchema,
  priceId,
  type TierRates,
  type TierTable,
} from './types.js';

/**
 * Reads a price file in LiteLLM's `model_prices_and_context_window.json` format (USD per token,
 * JSON floats) into effective-dated `ModelPrice`s (USD per 1M tokens, exact decimals).
 * Semantics follow LiteLLM's own cost code (`llm_cost_calc/utils.py`), per provider-apis.md §6:
 * - `*_batches` prices batch; where absent, batch is half the base price (cache prices included);
 * - `*_flex` / `*_priority` price those tiers, each missing key falling back to the base key;
 * - `*_above_<N>k_tokens` prices the whole request once the prompt exceeds N×1000 tokens, each
 *   missing key falling back to the base key;
 * - `cache_creation_input_token_cost_above_1hr` is the 1-hour cache write.
 */

export interface LiteLLMParseOptions {
  /** RFC 3339: when the file's prices take effect (kept in UTC, whatever the offset given). */
  effectiveFrom: string;
  /** Recorded on every price and used as its id prefix, e.g. "litellm:2026-07-24". */
  source: string;
}

export interface LiteLLMSkip {
  key: string;
  reason: string;
}

export interface LiteLLMParseResult {
  prices: ModelPrice[];
  skipped: LiteLLMSkip[];
}

// Chat-like modes price text tokens in and out; the other modes bill images, audio seconds,
// pages or queries, which the token buckets cannot express.
const TOKEN_MODES = new Set(['chat', 'completion', 'responses']);

const MILLION = new Decimal(1_000_000);

/** Tollgate's provider name for a `litellm_provider` value; unknown providers keep LiteLLM's name. */
export function mapLiteLLMProvider(litellmProvider: string): string {
  if (
    litellmProvider === 'gemini' ||
    litellmProvider === 'vertex_ai' ||
    litellmProvider.startsWith('vertex_ai-')
  ) {
    return 'google';
  }
  const mapped = PROVIDER_MAP[litellmProvider];
  return mapped ?? litellmProvider;
}

const PROVIDER_MAP: Record<string, string> = {
  openai: 'openai',
  'text-completion-openai': 'openai',
  azure: 'azure',
  azure_text: 'azure',
  azure_ai: 'azure',
  anthropic: 'anthropic',
  bedrock: 'bedrock',
  bedrock_converse: 'bedrock',
  bedrock_mantle: 'bedrock',
  mistral: 'mistral',
  codestral: 'mistral',
  'text-completion-codestral': 'mistral',
};

// When two LiteLLM providers give a price to the same Tollgate provider and model, the first-party
// API's entry wins: the Gemini API over Vertex, Converse over legacy Bedrock, Mistral's own API over
// the free Codestral endpoint, Azure OpenAI over Azure AI Foundry.
const PREFERRED: Record<string, string> = {
  google: 'gemini',
  bedrock: 'bedrock_converse',
  mistral: 'mistral',
  azure: 'azure',
  openai: 'openai',
};

/** Parses a LiteLLM price file; entries that cannot be priced per token are skipped with a reason, never thrown. */
export function parseLiteLLMPriceFile(json: unknown, options: LiteLLMParseOptions): LiteLLMParseResult {
  if (!isPlainObject(json)) throw new RangeError('a LiteLLM price file is a JSON object of model entries');
  if (
    !ModelPriceSchema.shape.effective_from.safeParse(options.effectiveFrom).success ||
    !hasCanonicalInstant(options.effectiveFrom)
  ) {
    throw new RangeError(`effectiveFrom must be an RFC 3339 timestamp, got "${options.effectiveFrom}"`);
  }
  if (options.source.trim() === '') throw new RangeError('source must name the price file');
  // One instant is one version of the prices, whatever the offset it was written with.
  const dated = { ...options, effectiveFrom: canonicalInstant(options.effectiveFrom) };
  const skipped: LiteLLMSkip[] = [];
  const winners = new Map<string, { key: string; litellmProvider: string; price: ModelPrice }>();

  for (const [key, entry] of Object.entries(json)) {
    const parsed = parseEntry(key, entry, dated);
    if ('reason' in parsed) {
      skipped.push({ key, reason: parsed.reason });
      continue;
    }
    const identity = `${parsed.price.provider}\u0000${parsed.price.model.toLowerCase()}`;
    const current = winners.get(identity);
    if (!current) {
      winners.set(identity, { key, ...parsed });
      continue;
    }
    const label = `${parsed.price.provider}/${parsed.price.model}`;
    const preferred = PREFERRED[parsed.price.provider];
    if (preferred === parsed.litellmProvider && preferred !== current.litellmProvider) {
      skipped.push({ key: current.key, reason: `duplicate: "${key}" also prices ${label} and is preferred` });
      winners.set(identity, { key, ...parsed });
    } else {
      skipped.push({ key, reason: `duplicate: "${current.key}" already prices ${label}` });
    }
  }
  return { prices: [...winners.values()].map((w) => w.price), skipped };
}

type Entry = Record<string, unknown>;

function parseEntry(
  key: string,
  entry: unknown,
  options: LiteLLMParseOptions,
): { price: ModelPrice; litellmProvider: string } | { reason: string } {
  if (key === 'sample_spec') return { reason: 'the documentation entry of the format' };
  if (!isPlainObject(entry)) return { reason: 'not a model entry (not an object)' };
  const litellmProvider = entry.litellm_provider;
  if (typeof litellmProvider !== 'string' || litellmProvider === '') return { reason: 'no litellm_provider' };
  const mode = entry.mode;
  if (typeof mode !== 'string') return { reason: 'no mode' };
  if (!TOKEN_MODES.has(mode)) return { reason: `mode "${mode}" is not priced per chat token` };
  if (entry.tiered_pricing !== undefined) {
    return { reason: 'range-based tiered_pricing is not supported (prices depend on the prompt size band)' };
  }

  const provider = mapLiteLLMProvider(litellmProvider);
  const model = modelFromKey(key, litellmProvider, provider);
  if ('reason' in model) return model;

  try {
    const rates = readRates(entry);
    if ('reason' in rates) return rates;
    const price: ModelPrice = {
      price_id: priceId(options.source, provider, model.name, options.effectiveFrom),
      provider,
      model: model.name,
      effective_from: options.effectiveFrom,
      source: options.source,
      rates: rates.standard,
      tiers: rates.tiers,
      ...(rates.longContext ? { long_context: rates.longContext } : {}),
    };
    return { price, litellmProvider };
  } catch (error) {
    return { reason: error instanceof Error ? error.message : String(error) };
  }
}

// Route qualifiers in Bedrock keys that do not change the price.
const BEDROCK_ROUTES = new Set(['invoke', 'converse']);
const AZURE_DEPLOYMENT_TYPES = new Set(['eu', 'us', 'global', 'global-standard', 'datazone', 'data-zone']);

function modelFromKey(
  key: string,
  litellmProvider: string,
  provider: string,
): { name: string } | { reason: string } {
  let name = key;
  const slash = name.indexOf('/');
  if (slash > 0) {
    const head = name.slice(0, slash);
    if (isRoutePrefix(head, litellmProvider)) name = name.slice(slash + 1);
  }
  const next = name.indexOf('/');
  if (next > 0) {
    const head = name.slice(0, next);
    if (provider === 'bedrock') {
      if (BEDROCK_ROUTES.has(head)) name = name.slice(next + 1);
      else
        return {
          reason: `region- or commitment-specific Bedrock price ("${head}"): Tollgate prices have no region`,
        };
    } else if (provider === 'azure' && AZURE_DEPLOYMENT_TYPES.has(head)) {
      return { reason: `deployment-type-specific Azure price ("${head}"): Tollgate prices Azure by model` };
    }
  }
  if (name === '') return { reason: 'no model name in the key' };
  return { name };
}

// `vertex_ai/` for vertex_ai-anthropic_models, `bedrock/` for bedrock_converse, `azure/` for azure_text…
function isRoutePrefix(head: string, litellmProvider: string): boolean {
  return (
    head === litellmProvider ||
    litellmProvider.startsWith(`${head}-`) ||
    litellmProvider.startsWith(`${head}_`) ||
    (head === 'openai' && litellmProvider === 'text-completion-openai') ||
    (head === 'codestral' && litellmProvider === 'text-completion-codestral')
  );
}

const BASE_FIELDS = {
  input: 'input_cost_per_token',
  output: 'output_cost_per_token',
  cached_input: 'cache_read_input_token_cost',
  cache_write: 'cache_creation_input_token_cost',
  cache_write_1h: 'cache_creation_input_token_cost_above_1hr',
} as const;
type RateField = keyof typeof BASE_FIELDS;
const RATE_FIELDS = Object.keys(BASE_FIELDS) as RateField[];

const THRESHOLD_KEY =
  /^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost(_above_1hr)?)_above_(\d+)k_tokens(_(priority|flex|batches))?$/;

function readRates(
  entry: Entry,
): { standard: TierRates; tiers: TierTable; longContext?: ModelPrice['long_context'] } | { reason: string } {
  const input = readCost(entry, BASE_FIELDS.input);
  const output = readCost(entry, BASE_FIELDS.output);
  if (input === undefined || output === undefined) {
    return { reason: 'no input_cost_per_token and output_cost_per_token (not priced per token)' };
  }
  const base: Partial<Record<RateField, Decimal>> = { input, output };
  base.cached_input =
    readCost(entry, BASE_FIELDS.cached_input) ?? readCost(entry, 'input_cost_per_token_cache_hit');
  base.cache_write = readCost(entry, BASE_FIELDS.cache_write);
  base.cache_write_1h = readCost(entry, BASE_FIELDS.cache_write_1h);

  const standard = toTierRates(base);
  // A reasoning price equal to the output price says nothing, and copying it into the tiers
  // would bill flex/batch thinking at the standard output price.
  const reasoning = readCost(entry, 'output_cost_per_reasoning_token');
  if (reasoning !== undefined && !reasoning.equals(output)) standard.reasoning = perMillion(reasoning);

  const tiers: TierTable = { batch: toTierRates(withSuffix(entry, base, '_batches', halve)) };
  for (const tier of ['flex', 'priority'] as const) {
    if (RATE_FIELDS.some((field) => readCost(entry, `${BASE_FIELDS[field]}_${tier}`) !== undefined)) {
      tiers[tier] = toTierRates(withSuffix(entry, base, `_${tier}`, same));
    }
  }

  const thresholds = new Set<number>();
  for (const field of Object.keys(entry)) {
    const match = THRESHOLD_KEY.exec(field);
    if (match && entry[field] !== undefined) thresholds.add(Number(match[3]));
  }
  if (thresholds.size > 1) {
    return {
      reason: `several long-context thresholds (${[...thresholds].sort((a, b) => a - b).join('k, ')}k) are not supported`,
    };
  }
  const [thousands] = [...thresholds];
  if (thousands === undefined) return { standard, tiers };

  const above = `_above_${thousands}k_tokens`;
  const long: Partial<Record<RateField, Decimal>> = {};
  for (const field of RATE_FIELDS)
    long[field] = readCost(entry, `${BASE_FIELDS[field]}${above}`) ?? base[field];
  const longTiers: TierTable = { batch: toTierRates(withSuffix(entry, long, `${above}_batches`, halve)) };
  for (const tier of ['flex', 'priority'] as const) {
    if (RATE_FIELDS.some((field) => readCost(entry, `${BASE_FIELDS[field]}${above}_${tier}`) !== undefined)) {
      longTiers[tier] = toTierRates(withSuffix(entry, long, `${above}_${tier}`, same));
    }
  }
  return {
    standard,
    tiers,
    longContext: { threshold_tokens: thousands * 1000, rates: toTierRates(long), tiers: longTiers },
  };
}

const halve = (value: Decimal) => value.dividedBy(2);
const same = (value: Decimal) => value;

/**
 * Rates of a tier: `<base key><suffix>` where present, else `fallback(base value)`. The 1-hour
 * write key is itself a suffixed key, so its variants read `…_above_1hr_above_200k_tokens`.
 */
function withSuffix(
  entry: Entry,
  base: Partial<Record<RateField, Decimal>>,
  suffix: string,
  fallback: (value: Decimal) => Decimal,
): Partial<Record<RateField, Decimal>> {
  const out: Partial<Record<RateField, Decimal>> = {};
  for (const field of RATE_FIELDS) {
    const own = readCost(entry, `${BASE_FIELDS[field]}${suffix}`);
    const inherited = base[field];
    out[field] = own ?? (inherited === undefined ? undefined : fallback(inherited));
  }
  return out;
}

function toTierRates(values: Partial<Record<RateField, Decimal>>): TierRates {
  const { input, output } = values;
  if (input === undefined || output === undefined)
    throw new RangeError('a tier without input or output price');
  const rates: TierRates = { input: perMillion(input), output: perMillion(output) };
  if (values.cached_input !== undefined) rates.cached_input = perMillion(values.cached_input);
  if (values.cache_write !== undefined) rates.cache_write = perMillion(values.cache_write);
  if (values.cache_write_1h !== undefined) rates.cache_write_1h = perMillion(values.cache_write_1h);
  return rates;
}

function perMillion(perToken: Decimal): string {
  return toDecimalString(perToken.times(MILLION));
}

/** A per-token cost: absent → undefined; a non-negative number (or decimal string) → exact Decimal. */
function readCost(entry: Entry, field: string): Decimal | undefined {
  const value = entry[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw new RangeError(`"${field}" is not a number`);
  }
  let parsed: Decimal;
  try {
    parsed = parseDecimal(value);
  } catch {
    throw new RangeError(`"${field}" is not a number`);
  }
  if (parsed.isNegative()) throw new RangeError(`"${field}" is negative`);
  return parsed;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
