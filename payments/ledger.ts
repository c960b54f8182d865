import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import type { Db } from '../common/db';
import { PaymentError } from './errors';
import { newId } from './ids';

// R-M3 ledger and the cached balances it backs. Every money movement goes through
// `writeTransaction`, inside the same DB transaction that updates the cached balances.

export type Conn = Db | Knex.Transaction;

export interface BalanceRow {
  account_id: string;
  currency: string;
  cash: string;
  cash_locked: string;
  credit_limit: string;
  credit_used: string;
  credit_locked: string;
}

export const LEDGER = {
  cash: 'cash',
  /** Σ is minus the credit used. */
  credit: 'credit',
  coupon: (couponId: string) => `coupon:${couponId}`,
  cardClearing: 'card_clearing',
  topupClearing: 'topup_clearing',
  couponIssuance: 'coupon_issuance',
  revenue: 'revenue',
  refunds: 'refunds',
} as const;

/**
 * R-P4: locks the account's balance row (creating it on first use) so money movements of one
 * account are serialised. Always taken first, before coupons or orders, so there is no deadlock.
 */
export async function lockBalances<Extra extends object = object>(
  trx: Knex.Transaction,
  accountId: string,
  /** more columns read in the same statement (scalar subqueries), saving round trips */
  extra: Knex.Raw[] = [],
  /** false for a quote (R-I5): the same read, locking nothing */
  lock = true,
): Promise<BalanceRow & Extra> {
  const select = () => {
    const q = trx('account_balances as b')
      .join('accounts as a', 'a.id', 'b.account_id')
      .where('b.account_id', accountId)
      .select('b.*', 'a.currency', ...extra)
      .first();
    return lock ? q.forUpdate('b') : q;
  };
  let row = await select();
  if (!row) {
    await ensureAccountFinance(trx, accountId);
    row = await select();
  }
  return row as BalanceRow & Extra;
}

/** Creates the account's balance row if missing; ACCOUNT.NOT_FOUND for an unknown account. */
export async function ensureAccountFinance(conn: Conn, accountId: string): Promise<void> {
  const account = typeof accountId === 'string' ? await conn('accounts').where({ id: accountId }).first('id') : undefined;
  if (!account) throw new PaymentError('ACCOUNT.NOT_FOUND', `account ${String(accountId)} does not exist`, { account_id: accountId });
  await conn('account_balances').insert({ account_id: accountId }).onConflict('account_id').ignore();
}

export interface EntryInput {
  ledgerAccount: string;
  amount: Decimal;
}

function headerRow(tx: { accountId: string; idempotencyKey: string; requestHash?: string; kind: string; orderId?: string | null; description?: string | null; createdAt: Date }, id: string) {
  return {
    id,
    account_id: tx.accountId,
    idempotency_key: tx.idempotencyKey,
    request_hash: tx.requestHash ?? null,
    kind: tx.kind,
    order_id: tx.orderId ?? null,
    description: tx.description ?? null,
    created_at: tx.createdAt,
  };
}

/**
 * Runs writes to different rows as one statement: `parts` become data-modifying CTEs (Postgres
 * runs every one, referenced or not) in front of the `last` write, so N writes cost one round
 * trip and are atomic even outside a transaction. The parts must not depend on each other's
 * effects: every part sees the same snapshot.
 */
