import type { Knex } from 'knex';
import { AccountRow, getAccount } from '../store/accounts.store';
import { getSubscription } from '../store/subscriptions.store';
import { assertAccountAccess, Principal } from './auth';
import { notFound } from './errors';

// What a request may touch (API.md: a customer key only its own account; another account's ids
// answer 404, exactly like ids that do not exist).

/** Tenant isolation first (another tenant's account is "not found"), then existence. */
export async function ownedAccount(db: Knex, principal: Principal | null, accountId: string): Promise<AccountRow> {
  assertAccountAccess(principal, accountId);
  const row = await getAccount(db, accountId);
  if (!row) throw notFound('account', accountId);
  return row;
}

/** A subscription's read-model row the principal may see; a missing and a foreign one answer the same 404. */
export async function ownedSubscription(db: Knex, principal: Principal | null, id: string): Promise<Record<string, any>> {
  const row = await getSubscription(db, id);
  if (!row) throw notFound('subscription', id);
  assertAccountAccess(principal, row.account_id, 'subscription', id);
  return row;
}
