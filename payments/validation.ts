import { createHash } from 'node:crypto';
import Decimal from 'decimal.js';
import { PaymentError } from './errors';

// Input checks at the engine's edge: bad input is refused before anything is written.

const MONEY_RE = /^\d{1,18}(\.\d{1,2})?$/; // numeric(20,2)
const PERCENT_RE = /^\d{1,3}(\.\d{1,2})?$/;

/** R-M1/R-M2: money is a decimal string (or Decimal) with at most 2 places; never a JS number. */
export function parseMoney(value: unknown, field: string, opts: { allowZero?: boolean } = {}): Decimal {
  let d: Decimal | null = null;
  if (typeof value === 'string' && MONEY_RE.test(value)) d = new Decimal(value);
  else if (Decimal.isDecimal(value)) {
    const v = value as Decimal;
    if (v.isFinite() && !v.isNegative() && v.decimalPlaces() <= 2 && v.lessThan('1e18')) d = v;
  }
  if (!d) {
    const why = typeof value === 'number' ? 'must be a decimal string such as "12.50", not a number' : 'must be a non-negative decimal with at most 2 places';
    throw new PaymentError('VALIDATION.AMOUNT', `${field} ${why} (got ${JSON.stringify(String(value))})`, { field });
  }
  if (!opts.allowZero && d.isZero()) throw new PaymentError('VALIDATION.AMOUNT', `${field} must be greater than 0`, { field });
  return d;
}

export function parsePercent(value: unknown, field = 'percent_off'): Decimal {
  const ok = (typeof value === 'string' && PERCENT_RE.test(value)) || (Decimal.isDecimal(value) && (value as Decimal).decimalPlaces() <= 2);
  const d = ok ? new Decimal(value as string) : null;
  if (!d || d.lessThanOrEqualTo(0) || d.greaterThan(100)) {
    throw new PaymentError('VALIDATION.PERCENT', `${field} must be a decimal string in (0, 100] with at most 2 places (got ${JSON.stringify(String(value))})`, { field });
  }
  return d;
}

export function parseInstant(value: unknown, field: string): Date {
  const d = value instanceof Date ? value : typeof value === 'string' && value.trim() !== '' ? new Date(value) : null;
  if (!d || Number.isNaN(d.getTime())) throw new PaymentError('VALIDATION.DATE', `${field} must be an ISO 8601 instant (got ${JSON.stringify(String(value))})`, { field });
  return d;
}

export function requireText(value: unknown, field: string, max = 200): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) {
    throw new PaymentError('VALIDATION.FIELD', `${field} must be a non-empty string of at most ${max} characters`, { field });
  }
  return value;
}

export function optionalText(value: unknown, field: string, max = 200): string | null {
  return value === undefined || value === null ? null : requireText(value, field, max);
}

export function checkCurrency(requested: unknown, accountCurrency: string): void {
  if (requested === undefined || requested === null) return;
  if (requested !== accountCurrency) {
    throw new PaymentError('VALIDATION.CURRENCY', `the account is billed in ${accountCurrency}, not ${String(requested)}`, { currency: requested });
  }
}

/** R-P5: what a key was first used for, so a reuse with other input is refused. */
export function requestHash(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export function idempotencyMismatch(key: string): PaymentError {
  return new PaymentError('IDEMPOTENCY.MISMATCH', `idempotency key ${JSON.stringify(key)} was already used for a different request`, { idempotency_key: key });
}
