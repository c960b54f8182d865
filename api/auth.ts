import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { Knex } from 'knex';
import { newId } from '../common/ids';
import { ApiError, notFound } from './errors';

export interface Principal {
  keyId: string;
  scope: 'customer' | 'operator';
  accountId: string | null; // null for operator keys
}

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

// Secrets are 192 random bits, so a fast hash is enough (nothing to brute-force); only the hash
// is stored and the secret is shown once.
const hashKey = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** The shape of the secrets this API issues; the Idempotency-Key store never keeps one. */
export const API_KEY_PATTERN = /^qf_(live|op)_[A-Za-z0-9_-]{32}$/;

const MAX_PRESENTED_KEY = 512;

/** A new secret; only its hash is stored, the secret is shown once. */
export async function issueApiKey(db: Knex, opts: { scope: 'customer' | 'operator'; accountId: string | null; label?: string | null }): Promise<{ id: string; secret: string; row: ApiKeyRow }> {
  const prefix = opts.scope === 'operator' ? 'qf_op' : 'qf_live';
  const secret = `${prefix}_${randomBytes(24).toString('base64url')}`;
  const id = newId('key');
  const [row] = await db('api_keys')
    .insert({ id, account_id: opts.accountId, scope: opts.scope, key_hash: hashKey(secret), label: opts.label ?? null })
    .returning([...KEY_COLUMNS]);
  return { id, secret, row };
}

/** Makes sure the configured operator key works (npm start's bootstrap key). */
export async function ensureOperatorKey(db: Knex, secret: string): Promise<void> {
  await db('api_keys')
    .insert({ id: newId('key'), account_id: null, scope: 'operator', key_hash: hashKey(secret), label: 'bootstrap operator key' })
    .onConflict('key_hash')
    .ignore();
}

export async function revokeApiKey(db: Knex, keyId: string): Promise<boolean> {
  const n = await db('api_keys').where({ id: keyId }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
  return n > 0;
}

export function createAuthenticator(db: Knex) {
  return async function authenticate(req: Request): Promise<Principal | null> {
    const header = req.header('authorization');
    if (header === undefined) return null;
    const m = /^Bearer ([\x21-\x7e]+)$/i.exec(header.trim());
    if (!m || m[1].length > MAX_PRESENTED_KEY) throw new ApiError(401, 'AUTH.UNAUTHENTICATED', 'Authorization must be "Bearer <api key>"');
    const presented = hashKey(m[1]);
    // Lookup by hash (an index), then a constant-time comparison of the digests: the secret
    // itself is never compared, and the comparison takes the same time whatever matches.
    const row = await db('api_keys').where({ key_hash: presented }).first('id', 'scope', 'account_id', 'key_hash', 'revoked_at');
    const stored = Buffer.from(row?.key_hash ?? '0'.repeat(64), 'hex');
    const ok = timingSafeEqual(stored, Buffer.from(presented, 'hex'));
    if (!row || !ok) throw new ApiError(401, 'AUTH.UNAUTHENTICATED', 'unknown API key');
    if (row.revoked_at) throw new ApiError(401, 'AUTH.REVOKED', 'this API key has been revoked');
    return { keyId: row.id, scope: row.scope, accountId: row.account_id };
  };
}

/** Tenant isolation: a customer key reaches only its own account; anything else is "not found". */
export function assertAccountAccess(principal: Principal | null, accountId: string, what = 'account', id = accountId): void {
  if (!principal) throw new ApiError(401, 'AUTH.UNAUTHENTICATED', 'a valid API key is required');
  if (principal.scope === 'operator') return;
  if (principal.accountId !== accountId) throw notFound(what, id);
}
