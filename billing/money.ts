import { Decimal } from 'decimal.js';

// R-M1: money is decimal.js, never `number`. This is decimal.js's own constructor, not a clone,
// so `import { Decimal } from 'decimal.js'` elsewhere gives the very same class; its global
// configuration (precision 20) is left untouched. Divisions that feed a money amount go through
// `mulDiv`, which works at 40 significant digits, so precision never decides a cent.
export { Decimal };
export type Money = Decimal;

const Exact = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP });

export const ZERO: Decimal = new Decimal(0);

// R-M1: parse an amount; NaN and ±Infinity are never money.
export function toMoney(v: Decimal.Value): Decimal {
  const d = new Decimal(v);
  if (!d.isFinite()) throw new RangeError(`not a finite amount: ${String(v)}`);
  return d;
}

// R-M2: a final amount is rounded once, half-up (away from zero on a tie), to 0.01.
export function roundHalfUp(d: Decimal): Decimal {
  return plain(d.toDecimalPlaces(2, Decimal.ROUND_HALF_UP));
}

// R-M2 / R-S11: refunds round down (toward zero) to 0.01.
export function roundDown(d: Decimal): Decimal {
  return plain(d.toDecimalPlaces(2, Decimal.ROUND_DOWN));
}

// R-M1: the JSON form of money, exactly two decimals ("1700.00"), never "-0.00".
// An amount with more decimals is rounded half-up first (R-M2).
export function formatMoney(d: Decimal.Value): string {
  return roundHalfUp(toMoney(d)).toFixed(2);
}

// R-M2: a plain non-negative decimal as the API accepts it ("12", "12.5", "0.000001"): no sign,
// exponent, spaces or redundant leading zeros, at most `maxDecimals` decimals.
export function isDecimalString(s: string, maxDecimals: number): boolean {
  const m = /^(0|[1-9]\d*)(?:\.(\d+))?$/.exec(s);
  if (!m) return false;
  return (m[2]?.length ?? 0) <= maxDecimals;
}

// R-M2: intermediate results keep full precision. `exact(v)` is a Decimal whose arithmetic
// works at 40 significant digits (decimal.js rounds every operation to the precision of its
// left operand's constructor); billing rules compute with it and hand results back through
// roundHalfUp/roundDown/plain, so callers only ever see ordinary `Decimal`s.
export function exact(v: Decimal.Value): Decimal {
  const d = new Exact(v);
  if (!d.isFinite()) throw new RangeError(`not a finite amount: ${String(v)}`);
  return d;
}

// R-M2: an ordinary Decimal with all digits of `d` kept (construction never rounds), -0 → 0.
export function plain(d: Decimal): Decimal {
  return d.isZero() ? ZERO : new Decimal(d);
}

// R-M2: a × num ÷ den, unrounded, with a single division at 40 significant digits. Multiplying
// before dividing keeps a ratio that lands on a cent exact (288.00 × 8/12 is 192, not 191.99…).
export function mulDiv(a: Decimal.Value, num: Decimal.Value, den: Decimal.Value): Decimal {
  const divisor = exact(den);
  if (divisor.isZero()) throw new RangeError('division by zero');
  return plain(exact(a).times(num).div(divisor));
}

// R-M2: the exact sum of amounts (0 for none), unrounded 40-digit intermediates included.
export function sumMoney(values: readonly Decimal.Value[]): Decimal {
  return plain(values.reduce<Decimal>((acc, v) => acc.plus(toMoney(v)), exact(0)));
}
