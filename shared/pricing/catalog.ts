import { parseDecimal, toDecimalString } from '../money/money.js';
import { type LongContext, type ModelPrice, priceId, type TierRates, type TierTable } from './types.js';

/**
 * Tollgate's built-in list prices, USD per 1M tokens, written by hand from the providers' pricing
 * pages as recorded in LiteLLM's public price table (snapshot of 2026-07-24, values ×1e6 exactly).
 * Where the table has no batch price and the provider's batch API is documented at half price
 * (OpenAI, Anthropic, Gemini API, Bedrock, Mistral) the batch tier is derived with `half`, the rule
 * LiteLLM itself applies. Deliberate departures from the table are commented where they occur.
 * Operators can load a newer LiteLLM file on top (litellm.ts); tenants add negotiated rates (override.ts).
 *
 * Effective dates are the models' public release dates (from the providers' announcements, not
 * re-checked against the pricing pages when this was written). Price history:
 * - openai gpt-4o: $5/$15 from 2024-05-13, $2.50/$10 from 2024-10-02 (real: the alias moved from
 *   gpt-4o-2024-05-13 to gpt-4o-2024-08-06 that day). Events naming gpt-4o-2024-08-06 between
 *   2024-08-06 and 2024-10-01 resolve to the alias and are priced $5/$15, which overstates them.
 * - openai o3: $10/$40 from 2025-04-16, $2/$8 from 2025-06-10 (real: OpenAI's 80% price cut).
 * Both are older than the 35-day ingestion window, so they matter only for re-pricing.
 */

const SOURCES = {
  openai: 'https://openai.com/api/pricing/',
  anthropic: 'https://docs.claude.com/en/docs/about-claude/pricing',
  google: 'https://ai.google.dev/gemini-api/docs/pricing',
  vertex: 'https://cloud.google.com/vertex-ai/generative-ai/pricing',
  bedrock: 'https://aws.amazon.com/bedrock/pricing/',
  azure: 'https://azure.microsoft.com/en-us/pricing/details/cognitive-services/openai-service/',
  mistral: 'https://mistral.ai/pricing',
} as const;

type Extras = Omit<TierRates, 'input' | 'output'>;

function rates(input: string, output: string, extras: Extras = {}): TierRates {
  return { input, output, ...extras };
}

/** Half of every rate: the documented batch discount where the table carries no batch price. */
function half(full: TierRates): TierRates {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(full)) {
    if (value !== undefined) out[field] = toDecimalString(parseDecimal(value).dividedBy(2));
  }
  return out as TierRates;
}

function price(
  provider: string,
  model: string,
  date: string,
  source: string,
  standard: TierRates,
  extra: { tiers?: TierTable; long_context?: LongContext } = {},
): ModelPrice {
  const effectiveFrom = `${date}T00:00:00Z`;
  return {
    price_id: priceId('builtin', provider, model, effectiveFrom),
    provider,
    model,
    effective_from: effectiveFrom,
    source,
    rates: standard,
    tiers: extra.tiers ?? {},
    ...(extra.long_context ? { long_context: extra.long_context } : {}),
  };
}

// OpenAI --------------------------------------------------------------------------------------

const openai = (model: string, date: string, standard: TierRates, extra?: Parameters<typeof price>[5]) =>
  price('openai', model, date, SOURCES.openai, standard, extra);

const gpt4o = rates('2.5', '10', { cached_input: '1.25' });
const o3 = rates('2', '8', { cached_input: '0.5' });
const o3Launch = rates('10', '40', { cached_input: '2.5' });
const gpt5 = rates('1.25', '10', { cached_input: '0.125' });
const gpt5Mini = rates('0.25', '2', { cached_input: '0.025' });
const gpt5Nano = rates('0.05', '0.4', { cached_input: '0.005' });
const gpt54 = rates('2.5', '15', { cached_input: '0.25' });
const gpt54Mini = rates('0.75', '4.5', { cached_input: '0.075' });

