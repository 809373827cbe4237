import { describe, expect, it } from 'vitest';
import { csvCell, csvLines } from '../../../shared/exports/encode.js';

describe('CSV cells', () => {
  it('defuses text a spreadsheet would run as a formula', () => {
    for (const text of ['=HYPERLINK("http://x","y")', '+1+2', '-2+3', '@SUM(A1)', '\t=1', '\r=1']) {
      expect(csvCell(text)).toBe(`'${text}`);
    }
  });

  it('leaves numbers written as text, plain text and non-text alone', () => {
    expect(csvCell('-0.50000000')).toBe('-0.50000000');
    expect(csvCell('-1e-7')).toBe('-1e-7');
    expect(csvCell('support-bot')).toBe('support-bot');
    expect(csvCell(-3)).toBe(-3);
    expect(csvCell(null)).toBeNull();
    expect(csvCell(true)).toBe('true');
  });

  it('writes defused cells into the CSV text', () => {
    expect(csvLines(['a', 'b'], [{ a: '=1+1', b: '-1.5' }], true)).toBe("a,b\n'=1+1,-1.5\n");
  });
});
