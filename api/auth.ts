import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { Knex } from 'knex';
import { findApiKeyByHash, hashApiKey } from '../store/accounts.store';
import { ApiError, notFound } from './errors';

export interface Principal {
  keyId: string;
  scope: 'customer' | 'operator';
  accountId: string | null; // null for operator keys
}

// Keys are stored in store/accounts.store (only their hash); these names stay importable from here.
export { API_KEY_PATTERN, ensureOperatorKey, issueApiKey, KEY_COLUMNS } from '../store/accounts.store';
export type { ApiKeyRow } from '../store/accounts.store';

const MAX_PRESENTED_KEY = 512;

export function createAuthenticator(db: Knex) {
  return async function authenticate(req: Request): Promise<Principal | null> {
    const header = req.header('authorization');
    if (header === undefined) return null;
    const m = /^Bearer ([\x21-\x7e]+)$/i.exec(header.trim());
    if (!m || m[1].length > MAX_PRESENTED_KEY) throw new ApiError(401, 'AUTH.UNAUTHENTICATED', 'Authorization must be "Bearer <api key>"');
    const presented = hashApiKey(m[1]);
    // Lookup by hash (an index), then a constant-time comparison of the digests: the secret
    // itself is never compared, and the comparison takes the same time whatever matches.
    const row = await findApiKeyByHash(db, presented);
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