const OPENAI_PRICES: ModelPrice[] = [
  openai('gpt-4o', '2024-05-13', rates('5', '15'), { tiers: { batch: rates('2.5', '7.5') } }),
  // Priority processing arrived in 2025; this catalog does not date tiers separately from the price.
  openai('gpt-4o', '2024-10-02', gpt4o, {
    tiers: { batch: half(gpt4o), priority: rates('4.25', '17', { cached_input: '2.125' }) },
  }),
  openai('gpt-4o-2024-05-13', '2024-05-13', rates('5', '15'), {
    tiers: { batch: rates('2.5', '7.5'), priority: rates('8.75', '26.25') },
  }),
  openai('gpt-4o-mini', '2024-07-18', rates('0.15', '0.6', { cached_input: '0.075' }), {
    tiers: {
      batch: rates('0.075', '0.3', { cached_input: '0.0375' }),
      priority: rates('0.25', '1', { cached_input: '0.125' }),
    },
  }),
  openai('gpt-4.1', '2025-04-14', rates('2', '8', { cached_input: '0.5' }), {
    tiers: {
      batch: rates('1', '4', { cached_input: '0.25' }),
      priority: rates('3.5', '14', { cached_input: '0.875' }),
    },
  }),
  openai('gpt-4.1-mini', '2025-04-14', rates('0.4', '1.6', { cached_input: '0.1' }), {
    tiers: {
      batch: rates('0.2', '0.8', { cached_input: '0.05' }),
      priority: rates('0.7', '2.8', { cached_input: '0.175' }),
    },
  }),
  openai('gpt-4.1-nano', '2025-04-14', rates('0.1', '0.4', { cached_input: '0.025' }), {
    tiers: {
      batch: rates('0.05', '0.2', { cached_input: '0.0125' }),
      priority: rates('0.2', '0.8', { cached_input: '0.05' }),
    },
  }),
  openai('o1', '2024-12-17', rates('15', '60', { cached_input: '7.5' }), {
    tiers: { batch: half(rates('15', '60', { cached_input: '7.5' })) },
  }),
  openai('o3', '2025-04-16', o3Launch, { tiers: { batch: half(o3Launch) } }),
  openai('o3', '2025-06-10', o3, {
    tiers: { batch: half(o3), flex: half(o3), priority: rates('3.5', '14', { cached_input: '0.875' }) },
  }),
  openai('o3-mini', '2025-01-31', rates('1.1', '4.4', { cached_input: '0.55' }), {
    tiers: { batch: half(rates('1.1', '4.4', { cached_input: '0.55' })) },
  }),
  openai('o4-mini', '2025-04-16', rates('1.1', '4.4', { cached_input: '0.275' }), {
    tiers: {
      batch: rates('0.55', '2.2', { cached_input: '0.1375' }),
      flex: rates('0.55', '2.2', { cached_input: '0.1375' }),
      priority: rates('2', '8', { cached_input: '0.5' }),
    },
  }),
  openai('gpt-5', '2025-08-07', gpt5, {
    tiers: { batch: half(gpt5), flex: half(gpt5), priority: rates('2.5', '20', { cached_input: '0.25' }) },
  }),
  openai('gpt-5-mini', '2025-08-07', gpt5Mini, {
    tiers: {
      batch: half(gpt5Mini),
      flex: half(gpt5Mini),
      priority: rates('0.45', '3.6', { cached_input: '0.045' }),
    },
  }),
  // The table's gpt-5-nano priority input ($2.50, no output price) is an evident error: not carried over.
  openai('gpt-5-nano', '2025-08-07', gpt5Nano, { tiers: { batch: half(gpt5Nano), flex: half(gpt5Nano) } }),
  openai('gpt-5.1', '2025-11-13', gpt5, {
    tiers: { batch: half(gpt5), priority: rates('2.5', '20', { cached_input: '0.25' }) },
  }),
  openai('gpt-5.2', '2025-12-11', rates('1.75', '14', { cached_input: '0.175' }), {
    tiers: {
      batch: half(rates('1.75', '14', { cached_input: '0.175' })),
      priority: rates('3.5', '28', { cached_input: '0.35' }),
    },
  }),
  openai('gpt-5.4', '2026-03-05', gpt54, {
    tiers: {
      batch: rates('1.25', '7.5', { cached_input: '0.125' }),
      flex: rates('1.25', '7.5', { cached_input: '0.13' }),
      priority: rates('5', '30', { cached_input: '0.5' }),
    },
    long_context: { threshold_tokens: 272_000, rates: rates('5', '22.5', { cached_input: '0.5' }) },
  }),
  openai('gpt-5.4-mini', '2026-03-17', gpt54Mini, {
    tiers: {
      batch: half(gpt54Mini),
      flex: rates('0.375', '2.25', { cached_input: '0.0375' }),
      priority: rates('1.5', '9', { cached_input: '0.15' }),
    },
  }),
];

