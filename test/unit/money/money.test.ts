import { describe, expect, it } from 'vitest';
import {
  Decimal,
  isDecimalString,
  parseDecimal,
  sumMoney,
  toDecimalString,
  toMoneyString,
} from '../../../shared/money/money.js';

describe('parseDecimal', () => {
  it('reads JSON floats through their shortest string, so per-token prices are exact', () => {
    expect(parseDecimal(2.5e-6).equals(new Decimal('0.0000025'))).toBe(true);
    // 1.1e-6 × 1e6 is 1.0999999999999999 in floating point; exactly 1.1 here.
    expect(toDecimalString(parseDecimal(1.1e-6).times(1_000_000))).toBe('1.1');
    expect(toDecimalString(parseDecimal(1.3e-7).times(1_000_000))).toBe('0.13');
  });

  it('adds 0.1 and 0.2 to exactly 0.3', () => {
    expect(toDecimalString(parseDecimal(0.1).plus(parseDecimal(0.2)))).toBe('0.3');
  });

  it('accepts plain and scientific decimal strings, with surrounding spaces', () => {
    expect(toDecimalString(parseDecimal('0.00412'))).toBe('0.00412');
    expect(toDecimalString(parseDecimal(' 2.5E-7 '))).toBe('0.00000025');
    expect(toDecimalString(parseDecimal('-3'))).toBe('-3');
    expect(toDecimalString(parseDecimal('.5'))).toBe('0.5');
  });

  it.each(['0x10', '0b11', 'NaN', 'Infinity', '', '1e', '--1', '1,5', 'abc'])('rejects "%s"', (input) => {
    expect(() => parseDecimal(input)).toThrow(RangeError);
  });

  it('rejects non-finite numbers', () => {
    expect(() => parseDecimal(Number.NaN)).toThrow(RangeError);
    expect(() => parseDecimal(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it('isDecimalString agrees with parseDecimal', () => {
    expect(isDecimalString('12.50')).toBe(true);
    expect(isDecimalString('1e-7')).toBe(true);
    expect(isDecimalString('0x1')).toBe(false);
    expect(isDecimalString('Infinity')).toBe(false);
  });
});

describe('toMoneyString', () => {
  it('gives exactly 8 decimal places', () => {
    expect(toMoneyString(parseDecimal('0.00412'))).toBe('0.00412000');
    expect(toMoneyString(parseDecimal('12.5'))).toBe('12.50000000');
    expect(toMoneyString(parseDecimal('0'))).toBe('0.00000000');
  });

  it('rounds half to even at the 8th place', () => {
    expect(toMoneyString(parseDecimal('0.000000125'))).toBe('0.00000012');
    expect(toMoneyString(parseDecimal('0.000000135'))).toBe('0.00000014');
    expect(toMoneyString(parseDecimal('0.0000001251'))).toBe('0.00000013');
    expect(toMoneyString(parseDecimal('-0.000000125'))).toBe('-0.00000012');
  });

  it('never writes a negative zero', () => {
    expect(toMoneyString(parseDecimal('-0.000000001'))).toBe('0.00000000');
    expect(toMoneyString(new Decimal(-0))).toBe('0.00000000');
  });

  it('keeps large amounts in plain notation', () => {
    expect(toMoneyString(parseDecimal('123456789012345.123456789'))).toBe('123456789012345.12345679');
  });
});

describe('toDecimalString', () => {
  it('never uses exponent notation and drops trailing zeros', () => {
    expect(toDecimalString(parseDecimal('1e-12'))).toBe('0.000000000001');
    expect(toDecimalString(parseDecimal('1e21'))).toBe('1000000000000000000000');
    expect(toDecimalString(parseDecimal('2.500'))).toBe('2.5');
    expect(toDecimalString(parseDecimal('-0'))).toBe('0');
  });
});

describe('sumMoney', () => {
  it('adds decimals and decimal strings exactly', () => {
    // 0.1 + 0.2 + 0.00000001 = 0.30000001
    expect(toMoneyString(sumMoney([parseDecimal(0.1), '0.2', '0.00000001']))).toBe('0.30000001');
  });

  it('is zero for nothing', () => {
    expect(sumMoney([]).isZero()).toBe(true);
  });

  it('does not round intermediate sums', () => {
    // Three times 0.000000005 is 0.000000015, which rounds (half-even) to 0.00000002; rounding each
    // term first would give 0.
    const third = sumMoney(['0.000000005', '0.000000005', '0.000000005']);
    expect(toMoneyString(third)).toBe('0.00000002');
  });
});
