import { z } from 'zod';
import type { FieldError } from '../errors/errors.js';
import { type CanonicalUsage, type ServiceTier, usageErrors } from './canonical.js';

/**
 * Maps the `usage` object a provider returns in an API response onto Tollgate's disjoint buckets.
 *
 * Providers disagree on what their totals include, and that is where double counting comes from:
 * - OpenAI / Azure / Mistral `prompt_tokens` (Responses: `input_tokens`) INCLUDE cache reads and writes;
 * - Anthropic `input_tokens` and Bedrock `inputTokens` EXCLUDE them (they are reported beside it);
 * - Gemini `promptTokenCount` INCLUDES `cachedContentTokenCount`, while `candidatesTokenCount`
 *   EXCLUDES `thoughtsTokenCount` (billed as output) and `toolUsePromptTokenCount` is extra input.
 * Source: ../shared/reference/provider-apis.md §5 and its normalisation map §5.6.
 */

export const RAW_USAGE_PROVIDERS = ['openai', 'azure', 'anthropic', 'google', 'bedrock', 'mistral'] as const;
export type RawUsageProvider = (typeof RAW_USAGE_PROVIDERS)[number];

export type UsageFormat =
  | 'openai.chat_completions'
  | 'openai.responses'
  | 'anthropic.messages'
  | 'google.usage_metadata'
  | 'bedrock.converse'
  | 'bedrock.invocation_metrics';

export type ProviderUsageResult =
  | {
      ok: true;
      usage: CanonicalUsage;
      format: UsageFormat;
      /** The tier the object itself reports (Anthropic `usage.service_tier`, OpenAI `service_tier`), if any. */
      service_tier?: ServiceTier;
    }
  | { ok: false; errors: FieldError[] };

export interface MapProviderUsageOptions {
  /** Prefix for error paths, e.g. "raw_usage" or "events[3].raw_usage". */
  path?: string;
}

