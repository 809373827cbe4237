import DecimalDefault, { type Decimal as DecimalClass } from 'decimal.js';

// decimal.js's types describe a CommonJS module while Node's ESM import yields the class itself;
// bundlers may hand over either, so take `.default` when there is one.
const DecimalJs = ((DecimalDefault as unknown as { default?: unknown }).default ??
  DecimalDefault) as typeof DecimalClass;

/**
 * The one module that owns money arithmetic and rounding. Everything else computes with exact
 * `Decimal`s and calls `toMoneyString` only where an amount leaves the system.
 *
 * 50 significant digits keep every product of a token count (< 2^53, 16 digits) and a per-token
 * rate (a few dozen digits at most) exact, so no intermediate result is ever rounded.
 */
export const Decimal = DecimalJs.clone({
  precision: 50,
  rounding: DecimalJs.ROUND_HALF_EVEN,
  toExpNeg: -50,
  toExpPos: 50,
});
export type Decimal = InstanceType<typeof Decimal>;

/** A USD amount, exact. */
export type Money = Decimal;

/** Decimal places of every amount the API returns ("0.00412000"). */
export const MONEY_DECIMAL_PLACES = 8;

export const ZERO: Decimal = new Decimal(0);

// Plain decimal or scientific notation only: decimal.js would also accept hex, binary, NaN and
// Infinity, none of which is a price.
const DECIMAL_PATTERN = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** True when `s` is a finite decimal number in plain or scientific notation. */
export function isDecimalString(s: string): boolean {
  return DECIMAL_PATTERN.test(s);
}

/**
 * Reads a decimal exactly. A JSON number goes through its shortest round-trip string, so the
 * float 2.5e-6 becomes exactly 0.0000025 and not 0.000002499999999999999…; throws RangeError on
 * anything that is not a finite decimal.
 */
export function parseDecimal(s: string | number): Decimal {
  if (typeof s === 'number') {
    if (!Number.isFinite(s)) throw new RangeError(`not a finite number: ${s}`);
    return new Decimal(String(s));
  }
  const trimmed = s.trim();
  if (!isDecimalString(trimmed)) throw new RangeError(`not a decimal number: "${s}"`);
  return new Decimal(trimmed);
}

/** USD with exactly 8 decimal places, rounded half-even; never "-0.00000000". */
export function toMoneyString(d: Decimal): string {
  const fixed = d.toFixed(MONEY_DECIMAL_PLACES, Decimal.ROUND_HALF_EVEN);
  return /^-0\.0+$/.test(fixed) ? fixed.slice(1) : fixed;
}

/** The exact value in plain notation without trailing zeros ("2.5", "0.0000025"): how rates are stored. */
export function toDecimalString(d: Decimal): string {
  const plain = d.toFixed();
  return plain === '-0' ? '0' : plain;
}

/** Exact sum of amounts (decimals or decimal strings); 0 for none. */
export function sumMoney(values: Iterable<Decimal | string>): Decimal {
  let total = ZERO;
  for (const value of values) total = total.plus(typeof value === 'string' ? parseDecimal(value) : value);
  return total;
}
