import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ApiError } from '../errors';

// Lists (API.md): `?limit=&cursor=` → `{ data: [...], next_cursor: null | "…" }`.

export const limitField = z.coerce.number().int().min(1).max(200).default(50);
export const cursorField = z.string().max(200).optional();

export const pageQuery = z.strictObject({ limit: limitField, cursor: cursorField });

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

/** 400 `VALIDATION.CURSOR`: the answer to any cursor the route did not issue. */
export const cursorRefused = () => new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');

/**
 * One page of rows read with `limit + 1`: the first `limit` rows, and the cursor to the next page
 * (made from the last row kept) when there is more.
 */
export function pageOf<R>(rows: R[], limit: number, cursorOf: (last: R) => string): { kept: R[]; next_cursor: string | null } {
  const kept = rows.slice(0, limit);
  const last = kept[kept.length - 1];
  return { kept, next_cursor: rows.length > limit && last ? cursorOf(last) : null };
}

/** The payment engine's cursors are its `seq` column, base64url; anything else is refused here. */
export function checkSeqCursor(cursor: string | undefined): void {
  if (cursor === undefined) return;
  if (!/^\d{1,15}$/.test(Buffer.from(cursor, 'base64url').toString('utf8'))) throw cursorRefused();
}

/**
 * A page newest first by `seq` (usage packages, bills): the cursor carries the last seq shown.
 * `read` gets the seq to read below and how many rows (one more than the page).
 */
export async function seqPage<T>(read: (p: { beforeSeq: number | null; limit: number }) => Promise<any[]>, query: { limit: number; cursor?: string }, map: (rows: any[]) => Promise<T[]> | T[]) {
  const cursor = decodeCursor(query.cursor);
  if (query.cursor && !cursor) throw cursorRefused();
  const rows = await read({ beforeSeq: cursor ? Number(cursor[0]) : null, limit: query.limit + 1 });
  const { kept, next_cursor } = pageOf(rows, query.limit, (last) => encodeCursor([last.seq]));
  return { data: await map(kept), next_cursor };
}