export async function inOneStatement(conn: Conn, parts: Knex.QueryBuilder[], last: (q: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<void> {
  let q = conn.queryBuilder();
  parts.forEach((w, i) => { q = q.with(`w${i}`, w); });
  await last(q);
}

/** Inserts a balanced transaction (zero entries dropped). The DB trigger re-checks at commit. */
export async function writeTransaction(
  trx: Knex.Transaction,
  tx: { id?: string; accountId: string; idempotencyKey: string; requestHash?: string; kind: string; orderId?: string | null; description?: string | null; createdAt: Date; entries: EntryInput[] },
  /** more writes to make in the same statement (data-modifying CTEs), saving round trips */
  together: Knex.QueryBuilder[] = [],
): Promise<string> {
  const entries = tx.entries.filter((e) => !e.amount.isZero());
  const sum = entries.reduce((s, e) => s.plus(e.amount), new Decimal(0));
  if (!sum.isZero()) throw new Error(`R-M3: refusing to write an unbalanced ${tx.kind} transaction (sum ${sum.toFixed(2)})`);
  const id = tx.id ?? newId('txn');
  const header = headerRow(tx, id);
  // Header, entries and the caller's writes in one statement (data-modifying CTEs): one round
  // trip. The deferred R-M3 trigger still checks the sum at commit.
  const rows = entries.map((e) => ({ transaction_id: id, account_id: tx.accountId, ledger_account: e.ledgerAccount, amount: e.amount.toFixed(2) }));
  if (rows.length === 0) await inOneStatement(trx, together, (q) => q.insert(header).into('ledger_transactions'));
  else await inOneStatement(trx, [...together, trx('ledger_transactions').insert(header)], (q) => q.insert(rows).into('ledger_entries'));
  return id;
}

export interface LedgerTransactionDto {
  id: string;
  idempotency_key: string;
  kind: string;
  order_id: string | null;
  description: string | null;
  created_at: string;
  entries: { account: string; amount: string }[];
}

export async function loadTransactions(conn: Conn, rows: Record<string, any>[]): Promise<LedgerTransactionDto[]> {
  const ids = rows.map((r) => r.id as string);
  const entries = ids.length ? await conn('ledger_entries').whereIn('transaction_id', ids).orderBy('id') : [];
  return rows.map((r) => ({
    id: r.id,
    idempotency_key: r.idempotency_key,
    kind: r.kind,
    order_id: r.order_id,
    description: r.description,
    created_at: new Date(r.created_at).toISOString(),
    entries: entries.filter((e: any) => e.transaction_id === r.id).map((e: any) => ({ account: e.ledger_account, amount: e.amount })),
  }));
}

/** Σ entries per ledger account for one customer account. */
export async function ledgerSums(conn: Conn, accountId: string): Promise<Map<string, Decimal>> {
  const rows = await conn('ledger_entries').where({ account_id: accountId }).groupBy('ledger_account').select('ledger_account').sum({ total: 'amount' });
  return new Map(rows.map((r: any) => [r.ledger_account as string, new Decimal(r.total)]));
}

export interface BalanceCheck {
  ok: boolean;
  mismatches: { what: string; cached: string; ledger: string }[];
}

/**
 * R-M3: the cached balances must equal what the ledger says — cash, credit used, every coupon's
 * balance — and the locked amounts must equal the held payment locks (R-P4).
 */
export async function verifyBalances(conn: Conn, accountId: string): Promise<BalanceCheck> {
  const mismatches: BalanceCheck['mismatches'] = [];
  const check = (what: string, cached: Decimal.Value, derived: Decimal) => {
    if (!new Decimal(cached).equals(derived)) mismatches.push({ what, cached: new Decimal(cached).toFixed(2), ledger: derived.toFixed(2) });
  };
  const sums = await ledgerSums(conn, accountId);
  const sum = (k: string) => sums.get(k) ?? new Decimal(0);
  const bal = (await conn('account_balances').where({ account_id: accountId }).first()) ?? { cash: 0, credit_used: 0, cash_locked: 0, credit_locked: 0 };
  check('cash', bal.cash, sum(LEDGER.cash));
  check('credit_used', bal.credit_used, sum(LEDGER.credit).negated());

  const held = await conn('payment_locks').where({ account_id: accountId, status: 'held' }).groupBy('source', 'coupon_id').select('source', 'coupon_id').sum({ total: 'amount' });
  const heldOf = (source: string, couponId?: string) =>
    held.filter((h: any) => h.source === source && (couponId === undefined || h.coupon_id === couponId)).reduce((s: Decimal, h: any) => s.plus(h.total), new Decimal(0));
  check('cash_locked', bal.cash_locked, heldOf('cash'));
  check('credit_locked', bal.credit_locked, heldOf('credit'));

  for (const c of await conn('coupons').where({ account_id: accountId })) {
    check(`coupon ${c.id} balance`, c.balance, sum(LEDGER.coupon(c.id)));
    check(`coupon ${c.id} locked`, c.locked, heldOf('coupon', c.id));
  }
  return { ok: mismatches.length === 0, mismatches };
}
