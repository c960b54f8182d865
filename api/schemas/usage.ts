import { z } from 'zod';
import { isDecimalString } from '../../billing/money';

// Pay-per-use input pieces (SPEC §7).

export const accountIdField = z.string().min(1).max(64);
// Bounded to the columns' numeric(20,6): at most 14 integer digits (a longer one would be a database error).
export const decimal6 = (what: string) => z.string().max(21).refine((s) => isDecimalString(s, 6) && s.split('.')[0].length <= 14, `${what} must be a decimal string with at most 14 digits before the point and 6 after, e.g. "3" or "1.5"`);
export const positive6 = (what: string) => decimal6(what).refine((s) => !/^0(\.0*)?$/.test(s), `${what} must be greater than zero`);
