import { createHash } from 'node:crypto';
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

/**
 * A path or body reference to a resource the API issued: `<prefix>_<lowercase base32/hex>`,
 * e.g. `acc_7k3m9q2r8t4v6w1x5y0z`. Anything else cannot name a resource and is a 400, not a
 * database lookup.
 */
export const resourceId = z
  .string()
  .min(3)
  .max(64)
  .regex(/^[a-z][a-z0-9]{0,15}_[0-9a-z]{1,60}$/, 'not a valid id (e.g. "acc_7k3m9q2r8t4v6w1x5y0z")')
  .openapi({ example: 'acc_7k3m9q2r8t4v6w1x5y0z' });

export const idParams = z.strictObject({ id: resourceId });

export const termSchema = z.strictObject({
  unit: z.enum(['month', 'year']),
  count: z.number().int().min(1).max(60),
});

export const list = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: z.string().nullable() });

/**
 * Opaque cursor over (created_at, id) for keyset pagination. It carries a checksum, so a cursor
 * the API did not issue (typed, truncated, fuzzed) is refused with 400 `VALIDATION.CURSOR` by
 * the route instead of reaching a query with values of the wrong type.
 */
const cursorTag = (payload: string) => createHash('sha256').update(`quotaflow-cursor:${payload}`).digest('base64url').slice(0, 12);

export function encodeCursor(parts: (string | number)[]): string {
  const payload = Buffer.from(JSON.stringify(parts)).toString('base64url');
  return `${payload}.${cursorTag(payload)}`;
}
export function decodeCursor(cursor: string | undefined): (string | number)[] | null {
  if (!cursor) return null;
  const [payload, tag, ...rest] = cursor.split('.');
  if (rest.length > 0 || !tag || cursorTag(payload) !== tag) return null;
  try {
    const v: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString());
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)))) return v;
  } catch {
    /* fall through */
  }
  return null;
}
