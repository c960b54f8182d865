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

const hashKey = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** A new secret; only its hash is stored, the secret is shown once. */
export async function issueApiKey(db: Knex, opts: { scope: 'customer' | 'operator'; accountId: string | null; label?: string }): Promise<{ id: string; secret: string }> {
  const prefix = opts.scope === 'operator' ? 'qf_op' : 'qf_live';
  const secret = `${prefix}_${randomBytes(24).toString('base64url')}`;
  const id = newId('key');
  await db('api_keys').insert({ id, account_id: opts.accountId, scope: opts.scope, key_hash: hashKey(secret), label: opts.label ?? null });
  return { id, secret };
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
    if (!header) return null;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw new ApiError(401, 'AUTH.UNAUTHENTICATED', 'Authorization must be "Bearer <api key>"');
    const presented = hashKey(m[1]);
    // Lookup by hash (an index), then a constant-time comparison of the digests.
    const row = await db('api_keys').where({ key_hash: presented }).first();
    if (!row || !timingSafeEqual(Buffer.from(row.key_hash, 'hex'), Buffer.from(presented, 'hex'))) {
      throw new ApiError(401, 'AUTH.UNAUTHENTICATED', 'unknown API key');
    }
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
