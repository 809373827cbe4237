import { z } from '@hono/zod-openapi';

/**
 * Control characters (NUL, escape sequences, C1 codes) and unpaired UTF-16 surrogates. A name
 * carrying them prints as something else in a terminal, a CSV export or a log line, and a lone
 * surrogate is silently replaced when the store encodes the string as UTF-8.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cs}]/u;
/** The same, but tab and line breaks, which a description may hold. */
const UNPRINTABLE_IN_TEXT = /(?![\t\n\r])[\p{Cc}\p{Cs}]/u;

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
    );

/** A free-text description: printable, trimmed; tabs and line breaks are kept. */
export const displayText = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .refine((text) => !UNPRINTABLE_IN_TEXT.test(text), 'control characters (such as NUL) are not allowed');