const countError = (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : 'must be a non-negative integer';
// At most a billion, as canonical counts (usage/schema.ts): the KPI sums stay exact integers.
const requiredCount = z
  .int({ error: countError })
  .min(0, { error: 'must be a non-negative integer' })
  .max(1_000_000_000, { error: 'must be at most 1,000,000,000' });
const optionalCount = requiredCount.nullish();
const details = <T extends z.ZodRawShape>(shape: T) =>
  z.object(shape, { error: 'must be an object' }).nullish();

const OpenAIChatUsageSchema = z.object({
  prompt_tokens: requiredCount,
  completion_tokens: requiredCount,
  prompt_tokens_details: details({ cached_tokens: optionalCount, cache_write_tokens: optionalCount }),
  completion_tokens_details: details({ reasoning_tokens: optionalCount }),
});

const OpenAIResponsesUsageSchema = z.object({
  input_tokens: requiredCount,
  output_tokens: requiredCount,
  input_tokens_details: details({ cached_tokens: optionalCount, cache_write_tokens: optionalCount }),
  output_tokens_details: details({ reasoning_tokens: optionalCount }),
});

const AnthropicUsageSchema = z.object({
  input_tokens: requiredCount,
  output_tokens: requiredCount,
  cache_read_input_tokens: optionalCount,
  cache_creation_input_tokens: optionalCount,
  cache_creation: details({
    ephemeral_5m_input_tokens: optionalCount,
    ephemeral_1h_input_tokens: optionalCount,
  }),
  output_tokens_details: details({ thinking_tokens: optionalCount }),
  service_tier: z.string().nullish().catch(undefined),
});

const GeminiUsageMetadataSchema = z.object({
  promptTokenCount: requiredCount,
  // Gemini omits zero counts, so everything but the prompt may be missing.
  candidatesTokenCount: optionalCount,
  thoughtsTokenCount: optionalCount,
  toolUsePromptTokenCount: optionalCount,
  cachedContentTokenCount: optionalCount,
});

const BedrockConverseUsageSchema = z.object({
  inputTokens: requiredCount,
  outputTokens: requiredCount,
  cacheReadInputTokens: optionalCount,
  cacheWriteInputTokens: optionalCount,
  cacheDetails: z
    .array(
      z.object(
        {
          ttl: z.enum(['5m', '1h'], { error: 'must be "5m" or "1h" (the cache TTLs Bedrock prices)' }),
          inputTokens: requiredCount,
        },
        { error: 'must be an object' },
      ),
      { error: 'must be an array' },
    )
    .nullish(),
});

const BedrockInvocationMetricsSchema = z.object({
  inputTokenCount: requiredCount,
  outputTokenCount: requiredCount,
  cacheReadInputTokenCount: optionalCount,
  cacheWriteInputTokenCount: optionalCount,
});

type Shape =
  | 'openai.chat'
  | 'openai.responses'
  | 'anthropic'
  | 'gemini'
  | 'bedrock.converse'
  | 'bedrock.metrics';

// The keys that identify each shape; at least one must be present for the shape to be chosen.
const SHAPE_KEYS: Record<Shape, readonly string[]> = {
  'openai.chat': ['prompt_tokens', 'completion_tokens'],
  'openai.responses': ['input_tokens', 'output_tokens'],
  anthropic: ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'],
  gemini: ['promptTokenCount', 'candidatesTokenCount', 'thoughtsTokenCount', 'cachedContentTokenCount'],
  'bedrock.converse': ['inputTokens', 'outputTokens', 'cacheReadInputTokens', 'cacheWriteInputTokens'],
  'bedrock.metrics': ['inputTokenCount', 'outputTokenCount'],
};

// What each provider may send: Claude through Vertex AI or Bedrock InvokeModel returns Anthropic's own usage.
const PROVIDER_SHAPES: Record<RawUsageProvider, readonly Shape[]> = {
  openai: ['openai.chat', 'openai.responses'],
  azure: ['openai.chat', 'openai.responses'],
  mistral: ['openai.chat'],
  anthropic: ['anthropic'],
  google: ['gemini', 'anthropic'],
  bedrock: ['bedrock.converse', 'bedrock.metrics', 'anthropic'],
};

// Keys only Anthropic's object has: seen under an OpenAI-style provider they mean the wrong provider
// was named, and reading input_tokens as inclusive would silently drop the cache tokens.
const ANTHROPIC_ONLY_KEYS = ['cache_read_input_tokens', 'cache_creation_input_tokens', 'cache_creation'];
// (Anthropic has an output_tokens_details too, with thinking_tokens; input_tokens_details is OpenAI's alone.)
const OPENAI_RESPONSES_ONLY_KEYS = ['input_tokens_details'];

// Whole responses are accepted too: the usage object is found one level down under these keys.
const ENVELOPE_KEYS = ['usage', 'usageMetadata', 'amazon-bedrock-invocationMetrics'] as const;

type Candidate = { shape: Shape; object: Record<string, unknown>; path: string };

/** True for the providers whose raw usage objects Tollgate can map. */
export function isRawUsageProvider(provider: string): provider is RawUsageProvider {
  return (RAW_USAGE_PROVIDERS as readonly string[]).includes(provider);
}

/** Maps a provider's own usage object (or the whole response holding it) to canonical disjoint buckets. */
export function mapProviderUsage(
  provider: string,
  raw: unknown,
  options: MapProviderUsageOptions = {},
): ProviderUsageResult {
  const base = options.path ?? '';
  const fail = (path: string, message: string): ProviderUsageResult => ({
    ok: false,
    errors: [{ path: joinPath(base, path), message }],
  });
  if (!isRawUsageProvider(provider)) {
    return fail(
      '',
      `raw usage objects are not supported for provider "${provider}" (supported: ${RAW_USAGE_PROVIDERS.join(', ')}); send canonical usage instead`,
    );
  }
  if (!isPlainObject(raw)) return fail('', 'must be a JSON object');

  const found = findUsageObject(provider, raw);
  if ('error' in found) return fail(found.path, found.error);

  const mapped = mapShape(found.candidate);
  if (!mapped.ok) {
    return { ok: false, errors: mapped.errors.map((e) => ({ ...e, path: joinPath(base, e.path) })) };
  }
  const invariantErrors = usageErrors(mapped.usage);
  if (invariantErrors.length > 0) {
    return {
      ok: false,
      errors: invariantErrors.map((e) => ({
        path: joinPath(base, found.candidate.path),
        message: `maps to an inconsistent usage: ${e.path} ${e.message}`,
      })),
    };
  }
  const tier = mapped.tier ?? envelopeTier(raw, found.candidate);
  return {
    ok: true,
    usage: mapped.usage,
    format: FORMAT[found.candidate.shape],
    ...(tier ? { service_tier: tier } : {}),
  };
}

const FORMAT: Record<Shape, UsageFormat> = {
  'openai.chat': 'openai.chat_completions',
  'openai.responses': 'openai.responses',
  anthropic: 'anthropic.messages',
  gemini: 'google.usage_metadata',
  'bedrock.converse': 'bedrock.converse',
  'bedrock.metrics': 'bedrock.invocation_metrics',
};

const EXPECTED: Record<RawUsageProvider, string> = {
  openai:
    'a Chat Completions usage (prompt_tokens, completion_tokens) or a Responses usage (input_tokens, output_tokens)',
  azure:
    'a Chat Completions usage (prompt_tokens, completion_tokens) or a Responses usage (input_tokens, output_tokens)',
  mistral: 'a chat completion usage (prompt_tokens, completion_tokens)',
  anthropic: 'a Messages usage (input_tokens, output_tokens, cache_*_input_tokens)',
  google:
    'a Gemini usageMetadata (promptTokenCount, candidatesTokenCount, …) or, for Claude on Vertex AI, an Anthropic usage',
  bedrock:
    'a Converse usage (inputTokens, outputTokens, …), invocation metrics (inputTokenCount, …) or, for Claude through InvokeModel, an Anthropic usage',
};

function findUsageObject(
  provider: RawUsageProvider,
  raw: Record<string, unknown>,
): { candidate: Candidate } | { error: string; path: string } {
  const direct = detectShape(provider, raw, '');
  if (direct) return direct;
  for (const key of ENVELOPE_KEYS) {
    const inner = raw[key];
    if (isPlainObject(inner)) {
      const nested = detectShape(provider, inner, key);
      if (nested) return nested;
    }
  }
  return { error: `is not a recognised ${provider} usage object: expected ${EXPECTED[provider]}`, path: '' };
}

function detectShape(
  provider: RawUsageProvider,
  object: Record<string, unknown>,
  path: string,
): { candidate: Candidate } | { error: string; path: string } | undefined {
  const present = (keys: readonly string[]) => keys.some((key) => object[key] !== undefined);
  const shapes = PROVIDER_SHAPES[provider].filter((shape) => present(SHAPE_KEYS[shape]));
  if (shapes.length === 0) return undefined;

  const openAILike = provider === 'openai' || provider === 'azure' || provider === 'mistral';
  if (openAILike && present(ANTHROPIC_ONLY_KEYS)) {
    return {
      path,
      error: `has Anthropic cache fields (cache_read_input_tokens / cache_creation_input_tokens): this looks like an Anthropic usage object, not ${provider}'s`,
    };
  }
  if (
    shapes.every((s) => s === 'anthropic') &&
    present(OPENAI_RESPONSES_ONLY_KEYS) &&
    !present(ANTHROPIC_ONLY_KEYS)
  ) {
    return {
      path,
      error:
        'has input_tokens_details: this looks like an OpenAI Responses usage object, not an Anthropic one',
    };
  }
  // Two formats' fields in one object (Chat and Responses, Converse and Anthropic…) leave it
  // unclear which totals include what: refuse rather than guess.
  const [chosen, ...others] = shapes;
  if (!chosen || others.length > 0) {
    return {
      path,
      error: `mixes the fields of two usage formats (${shapes.map((s) => SHAPE_KEYS[s].join('/')).join(' and ')}); send one`,
    };
  }
  return { candidate: { shape: chosen, object, path } };
}

type Mapped = { ok: true; usage: CanonicalUsage; tier?: ServiceTier } | { ok: false; errors: FieldError[] };

function mapShape(candidate: Candidate): Mapped {
  switch (candidate.shape) {
    case 'openai.chat':
      return mapOpenAIChat(candidate);
    case 'openai.responses':
      return mapOpenAIResponses(candidate);
    case 'anthropic':
      return mapAnthropic(candidate);
    case 'gemini':
      return mapGemini(candidate);
    case 'bedrock.converse':
      return mapBedrockConverse(candidate);
    case 'bedrock.metrics':
      return mapBedrockMetrics(candidate);
  }
}

function parseWith<T>(
  schema: z.ZodType<T>,
  candidate: Candidate,
): { ok: true; data: T } | { ok: false; errors: FieldError[] } {
  const result = schema.safeParse(candidate.object);
  if (result.success) return { ok: true, data: result.data };
  return {
    ok: false,
    errors: result.error.issues.map((issue) => ({
      path: joinPath(candidate.path, formatPath(issue.path)),
      message: issue.message,
    })),
  };
}

/** OpenAI Chat Completions (and Azure, Mistral): prompt_tokens includes cache reads and writes. */
function mapOpenAIChat(candidate: Candidate): Mapped {
  const parsed = parseWith(OpenAIChatUsageSchema, candidate);
  if (!parsed.ok) return parsed;
  const u = parsed.data;
  return inclusiveInput(candidate.path, {
    total: u.prompt_tokens,
    totalField: 'prompt_tokens',
    detailsField: 'prompt_tokens_details',
    cached: u.prompt_tokens_details?.cached_tokens ?? 0,
    cacheWrite: u.prompt_tokens_details?.cache_write_tokens ?? 0,
    output: u.completion_tokens,
    outputField: 'completion_tokens',
    reasoning: u.completion_tokens_details?.reasoning_tokens ?? 0,
    reasoningPath: 'completion_tokens_details.reasoning_tokens',
  });
}

/** OpenAI Responses API: input_tokens includes cache reads and writes, like prompt_tokens. */
function mapOpenAIResponses(candidate: Candidate): Mapped {
  const parsed = parseWith(OpenAIResponsesUsageSchema, candidate);
  if (!parsed.ok) return parsed;
  const u = parsed.data;
  return inclusiveInput(candidate.path, {
    total: u.input_tokens,
    totalField: 'input_tokens',
    detailsField: 'input_tokens_details',
    cached: u.input_tokens_details?.cached_tokens ?? 0,
    cacheWrite: u.input_tokens_details?.cache_write_tokens ?? 0,
    output: u.output_tokens,
    outputField: 'output_tokens',
    reasoning: u.output_tokens_details?.reasoning_tokens ?? 0,
    reasoningPath: 'output_tokens_details.reasoning_tokens',
  });
}

function inclusiveInput(
  path: string,
  f: {
    total: number;
    totalField: string;
    detailsField: string;
    cached: number;
    cacheWrite: number;
    output: number;
    outputField: string;
    reasoning: number;
    reasoningPath: string;
  },
): Mapped {
  const errors: FieldError[] = [];
  if (f.cached + f.cacheWrite > f.total) {
    errors.push({
      path: joinPath(path, `${f.detailsField}.cached_tokens`),
      message: `cached_tokens (${f.cached}) + cache_write_tokens (${f.cacheWrite}) cannot exceed ${f.totalField} (${f.total}), which includes them`,
    });
  }
  if (f.reasoning > f.output) {
    errors.push({
      path: joinPath(path, f.reasoningPath),
      message: `reasoning_tokens (${f.reasoning}) cannot exceed ${f.outputField} (${f.output}), which includes them`,
    });
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    usage: {
      input_tokens: f.total - f.cached - f.cacheWrite,
      cached_input_tokens: f.cached,
      cache_write_tokens: f.cacheWrite,
      cache_write_1h_tokens: 0,
      output_tokens: f.output,
      reasoning_tokens: f.reasoning,
    },
  };
}

/** Anthropic Messages: input_tokens excludes cache reads and writes, which are reported beside it. */
function mapAnthropic(candidate: Candidate): Mapped {
  const parsed = parseWith(AnthropicUsageSchema, candidate);
  if (!parsed.ok) return parsed;
  const u = parsed.data;
  const errors: FieldError[] = [];
  const split = u.cache_creation;
  const hasSplit =
    split != null && (split.ephemeral_5m_input_tokens != null || split.ephemeral_1h_input_tokens != null);
  let write5m = u.cache_creation_input_tokens ?? 0;
  let write1h = 0;
  if (hasSplit) {
    write5m = split?.ephemeral_5m_input_tokens ?? 0;
    write1h = split?.ephemeral_1h_input_tokens ?? 0;
    if (u.cache_creation_input_tokens != null && write5m + write1h !== u.cache_creation_input_tokens) {
      errors.push({
        path: joinPath(candidate.path, 'cache_creation'),
        message: `ephemeral_5m_input_tokens (${write5m}) + ephemeral_1h_input_tokens (${write1h}) must equal cache_creation_input_tokens (${u.cache_creation_input_tokens})`,
      });
    }
  }
  const thinking = u.output_tokens_details?.thinking_tokens ?? 0;
  if (thinking > u.output_tokens) {
    errors.push({
      path: joinPath(candidate.path, 'output_tokens_details.thinking_tokens'),
      message: `thinking_tokens (${thinking}) cannot exceed output_tokens (${u.output_tokens}), which includes them`,
    });
  }
  if (errors.length > 0) return { ok: false, errors };
  const tier = anthropicTier(u.service_tier);
  return {
    ok: true,
    usage: {
      input_tokens: u.input_tokens,
      cached_input_tokens: u.cache_read_input_tokens ?? 0,
      cache_write_tokens: write5m,
      cache_write_1h_tokens: write1h,
      output_tokens: u.output_tokens,
      reasoning_tokens: thinking,
    },
    ...(tier ? { tier } : {}),
  };
}

/** Gemini usageMetadata: prompt includes cached content; thoughts are billed output outside candidates. */
function mapGemini(candidate: Candidate): Mapped {
  const parsed = parseWith(GeminiUsageMetadataSchema, candidate);
  if (!parsed.ok) return parsed;
  const u = parsed.data;
  const cached = u.cachedContentTokenCount ?? 0;
  if (cached > u.promptTokenCount) {
    return {
      ok: false,
      errors: [
        {
          path: joinPath(candidate.path, 'cachedContentTokenCount'),
          message: `cachedContentTokenCount (${cached}) cannot exceed promptTokenCount (${u.promptTokenCount}), which includes it`,
        },
      ],
    };
  }
  const thoughts = u.thoughtsTokenCount ?? 0;
  return {
    ok: true,
    usage: {
      // Tool-use prompt tokens are not inside promptTokenCount and are billed at the input rate.
      input_tokens: u.promptTokenCount - cached + (u.toolUsePromptTokenCount ?? 0),
      cached_input_tokens: cached,
      cache_write_tokens: 0,
      cache_write_1h_tokens: 0,
      output_tokens: (u.candidatesTokenCount ?? 0) + thoughts,
      reasoning_tokens: thoughts,
    },
  };
}

/** Bedrock Converse TokenUsage: inputTokens excludes cache reads and writes. */
function mapBedrockConverse(candidate: Candidate): Mapped {
  const parsed = parseWith(BedrockConverseUsageSchema, candidate);
  if (!parsed.ok) return parsed;
  const u = parsed.data;
  let write5m = u.cacheWriteInputTokens ?? 0;
  let write1h = 0;
  if (u.cacheDetails && u.cacheDetails.length > 0) {
    write5m = 0;
    for (const detail of u.cacheDetails) {
      if (detail.ttl === '1h') write1h += detail.inputTokens;
      else write5m += detail.inputTokens;
    }
    if (u.cacheWriteInputTokens != null && write5m + write1h !== u.cacheWriteInputTokens) {
      return {
        ok: false,
        errors: [
          {
            path: joinPath(candidate.path, 'cacheDetails'),
            message: `the cacheDetails inputTokens (${write5m + write1h}) must add up to cacheWriteInputTokens (${u.cacheWriteInputTokens})`,
          },
        ],
      };
    }
  }
  return {
    ok: true,
    usage: {
      input_tokens: u.inputTokens,
      cached_input_tokens: u.cacheReadInputTokens ?? 0,
      cache_write_tokens: write5m,
      cache_write_1h_tokens: write1h,
      output_tokens: u.outputTokens,
      reasoning_tokens: 0,
    },
  };
}

/** Bedrock InvokeModel stream invocation metrics: same exclusive semantics as Converse, no TTL split. */
function mapBedrockMetrics(candidate: Candidate): Mapped {
  const parsed = parseWith(BedrockInvocationMetricsSchema, candidate);
  if (!parsed.ok) return parsed;
  const u = parsed.data;
  return {
    ok: true,
    usage: {
      input_tokens: u.inputTokenCount,
      cached_input_tokens: u.cacheReadInputTokenCount ?? 0,
      cache_write_tokens: u.cacheWriteInputTokenCount ?? 0,
      cache_write_1h_tokens: 0,
      output_tokens: u.outputTokenCount,
      reasoning_tokens: 0,
    },
  };
}

function anthropicTier(tier: string | null | undefined): ServiceTier | undefined {
  return tier === 'standard' || tier === 'priority' || tier === 'batch' ? tier : undefined;
}

// OpenAI reports the tier that served the request beside the usage, on the response itself.
function envelopeTier(raw: Record<string, unknown>, candidate: Candidate): ServiceTier | undefined {
  if (candidate.shape !== 'openai.chat' && candidate.shape !== 'openai.responses') return undefined;
  const tier = candidate.path === '' ? candidate.object.service_tier : raw.service_tier;
  if (tier === 'default') return 'standard';
  if (tier === 'flex' || tier === 'priority') return tier;
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

function joinPath(base: string, path: string): string {
  if (base === '') return path;
  if (path === '') return base;
  return path.startsWith('[') ? `${base}${path}` : `${base}.${path}`;
}
