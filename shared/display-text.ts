import { z } from '@hono/zod-openapi';

/**
 * Control characters (NUL, escape sequences, C1 codes) and unpaired UTF-16 surrogates. A name
 * carrying them prints as something else in a terminal, a CSV export or a log line, and a lone
 * surrogate is silently replaced when the store encodes the string as UTF-8.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cs}]/u;
/** The same, but tab and line breaks, which a description may hold. */
const UNPRINTABLE_IN_TEXT = /(?![\t\n\r])[\p{Cc}\p{Cs}]/u;
/**
 * Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they reorder
 * the text shown after them in lists, dashboards and logs ("Trojan source"). The marks LRM and RLM,
 * which right-to-left names may need, are kept.
 */
const REORDERING = /[\u202A-\u202E\u2066-\u2069]/u;
/** Invisible characters: a name of only these (and spaces) shows as nothing. */
const INVISIBLE = /[\p{Cf}\p{Z}]/gu;

/** A name people read (tenant, key, budget, connection): one printable line, trimmed. */
export const displayName = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(
      (name) => !UNPRINTABLE.test(name),
      'control characters (such as NUL or a line break) are not allowed',
    )
    .refine(
      (name) => !REORDERING.test(name),
      'bidirectional control characters (U+202A–U+202E, U+2066–U+2069) are not allowed',
    )
    // An empty name has its own error (zod runs refinements after a failed check too).
    .refine(
      (name) => name === '' || name.replace(INVISIBLE, '') !== '',
      'a name needs at least one visible character',
    );

/** A free-text description: printable, trimmed; tabs and line breaks are kept. */
export const displayText = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .refine((text) => !UNPRINTABLE_IN_TEXT.test(text), 'control characters (such as NUL) are not allowed')
    .refine(
      (text) => !REORDERING.test(text),
      'bidirectional control characters (U+202A–U+202E, U+2066–U+2069) are not allowed',
    );
