import { describe, expect, it } from 'vitest';
import {
  canonicalModelName,
  modelNameCandidates,
  resolveModelName,
} from '../../../shared/pricing/model-names.js';

describe('canonicalModelName against the built-in catalog', () => {
  it.each([
    ['openai', 'gpt-4o-2024-08-06', 'gpt-4o'],
    ['openai', 'gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['openai', 'o3-2025-04-16', 'o3'],
    ['openai', 'gpt-4.1-nano-2025-04-14', 'gpt-4.1-nano'],
    ['openai', 'openai/gpt-5-mini', 'gpt-5-mini'],
    ['anthropic', 'claude-3-5-sonnet-20241022', 'claude-3-5-sonnet'],
    ['anthropic', 'claude-3-5-sonnet-20240620', 'claude-3-5-sonnet'],
    ['anthropic', 'claude-3-7-sonnet-latest', 'claude-3-7-sonnet'],
    ['anthropic', 'claude-sonnet-4-5@20250929', 'claude-sonnet-4-5'],
    ['anthropic', 'claude-opus-4-20250514', 'claude-opus-4'],
    ['google', 'models/gemini-2.5-pro', 'gemini-2.5-pro'],
    [
      'google',
      'projects/acme/locations/us-central1/publishers/google/models/gemini-2.5-flash',
      'gemini-2.5-flash',
    ],
    ['google', 'gemini-2.0-flash-001', 'gemini-2.0-flash'],
    ['google', 'publishers/anthropic/models/claude-haiku-4-5@20251001', 'claude-haiku-4-5'],
    ['bedrock', 'anthropic.claude-3-5-sonnet-20241022-v2:0', 'anthropic.claude-3-5-sonnet'],
    ['bedrock', 'us.anthropic.claude-3-5-sonnet-20241022-v2:0', 'anthropic.claude-3-5-sonnet'],
    ['bedrock', 'eu.anthropic.claude-3-7-sonnet-20250219-v1:0', 'anthropic.claude-3-7-sonnet'],
    ['bedrock', 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'us.anthropic.claude-sonnet-4-5'],
    ['bedrock', 'global.anthropic.claude-sonnet-4-5-20250929-v1:0', 'anthropic.claude-sonnet-4-5'],
    [
      'bedrock',
      'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0',
      'us.anthropic.claude-haiku-4-5',
    ],
    ['bedrock', 'us.amazon.nova-premier-v1:0', 'amazon.nova-premier'],
    ['azure', 'gpt-4o-2024-11-20', 'gpt-4o'],
    ['mistral', 'mistral-large-latest', 'mistral-large-latest'],
    ['mistral', 'mistral-large-2411', 'mistral-large-2411'],
  ])('%s %s → %s', (provider, model, priced) => {
    expect(canonicalModelName(provider, model)).toBe(priced);
  });

  it('does not collapse a snapshot that has its own price', () => {
    expect(canonicalModelName('openai', 'gpt-4o-2024-05-13')).toBe('gpt-4o-2024-05-13');
  });

  it('returns the name as sent when nothing is priced', () => {
    expect(canonicalModelName('openai', 'ft:gpt-4o-mini-2024-07-18:acme::abc123')).toBe(
      'ft:gpt-4o-mini-2024-07-18:acme::abc123',
    );
    // Codestral 24.05 had another price: stripping its version must not land on a wrong one.
    expect(canonicalModelName('mistral', 'codestral-2405')).toBe('codestral-2405');
    expect(canonicalModelName('openai', 'my-deployment')).toBe('my-deployment');
  });

  it('resolves per provider', () => {
    expect(canonicalModelName('anthropic', 'gemini-2.5-pro')).toBe('gemini-2.5-pro');
    expect(canonicalModelName('anthropic', 'models/gemini-2.5-pro')).toBe('models/gemini-2.5-pro');
  });
});

describe('modelNameCandidates', () => {
  it('strips one decoration at a time, most specific first', () => {
    expect(modelNameCandidates('us.anthropic.claude-sonnet-4-5-20250929-v1:0')).toEqual([
      'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      'us.anthropic.claude-sonnet-4-5-20250929',
      'us.anthropic.claude-sonnet-4-5',
      'anthropic.claude-sonnet-4-5',
    ]);
    expect(modelNameCandidates('gpt-4o-2024-08-06')).toEqual(['gpt-4o-2024-08-06', 'gpt-4o']);
  });

  it('puts the name as sent first, then its lower-case form', () => {
    expect(modelNameCandidates(' GPT-4o ')).toEqual([' GPT-4o ', 'gpt-4o']);
  });

  it('leaves undecorated names alone', () => {
    expect(modelNameCandidates('gemini-2.5-pro')).toEqual(['gemini-2.5-pro']);
  });
});

describe('resolveModelName with another price list', () => {
  it('checks the given list at every step', () => {
    const priced = new Set(['openai/gpt-4o-2024-08-06', 'openai/gpt-4o']);
    const isPriced = (provider: string, model: string) => priced.has(`${provider}/${model}`);
    expect(resolveModelName('openai', 'gpt-4o-2024-08-06', isPriced)).toBe('gpt-4o-2024-08-06');
    expect(resolveModelName('openai', 'gpt-4o-2024-11-20', isPriced)).toBe('gpt-4o');
    expect(resolveModelName('openai', 'gpt-5', isPriced)).toBeUndefined();
    expect(canonicalModelName('openai', 'gpt-5', isPriced)).toBe('gpt-5');
  });
});