// Anthropic -----------------------------------------------------------------------------------
// Cache reads 0.1×, 5-minute writes 1.25×, 1-hour writes 2× the input rate; batch halves everything,
// long-context rates included.

function claude(
  provider: string,
  model: string,
  date: string,
  source: string,
  standard: TierRates,
  longContext?: TierRates,
  batch: TierRates = half(standard),
): ModelPrice {
  return price(provider, model, date, source, standard, {
    tiers: { batch },
    ...(longContext
      ? {
          long_context: {
            threshold_tokens: 200_000,
            rates: longContext,
            tiers: { batch: half(longContext) },
          },
        }
      : {}),
  });
}

const sonnet = rates('3', '15', { cached_input: '0.3', cache_write: '3.75', cache_write_1h: '6' });
const sonnetLong = rates('6', '22.5', { cached_input: '0.6', cache_write: '7.5', cache_write_1h: '12' });
const opus4 = rates('15', '75', { cached_input: '1.5', cache_write: '18.75', cache_write_1h: '30' });
const opus45 = rates('5', '25', { cached_input: '0.5', cache_write: '6.25', cache_write_1h: '10' });
const haiku45 = rates('1', '5', { cached_input: '0.1', cache_write: '1.25', cache_write_1h: '2' });
// The table has no 1-hour write price for the 3.5 models; Anthropic's 2× input rule gives these.
const sonnet35 = rates('3', '15', { cached_input: '0.3', cache_write: '3.75', cache_write_1h: '6' });
const haiku35 = rates('0.8', '4', { cached_input: '0.08', cache_write: '1', cache_write_1h: '1.6' });

const anthropic = (model: string, date: string, standard: TierRates, longContext?: TierRates) =>
  claude('anthropic', model, date, SOURCES.anthropic, standard, longContext);

const ANTHROPIC_PRICES: ModelPrice[] = [
  anthropic('claude-3-5-haiku', '2024-11-04', haiku35),
  anthropic('claude-3-5-sonnet', '2024-06-20', sonnet35),
  anthropic('claude-3-7-sonnet', '2025-02-24', sonnet),
  // The table lists Sonnet 4's >200k 1-hour write price only for Sonnet 4.5 ($12); same structure, same price.
  anthropic('claude-sonnet-4', '2025-05-22', sonnet, sonnetLong),
  anthropic('claude-opus-4', '2025-05-22', opus4),
  anthropic('claude-opus-4-1', '2025-08-05', opus4),
  anthropic('claude-sonnet-4-5', '2025-09-29', sonnet, sonnetLong),
  anthropic('claude-haiku-4-5', '2025-10-15', haiku45),
  anthropic('claude-opus-4-5', '2025-11-24', opus45),
  anthropic('claude-opus-4-6', '2026-02-05', opus45),
];

// Google --------------------------------------------------------------------------------------

const google = (model: string, date: string, standard: TierRates, extra?: Parameters<typeof price>[5]) =>
  price('google', model, date, SOURCES.google, standard, extra);

const gemini25Pro = rates('1.25', '10', { cached_input: '0.125' });
const gemini25ProLong = rates('2.5', '15', { cached_input: '0.25' });
const gemini25Flash = rates('0.3', '2.5', { cached_input: '0.03' });
const gemini25FlashLite = rates('0.1', '0.4', { cached_input: '0.01' });
const gemini20Flash = rates('0.1', '0.4', { cached_input: '0.025' });
const gemini20FlashLite = rates('0.075', '0.3', { cached_input: '0.01875' });
const gemini3Pro = rates('2', '12', { cached_input: '0.2' });
const gemini3ProLong = rates('4', '18', { cached_input: '0.4' });

