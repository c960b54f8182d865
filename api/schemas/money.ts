import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import Decimal from 'decimal.js';
import { z } from 'zod';
import { ApiError } from '../errors';

extendZodWithOpenApi(z);

// Money on the wire. Money is a decimal string with at most 2 decimals (unit prices 6), bounded
// so no amount overflows numeric(20,2).

export const moneyString = z
  .string()
  .regex(/^(0|[1-9]\d{0,11})(\.\d{1,2})?$/, 'must be a non-negative decimal string with at most 2 decimals, e.g. "12.50"')
  .openapi({ example: '1700.00' });
export const positiveMoneyString = moneyString.refine((s) => Number(s.replace('.', '')) !== 0, 'must be greater than zero');
export const unitPriceString = z.string().regex(/^(0|[1-9]\d{0,11})(\.\d{1,6})?$/, 'at most 6 decimals');

/** Optional on money inputs: when given it must be the account's currency (R-M1). */
export const currencyField = z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code such as USD').optional();

/** R-M1: a currency named on a money input must be the account's. */
export function checkCurrency(requested: string | undefined, account: { currency: string }): void {
  if (requested !== undefined && requested !== account.currency) {
    throw new ApiError(400, 'VALIDATION.CURRENCY', `the account is billed in ${account.currency}, not ${requested}`, { currency: requested, account_currency: account.currency });
  }
}

/** An amount in an answer (OpenAPI). */
export const money = z.string().openapi({ example: '1700.00' });

/** "1.500000" → "1.5": quantities as the client would write them (never through a float). */
export const trimDecimal = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
export const sixPlaces = (s: string) => new Decimal(s).toFixed(6);
