import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

// Shared request/response pieces. Money is a decimal string with at most 2 decimals (unit
// prices 6), bounded so no amount overflows numeric(20,2).
export const moneyString = z
  .string()
  .regex(/^(0|[1-9]\d{0,11})(\.\d{1,2})?$/, 'must be a non-negative decimal string with at most 2 decimals, e.g. "12.50"')
  .openapi({ example: '1700.00' });
export const positiveMoneyString = moneyString.refine((s) => Number(s.replace('.', '')) !== 0, 'must be greater than zero');
export const unitPriceString = z.string().regex(/^(0|[1-9]\d{0,11})(\.\d{1,6})?$/, 'at most 6 decimals');
export const id = (prefix: string) => z.string().min(3).max(64).regex(/^[a-z]+_[0-9a-z]+$/, 'not a valid id').openapi({ example: `${prefix}_7k3m9q2r8t4v6w1x5y0z` });
export const instant = z.string().datetime({ offset: true }).openapi({ example: '2026-03-20T15:00:00+08:00' });

export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

export const idParams = z.strictObject({ id: z.string().min(1).max(64) });

export const termSchema = z.strictObject({
  unit: z.enum(['month', 'year']),
  count: z.number().int().min(1).max(60),
});

export const list = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: z.string().nullable() });

/** Opaque cursor over (created_at, id) for keyset pagination. */
export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}
export function decodeCursor(cursor: string | undefined): (string | number)[] | null {
  if (!cursor) return null;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    if (Array.isArray(v)) return v;
  } catch {
    /* fall through */
  }
  return null;
}
