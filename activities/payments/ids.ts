import { randomBytes } from 'node:crypto';

export type IdPrefix = 'txn' | 'ord' | 'cpn' | 'dsc' | 'chg' | 'lck' | 'rfd' | 'crl' | 'card';

/** Random, prefixed, URL-safe ids (`ord_3f9c...`). */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