const GOOGLE_PRICES: ModelPrice[] = [
  google('gemini-2.0-flash', '2025-02-05', gemini20Flash, { tiers: { batch: half(gemini20Flash) } }),
  google('gemini-2.0-flash-lite', '2025-02-25', gemini20FlashLite, {
    tiers: { batch: half(gemini20FlashLite) },
  }),
  google('gemini-2.5-pro', '2025-06-17', gemini25Pro, {
    tiers: { batch: half(gemini25Pro) },
    long_context: {
      threshold_tokens: 200_000,
      rates: gemini25ProLong,
      tiers: { batch: half(gemini25ProLong) },
    },
  }),
  google('gemini-2.5-flash', '2025-06-17', gemini25Flash, { tiers: { batch: half(gemini25Flash) } }),
  google('gemini-2.5-flash-lite', '2025-07-22', gemini25FlashLite, {
    tiers: { batch: half(gemini25FlashLite) },
  }),
  google('gemini-3-pro-preview', '2025-11-18', gemini3Pro, {
    tiers: {
      // Batch input and output from the table; the cached batch price halved with them.
      batch: rates('1', '6', { cached_input: '0.1' }),
      priority: rates('3.6', '21.6', { cached_input: '0.36' }),
    },
    long_context: {
      threshold_tokens: 200_000,
      rates: gemini3ProLong,
      tiers: { priority: rates('7.2', '32.4', { cached_input: '0.72' }) },
    },
  }),
  // Claude on Vertex AI is billed by Google at Anthropic's global-endpoint prices.
  claude('google', 'claude-sonnet-4-5', '2025-09-29', SOURCES.vertex, sonnet, sonnetLong),
  claude('google', 'claude-haiku-4-5', '2025-10-15', SOURCES.vertex, haiku45),
];

// AWS Bedrock ---------------------------------------------------------------------------------
// Keyed by model id without version and date (anthropic.claude-3-5-sonnet-20241022-v2:0 resolves
// to anthropic.claude-3-5-sonnet). Geographic inference profiles (us., eu.) of the newer Claude
// models carry a 10% regional premium and have their own entries; other profiles resolve to the base.

const bedrock = (model: string, date: string, standard: TierRates, longContext?: TierRates) =>
  claude('bedrock', model, date, SOURCES.bedrock, standard, longContext);
const nova = (model: string, date: string, standard: TierRates) =>
  price('bedrock', model, date, SOURCES.bedrock, standard, { tiers: { batch: half(standard) } });

// The table has no 1-hour write price for these on Bedrock: they fall back to the 5-minute price.
const bedrockSonnetLegacy = rates('3', '15', { cached_input: '0.3', cache_write: '3.75' });
const bedrockSonnet4Long = rates('6', '22.5', { cached_input: '0.6', cache_write: '7.5' });
const bedrockUsSonnet45 = rates('3.3', '16.5', {
  cached_input: '0.33',
  cache_write: '4.125',
  cache_write_1h: '6.6',
});
const bedrockUsSonnet45Long = rates('6.6', '24.75', {
  cached_input: '0.66',
  cache_write: '8.25',
  cache_write_1h: '13.2',
});
const bedrockUsHaiku45 = rates('1.1', '5.5', {
  cached_input: '0.11',
  cache_write: '1.375',
  cache_write_1h: '2.2',
});

