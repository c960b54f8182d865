import DecimalJs from 'decimal.js';
import fc from 'fast-check';
import { Decimal, exact, formatMoney, isDecimalString, mulDiv, roundDown, roundHalfUp, sumMoney, toMoney } from '../../billing/money';

describe('R-M1 money is decimal', () => {
  it('exports decimal.js itself, so all code shares one Decimal class', () => {
    expect(Decimal).toBe(DecimalJs);
    expect(toMoney('1700.00')).toBeInstanceOf(DecimalJs);
  });

  it('parses decimal strings and numbers without binary floating point error', () => {
    expect(toMoney('1700.00').toFixed(2)).toBe('1700.00');
    expect(toMoney('0.1').plus(toMoney('0.2')).toString()).toBe('0.3');
    expect(toMoney(12).toString()).toBe('12');
  });

  it.each(['NaN', 'Infinity', '-Infinity', NaN, Infinity])('refuses %p', (v) => {
    expect(() => toMoney(v)).toThrow(RangeError);
  });

  it('refuses text that is not a number', () => {
    expect(() => toMoney('12abc')).toThrow();
  });

  it('formats with exactly two decimals and never "-0.00"', () => {
    expect(formatMoney('1700')).toBe('1700.00');
    expect(formatMoney('-5')).toBe('-5.00');
    expect(formatMoney(0)).toBe('0.00');
    expect(formatMoney('-0')).toBe('0.00');
    expect(formatMoney('-0.004')).toBe('0.00');
    expect(formatMoney('1.005')).toBe('1.01');
    expect(formatMoney('0.000333333')).toBe('0.00');
  });
});

describe('R-M2 rounding to 0.01', () => {
  it('rounds half-up (away from zero on a tie)', () => {
    expect(roundHalfUp(toMoney('0.005')).toFixed(2)).toBe('0.01');
    expect(roundHalfUp(toMoney('0.004999')).toFixed(2)).toBe('0.00');
    expect(roundHalfUp(toMoney('2.675')).toFixed(2)).toBe('2.68'); // 2.675 as a double is 2.67499…
    expect(roundHalfUp(toMoney('-0.005')).toFixed(2)).toBe('-0.01');
  });

  it('rounds refunds down, toward zero', () => {
    expect(roundDown(toMoney('66.669')).toFixed(2)).toBe('66.66');
    expect(roundDown(toMoney('187.2')).toFixed(2)).toBe('187.20');
    expect(roundDown(toMoney('-1.239')).toFixed(2)).toBe('-1.23');
    expect(roundDown(toMoney('-0.001')).isNegative()).toBe(false); // no -0
  });

  it('returns ordinary Decimals, not the 40-digit working clone', () => {
    const r = roundHalfUp(exact('1').div(3));
    expect(r.constructor).toBe(DecimalJs);
    expect(r.toString()).toBe('0.33');
  });

  it('keeps full precision in a×num÷den so a ratio landing on a cent stays exact', () => {
    expect(mulDiv('288.00', 8, 12).toString()).toBe('192');
    expect(mulDiv('0.04', 2746, 3600).toString()).toBe('0.03051111111111111111111111111111111111111');
    expect(() => mulDiv(1, 1, 0)).toThrow(RangeError);
  });

  it('sums exactly', () => {
    expect(sumMoney(['0.1', '0.2', toMoney('0.3')]).toString()).toBe('0.6');
    expect(sumMoney([]).toString()).toBe('0');
    expect(() => sumMoney(['1', 'NaN'])).toThrow(RangeError);
  });

  it('property: half-up rounding moves an amount by at most half a cent, to 2 decimals', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.integer({ min: 0, max: 8 }), (units, scale) => {
        const d = toMoney(`${units}e-${scale}`);
        const r = roundHalfUp(d);
        expect(r.decimalPlaces()).toBeLessThanOrEqual(2);
        expect(r.minus(d).abs().lte('0.005')).toBe(true);
        const down = roundDown(d);
        expect(down.abs().lte(d.abs())).toBe(true);
        expect(d.minus(down).abs().lt('0.01')).toBe(true);
      }),
    );
  });
});

describe('R-M2 decimal strings accepted as input', () => {
  it.each([
    ['12', 2],
    ['12.5', 2],
    ['0.000001', 6],
    ['0.5', 2],
    ['0', 0],
    ['1700.00', 2],
  ])('accepts %p with at most %p decimals', (s, max) => {
    expect(isDecimalString(s, max)).toBe(true);
  });

  it.each([
    ['', 2],
    ['1e3', 2],
    ['-1', 2],
    [' 1', 2],
    ['1 ', 2],
    ['NaN', 2],
    ['Infinity', 2],
    ['00.5', 2],
    ['01.2', 2],
    ['012', 2],
    ['.5', 2],
    ['5.', 2],
    ['+5', 2],
    ['1,000', 2],
    ['0.0000001', 6],
    ['12.5', 0],
    ['1.001', 2],
  ])('rejects %p with at most %p decimals', (s, max) => {
    expect(isDecimalString(s, max)).toBe(false);
  });
});
