import { BUILTIN_PRICES } from './catalog.js';

/**
 * Model names as apps send them carry snapshot dates, version suffixes, region prefixes and
 * route prefixes that their price does not depend on. Resolution tries the name as sent first
 * and then strips one kind of decoration at a time, checking the price list after every step,
 * so a snapshot that has its own price (gpt-4o-2024-05-13) keeps it and is never collapsed
 * into its alias.
 */

type Rewrite = (name: string) => string;

// Route prefixes some SDKs and gateways (LiteLLM, OpenRouter, Vertex) put before the model name.
const ROUTE_PREFIX =
  /^(openai|azure|azure_ai|anthropic|google|gemini|vertex_ai|vertexai|bedrock|bedrock_converse|mistral|mistralai)\//;

// Applied in this order, each once. Version and date suffixes go before the Bedrock geography
// prefix so that a geo-specific price (us.… at the US regional premium) is found before the base one.
const REWRITES: readonly Rewrite[] = [
  // arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-…
  (name) => (name.startsWith('arn:') ? name.slice(name.lastIndexOf('/') + 1) : name),
  // models/gemini-2.5-pro, projects/p/locations/l/publishers/google/models/gemini-2.5-pro
  (name) => (name.includes('models/') ? name.slice(name.lastIndexOf('models/') + 'models/'.length) : name),
  (name) => name.replace(ROUTE_PREFIX, ''),
  // Bedrock model versions: anthropic.claude-3-5-sonnet-20241022-v2:0, amazon.nova-pro-v1:0:300k
  (name) => name.replace(/-v\d+(:\d+)?(:\d+k)?$/, ''),
  // Vertex AI versions: claude-sonnet-4-5@20250929, gemini-2.0-flash@001
  (name) => name.replace(/@[\w.-]+$/, ''),
  // OpenAI snapshots: gpt-4o-2024-08-06
  (name) => name.replace(/-\d{4}-\d{2}-\d{2}$/, ''),
  // Anthropic snapshots: claude-3-5-sonnet-20241022
  (name) => name.replace(/-\d{8}$/, ''),
  (name) => name.replace(/-latest$/, ''),
  // Short versions: gemini-2.0-flash-001, mistral-large-2411, gpt-4-0613
  (name) => name.replace(/-\d{3,4}$/, ''),
  // Bedrock cross-region inference profiles: us.anthropic.…, global.anthropic.…
  (name) => name.replace(/^(us|us-gov|eu|apac|au|jp|ca|global)\.(?=[a-z0-9-]+\.)/, ''),
];

/** The names to look a model up under, most specific first (the name as sent is always first). */
export function modelNameCandidates(model: string): string[] {
  const candidates = [model];
  let current = model.trim().toLowerCase();
  if (current !== model) candidates.push(current);
  for (const rewrite of REWRITES) {
    const next = rewrite(current);
    if (next !== current && next.length > 0) {
      candidates.push(next);
      current = next;
    }
  }
  return candidates;
}

/** The first candidate name for which `isPriced` holds, or undefined when none is priced. */
export function resolveModelName(
  provider: string,
  model: string,
  isPriced: (provider: string, model: string) => boolean,
): string | undefined {
  return modelNameCandidates(model).find((candidate) => isPriced(provider, candidate));
}

const builtinNames = new Map<string, string>(
  BUILTIN_PRICES.map((price) => [`${price.provider}\u0000${price.model.toLowerCase()}`, price.model]),
);

/**
 * The priced name a model resolves to (`gpt-4o-2024-08-06` → `gpt-4o`), looked up in the
 * built-in catalog unless `isPriced` says otherwise; the name as sent when nothing matches.
 */
export function canonicalModelName(
  provider: string,
  model: string,
  isPriced?: (provider: string, model: string) => boolean,
): string {
  if (isPriced) return resolveModelName(provider, model, isPriced) ?? model;
  for (const candidate of modelNameCandidates(model)) {
    const name = builtinNames.get(`${provider}\u0000${candidate.toLowerCase()}`);
    if (name !== undefined) return name;
  }
  return model;
}