const BEDROCK_PRICES: ModelPrice[] = [
  bedrock(
    'anthropic.claude-3-5-haiku',
    '2024-11-04',
    rates('0.8', '4', { cached_input: '0.08', cache_write: '1' }),
  ),
  // The table's >200k prices for 3.5 Sonnet are left out: its context window is 200k, so they never apply.
  bedrock('anthropic.claude-3-5-sonnet', '2024-06-20', bedrockSonnetLegacy),
  bedrock('anthropic.claude-3-7-sonnet', '2025-02-24', bedrockSonnetLegacy),
  bedrock('anthropic.claude-sonnet-4', '2025-05-22', bedrockSonnetLegacy, bedrockSonnet4Long),
  bedrock('anthropic.claude-sonnet-4-5', '2025-09-29', sonnet, sonnetLong),
  bedrock('us.anthropic.claude-sonnet-4-5', '2025-09-29', bedrockUsSonnet45, bedrockUsSonnet45Long),
  bedrock('eu.anthropic.claude-sonnet-4-5', '2025-09-29', bedrockUsSonnet45, bedrockUsSonnet45Long),
  bedrock('anthropic.claude-haiku-4-5', '2025-10-15', haiku45),
  bedrock('us.anthropic.claude-haiku-4-5', '2025-10-15', bedrockUsHaiku45),
  bedrock(
    'anthropic.claude-opus-4-1',
    '2025-08-05',
    rates('15', '75', { cached_input: '1.5', cache_write: '18.75' }),
  ),
  nova('amazon.nova-micro', '2024-12-03', rates('0.035', '0.14')),
  nova('amazon.nova-lite', '2024-12-03', rates('0.06', '0.24')),
  nova('amazon.nova-pro', '2024-12-03', rates('0.8', '3.2')),
  // Only served through US inference profiles; the table lists it as us.amazon.nova-premier-v1:0.
  nova('amazon.nova-premier', '2025-04-30', rates('2.5', '12.5')),
];

// Azure OpenAI --------------------------------------------------------------------------------
// Standard (regional) deployment prices as the table lists them; dated like the OpenAI releases.
// Models not listed here fall back to OpenAI's price in the PriceBook (see price-book.ts).

const azure = (model: string, date: string, standard: TierRates, tiers: TierTable = {}) =>
  price('azure', model, date, SOURCES.azure, standard, { tiers });

const azure41 = rates('2', '8', { cached_input: '0.5' });
const azure41Mini = rates('0.4', '1.6', { cached_input: '0.1' });
const azure41Nano = rates('0.1', '0.4', { cached_input: '0.025' });

const AZURE_PRICES: ModelPrice[] = [
  azure('gpt-4o', '2024-10-02', gpt4o),
  azure('gpt-4o-mini', '2024-07-18', rates('0.165', '0.66', { cached_input: '0.075' })),
  // The table's batch input and output are half price; the cached batch price is halved with them.
  azure('gpt-4.1', '2025-04-14', azure41, { batch: half(azure41) }),
  azure('gpt-4.1-mini', '2025-04-14', azure41Mini, { batch: half(azure41Mini) }),
  azure('gpt-4.1-nano', '2025-04-14', azure41Nano, { batch: half(azure41Nano) }),
  azure('o3-mini', '2025-01-31', rates('1.1', '4.4', { cached_input: '0.55' })),
  azure('o3', '2025-06-10', o3),
  azure('o4-mini', '2025-04-16', rates('1.1', '4.4', { cached_input: '0.275' })),
  azure('gpt-5', '2025-08-07', gpt5),
  azure('gpt-5-mini', '2025-08-07', gpt5Mini),
];

// Mistral -------------------------------------------------------------------------------------

const mistral = (model: string, date: string, standard: TierRates) =>
  price('mistral', model, date, SOURCES.mistral, standard, { tiers: { batch: half(standard) } });

const MISTRAL_PRICES: ModelPrice[] = [
  // Mistral Large 3 (mistral-large-2512) is what the -latest alias serves.
  mistral('mistral-large-latest', '2025-12-02', rates('0.5', '1.5')),
  mistral('mistral-large-2411', '2024-11-18', rates('2', '6')),
  mistral('mistral-medium-2508', '2025-08-12', rates('0.4', '2')),
  mistral('mistral-small-latest', '2025-06-20', rates('0.06', '0.18')),
  // The table's codestral-latest ($1/$3) is the retired 2405 price; the alias serves Codestral 25.08.
  mistral('codestral-latest', '2025-07-30', rates('0.3', '0.9')),
  mistral('codestral-2508', '2025-07-30', rates('0.3', '0.9')),
  mistral('magistral-medium-latest', '2025-06-10', rates('2', '5')),
  mistral('magistral-small-latest', '2025-06-10', rates('0.5', '1.5')),
];

/** Every built-in price, in catalog order. */
export const BUILTIN_PRICES: readonly ModelPrice[] = [
  ...OPENAI_PRICES,
  ...ANTHROPIC_PRICES,
  ...GOOGLE_PRICES,
  ...BEDROCK_PRICES,
  ...AZURE_PRICES,
  ...MISTRAL_PRICES,
];
