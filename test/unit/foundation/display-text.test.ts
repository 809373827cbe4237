import { describe, expect, it } from 'vitest';
import { displayName, displayText } from '../../../shared/display-text.js';

describe('display text', () => {
  const name = displayName(20);
  const text = displayText(50);

  it('keeps printable names, trimmed, in any script', () => {
    for (const value of ['Acme', 'Café ☕', '東京 support', '😀 emoji', 'a-b_c.d (x)'])
      expect(name.parse(`  ${value} `)).toBe(value);
  });

  it('refuses control characters and lone surrogates in a name, line breaks and tabs included', () => {
    for (const value of [
      'a\u0000b',
      'a\nb',
      'a\tb',
      'a\rb',
      '\u001b[31mred',
      'a\u007fb',
      'a\u0085b',
      'a\ud800b',
      'b\udc00',
    ])
      expect(name.safeParse(value).success, JSON.stringify(value)).toBe(false);
    expect(name.safeParse('a\u0000b').error?.issues[0]?.message).toMatch(/control characters/);
  });

  it('refuses text-reordering controls, and a name of only invisible characters; keeps RTL marks', () => {
    for (const value of ['a\u202eevil', '\u202e', 'x\u2066y\u2069', 'a\u202ab'])
      expect(name.safeParse(value).error?.issues[0]?.message, JSON.stringify(value)).toMatch(/bidirectional/);
    for (const value of ['\u200b', '\u200b\u00a0\u200d', '\u2060'])
      expect(name.safeParse(value).error?.issues[0]?.message, JSON.stringify(value)).toMatch(/visible/);
    expect(text.safeParse('see \u202egnp.exe').success).toBe(false);
    // Right-to-left names may carry the marks LRM and RLM, and zero-width joiners between letters.
    for (const value of [
      '\u05e9\u05dc\u05d5\u05dd\u200f (IL)',
      'team \u200e\u0627\u0644\u0639\u0631\u0628',
      '👩\u200d💻 devs',
    ])
      expect(name.parse(value), JSON.stringify(value)).toBe(value);
  });

  it('lets a description hold tabs and line breaks, never other control characters', () => {
    expect(text.parse('line one\n\tline two\r\nend')).toBe('line one\n\tline two\r\nend');
    expect(text.parse('')).toBe('');
    for (const value of ['a\u0000b', 'a\u001bb', 'a\u0085b', 'a\ud83db'])
      expect(text.safeParse(value).success, JSON.stringify(value)).toBe(false);
  });

  it('still bounds the length', () => {
    expect(name.safeParse('').success).toBe(false);
    expect(name.safeParse('x'.repeat(21)).success).toBe(false);
    expect(text.safeParse('x'.repeat(51)).success).toBe(false);
  });
});
