import { createHash } from 'node:crypto';
import type { Decimal } from '../money/money.js';

/** The token buckets a billed line can be for, named like Tollgate's canonical usage buckets. */
export const TOKEN_TYPES = ['input', 'cached_input', 'cache_write', 'cache_write_1h', 'output'] as const;
export type TokenType = (typeof TOKEN_TYPES)[number];

export const PROVIDERS = ['openai', 'anthropic'] as const;
export type BillingProvider = (typeof PROVIDERS)[number];

/**
 * Where a line came from. Each source's lines of one connection and day are replaced together
 * by a re-pull, so a line the provider dropped (a correction) disappears too.
 */
export type LineSource =
  | 'openai.costs'
  | 'openai.usage.completions'
  | 'openai.usage.embeddings'
  | 'anthropic.cost_report'
  | 'anthropic.usage_report.messages';

/** One line of a provider's bill for one UTC day. */
export interface BilledCostLine {
  kind: 'cost';
  source: LineSource;
  day: string;
  /** What makes the line unique within its connection, day and source. */
  identity: string;
  /** The provider's model id as billed (`gpt-4o-2024-08-06`), null for charges of no model. */
  model: string | null;
  /** The token bucket charged, null for other charges (tool calls, storage, sessions). */
  token_type: TokenType | null;
  /** The provider's own description, kept as-is. */
  line_item: string | null;
  /** OpenAI project or Anthropic workspace. */
  project: string | null;
  /** USD, exact. */
  amount: Decimal;
  currency: string;
  quantity: string | null;
  quantity_unit: string | null;
}

/** Token counts the provider reports for one UTC day, model and project. */
export interface BilledUsageLine {
  kind: 'usage';
  source: LineSource;
  day: string;
  identity: string;
  model: string | null;
  project: string | null;
  /** Disjoint buckets, as in Tollgate's canonical usage: `input` excludes cached and cache-write tokens. */
  tokens: Record<TokenType, number>;
  requests: number;
}

export type BilledLine = BilledCostLine | BilledUsageLine;

/** The lines of one source for one day: what a re-pull replaces. */
export interface DayLines {
  source: LineSource;
  day: string;
  lines: BilledLine[];
}

export const emptyTokens = (): Record<TokenType, number> => ({
  input: 0,
  cached_input: 0,
  cache_write: 0,
  cache_write_1h: 0,
  output: 0,
});

/** A short, stable digest of a line's identity: it becomes part of the stored key. */
export function identityHash(identity: string): string {
  return createHash('sha256').update(identity, 'utf8').digest('base64url').slice(0, 22);
}

/** The UTC day an instant falls in. */
export const utcDayOf = (epochMs: number) => new Date(epochMs).toISOString().slice(0, 10);

const OPENAI_CHARGES: Record<string, TokenType> = {
  input: 'input',
  'uncached input': 'input',
  'cached input': 'cached_input',
  'cache read': 'cached_input',
  'cache reads': 'cached_input',
  'cache write': 'cache_write',
  'cache writes': 'cache_write',
  output: 'output',
};

/**
 * Reads OpenAI's free-text cost `line_item` (`gpt-4o-2024-08-06, input`,
 * `evals | gpt-4o-mini-2024-07-18, cached input`, `gpt-audio-mini-2025-12-15 audio, input`) into a
 * model and a token bucket. Lines that name no model and charge (`web search tool calls`,
 * `assistants api | file search`) come back with both null; the caller keeps the text.
 */
export function parseOpenAILineItem(lineItem: string | null): {
  model: string | null;
  token_type: TokenType | null;
} {
  if (!lineItem) return { model: null, token_type: null };
  const comma = lineItem.lastIndexOf(', ');
  if (comma < 0) return { model: null, token_type: null };
  const charge = lineItem
    .slice(comma + 2)
    .trim()
    .toLowerCase();
  const tokenType = OPENAI_CHARGES[charge];
  if (!tokenType) return { model: null, token_type: null };
  // A product prefix (`evals | …`) says where the call came from, not what it was.
  let model = lineItem.slice(0, comma);
  const bar = model.lastIndexOf('|');
  if (bar >= 0) model = model.slice(bar + 1);
  // A modality word after the snapshot (`… audio`, `… image`) is the charge's kind, not the model's name.
  model = model.trim().replace(/\s+(text|audio|image|video)$/i, '');
  if (model.length === 0 || /\s/.test(model)) return { model: null, token_type: null };
  return { model, token_type: tokenType };
}

const ANTHROPIC_TOKEN_TYPES: Record<string, TokenType> = {
  uncached_input_tokens: 'input',
  input_tokens: 'input',
  cache_read_input_tokens: 'cached_input',
  'cache_creation.ephemeral_5m_input_tokens': 'cache_write',
  'cache_creation.ephemeral_1h_input_tokens': 'cache_write_1h',
  cache_creation_input_tokens: 'cache_write',
  output_tokens: 'output',
};

/** Anthropic's cost rows name their bucket in `token_type` (and `cost_type: "tokens"`). */
export function anthropicTokenType(costType: string | null, tokenType: string | null): TokenType | null {
  if (costType !== null && costType !== 'tokens') return null;
  if (tokenType === null) return null;
  return ANTHROPIC_TOKEN_TYPES[tokenType] ?? null;
}
