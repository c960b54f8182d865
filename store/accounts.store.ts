import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { newId } from '../common/ids';

// Accounts and their API keys in Postgres: the account rows, the auto-binding flag's reads, the
// discounts an account was granted (as a purchase names one), and the keys (issue #4). A key's
// secret is shown once and only its hash is stored.

type Conn = Knex | Knex.Transaction;

export interface AccountRow {
  id: string;
  name: string;
  currency: string;
  customer_level: 'standard' | 'key_account';
  auto_binding: boolean;
  email: string | null;
  phone: string | null;
  language: string;
  created_at: Date;
}

/** Issue #15: where the account's messages go, and the language they are written in. */
export interface AccountContact {
  email?: string | null;
  phone?: string | null;
  language?: string;
}

/** Changes only the contact fields given; returns whether the account exists. */
export async function updateAccountContact(db: Conn, accountId: string, c: AccountContact): Promise<boolean> {
  const patch = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined));
  if (Object.keys(patch).length === 0) return (await db('accounts').where({ id: accountId }).first('id')) !== undefined;
  return (await db('accounts').where({ id: accountId }).update(patch)) > 0;
}

/** One account, or undefined. */
export async function getAccount(db: Conn, accountId: string): Promise<AccountRow | undefined> {
  return db('accounts').where({ id: accountId }).first();
}

/** The accounts among `ids` that exist, with their customer level (R-A4 picks the arrears periods by it). */
export async function accountLevels(db: Conn, ids: string[]): Promise<{ id: string; customer_level: 'standard' | 'key_account' }[]> {
  return db('accounts').whereIn('id', ids).select('id', 'customer_level');
}

/** A new account and its first customer API key, in one transaction. */
export async function createAccountWithKey(db: Knex, a: { id: string; name: string; currency: string; customerLevel: string; contact?: AccountContact }): Promise<IssuedKey> {
  return db.transaction(async (trx) => {
    await trx('accounts').insert({ id: a.id, name: a.name, currency: a.currency, customer_level: a.customerLevel, ...(a.contact ?? {}) });
    return issueApiKey(trx, { scope: 'customer', accountId: a.id, label: 'created with the account' });
  });
}

/** R-P2: a discount granted to the account (a purchase or renewal may name a promotional one). */
export async function getAccountDiscount(db: Conn, accountId: string, discountId: string) {
  return db('discounts').where({ id: discountId, account_id: accountId }).first();
}

// ---------------------------------------------------------------------------------------------
// API keys

export interface ApiKeyRow {
  id: string;
  account_id: string | null;
  scope: 'customer' | 'operator';
  label: string | null;
  created_at: Date;
  revoked_at: Date | null;
}

/** What a key looks like to its owner: never its secret, never its hash. */
export const KEY_COLUMNS = ['id', 'account_id', 'scope', 'label', 'created_at', 'revoked_at'] as const;

/** The shape of the secrets this API issues; the Idempotency-Key store never keeps one. */
export const API_KEY_PATTERN = /^qf_(live|op)_[A-Za-z0-9_-]{32}$/;

// Secrets are 192 random bits, so a fast hash is enough (nothing to brute-force); only the hash
// is stored and the secret is shown once.
export const hashApiKey = (secret: string) => createHash('sha256').update(secret).digest('hex');

export interface IssuedKey {
  id: string;
  secret: string;
  row: ApiKeyRow;
}

/** A new secret; only its hash is stored, the secret is shown once. */
export async function issueApiKey(db: Conn, opts: { scope: 'customer' | 'operator'; accountId: string | null; label?: string | null }): Promise<IssuedKey> {
  const prefix = opts.scope === 'operator' ? 'qf_op' : 'qf_live';
  const secret = `${prefix}_${randomBytes(24).toString('base64url')}`;
  const id = newId('key');
  const [row] = await db('api_keys')
    .insert({ id, account_id: opts.accountId, scope: opts.scope, key_hash: hashApiKey(secret), label: opts.label ?? null })
    .returning([...KEY_COLUMNS]);
  return { id, secret, row };
}

/** Makes sure the configured operator key works (npm start's bootstrap key). */
export async function ensureOperatorKey(db: Knex, secret: string): Promise<void> {
  await db('api_keys')
    .insert({ id: newId('key'), account_id: null, scope: 'operator', key_hash: hashApiKey(secret), label: 'bootstrap operator key' })
    .onConflict('key_hash')
    .ignore();
}

/** The authenticator's lookup: by hash (an index). */
export async function findApiKeyByHash(db: Knex, keyHash: string): Promise<{ id: string; scope: 'customer' | 'operator'; account_id: string | null; key_hash: string; revoked_at: Date | null } | undefined> {
  return db('api_keys').where({ key_hash: keyHash }).first('id', 'scope', 'account_id', 'key_hash', 'revoked_at');
}

/**
 * A page of keys, newest first, keyset-paginated on (created_at, id); `created_text` is
 * created_at to the microsecond, for the cursor (a JS Date would drop them).
 */
export async function listApiKeys(db: Knex, p: { accountId?: string; scope: 'customer' | 'operator'; limit: number; before: [string, string] | null }): Promise<(ApiKeyRow & { created_text: string })[]> {
  const q = db('api_keys').where(p.accountId === undefined ? { scope: p.scope } : { account_id: p.accountId, scope: p.scope });
  if (p.before) q.whereRaw('(created_at, id) < (?::timestamptz, ?)', p.before);
  return q
    .select(...KEY_COLUMNS, db.raw(`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_text`))
    .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
    .limit(p.limit);
}

export type RevokeOutcome = { revoked: ApiKeyRow } | { notFound: true } | { lastOperatorKey: true };

/**
 * Revokes a key once (revoking again answers the revoked key). `visible` says whether the caller
 * may see the key at all (a key it may not see "does not exist"). The last active operator key
 * is never revoked: the operator keys are locked, so two concurrent revocations cannot leave the
 * API without one.
 */
export async function revokeApiKey(db: Knex, keyId: string, visible: (key: ApiKeyRow) => boolean): Promise<RevokeOutcome> {
  return db.transaction(async (trx): Promise<RevokeOutcome> => {
    const key: ApiKeyRow | undefined = await trx('api_keys').where({ id: keyId }).first([...KEY_COLUMNS]);
    if (!key || !visible(key)) return { notFound: true };
    if (key.revoked_at) return { revoked: key };
    if (key.scope === 'operator') {
      const active = await trx('api_keys').where({ scope: 'operator' }).whereNull('revoked_at').forUpdate().pluck('id');
      if (active.length <= 1) return { lastOperatorKey: true };
    }
    const [revoked] = await trx('api_keys').where({ id: keyId }).update({ revoked_at: trx.fn.now() }).returning([...KEY_COLUMNS]);
    return { revoked: revoked as ApiKeyRow };
  });
}
