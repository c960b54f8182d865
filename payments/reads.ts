import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import type { Db } from '../common/db';
import { PaymentError } from './errors';
import { ensureAccountFinance, LedgerTransactionDto, loadTransactions } from './ledger';
import type { EngineContext } from './context';
import { fmt, toCardDto, toCouponDto, toDiscountDto, toOrderDto } from './rows';
import type { BalancesDto, CouponDto, DiscountDto, OrderDto, OrderStatus, Page, PageOpts } from './types';

// Reads: balances, the ledger, orders, coupons, discounts (newest first, paged).

export function readsPhase(ctx: EngineContext) {
  const { db, clock } = ctx;

  async function readBalances(conn: Db | Knex.Transaction, accountId: string): Promise<BalancesDto> {
    const b = await conn('account_balances as b').join('accounts as a', 'a.id', 'b.account_id').where('b.account_id', accountId).select('b.*', 'a.currency').first();
    const card = await conn('cards').where({ account_id: accountId, status: 'bound' }).first();
    const d = (v: Decimal.Value) => new Decimal(v);
    return {
      account_id: accountId,
      currency: b.currency,
      cash: fmt(b.cash),
      credit_limit: fmt(b.credit_limit),
      credit_used: fmt(b.credit_used),
      locked: fmt(d(b.cash_locked).plus(b.credit_locked)),
      cash_locked: fmt(b.cash_locked),
      credit_locked: fmt(b.credit_locked),
      cash_available: fmt(d(b.cash).minus(b.cash_locked)),
      credit_available: fmt(Decimal.max(0, d(b.credit_limit).minus(b.credit_used).minus(b.credit_locked))),
      card: card ? toCardDto(card) : null,
    };
  }

  async function getBalances(accountId: string): Promise<BalancesDto> {
    await ensureAccountFinance(db, accountId);
    return readBalances(db, accountId);
  }

  async function page<T>(q: Knex.QueryBuilder, opts: PageOpts, map: (rows: any[]) => Promise<T[]> | T[]): Promise<Page<T>> {
    const limit = Math.min(Math.max(Math.trunc(Number(opts.limit ?? 50)) || 50, 1), 200);
    if (opts.cursor) {
      const seq = Number(Buffer.from(opts.cursor, 'base64url').toString('utf8'));
      if (!Number.isSafeInteger(seq)) throw new PaymentError('VALIDATION.FIELD', 'cursor is not valid', { field: 'cursor' });
      q = q.andWhere('seq', '<', seq);
    }
    const rows = await q.orderBy('seq', 'desc').limit(limit + 1);
    const more = rows.length > limit;
    const kept = rows.slice(0, limit);
    return { data: await map(kept), next_cursor: more ? Buffer.from(String(kept[kept.length - 1].seq)).toString('base64url') : null };
  }

  async function listLedger(accountId: string, opts: PageOpts = {}): Promise<Page<LedgerTransactionDto>> {
    await ensureAccountFinance(db, accountId);
    return page(db('ledger_transactions').where({ account_id: accountId }), opts, (rows) => loadTransactions(db, rows));
  }

  async function listOrders(accountId: string, opts: PageOpts & { subscriptionId?: string; status?: OrderStatus } = {}): Promise<Page<OrderDto>> {
    await ensureAccountFinance(db, accountId);
    const q = db('orders').where({ account_id: accountId });
    if (opts.subscriptionId) q.andWhere({ subscription_id: opts.subscriptionId });
    if (opts.status) q.andWhere({ status: opts.status });
    return page(q, opts, (rows) => rows.map(toOrderDto));
  }

  async function getOrder(orderId: string): Promise<OrderDto> {
    const row = await db('orders').where({ id: orderId }).first();
    if (!row) throw new PaymentError('ORDER.NOT_FOUND', `order ${orderId} does not exist`, { order_id: orderId });
    return toOrderDto(row);
  }

  async function listCoupons(accountId: string, opts: PageOpts = {}): Promise<Page<CouponDto>> {
    await ensureAccountFinance(db, accountId);
    const now = clock.now();
    return page(db('coupons').where({ account_id: accountId }), opts, (rows) => rows.map((r) => toCouponDto(r, now)));
  }

  async function listDiscounts(accountId: string, opts: PageOpts = {}): Promise<Page<DiscountDto>> {
    await ensureAccountFinance(db, accountId);
    const now = clock.now();
    return page(db('discounts').where({ account_id: accountId }), opts, (rows) => rows.map((r) => toDiscountDto(r, now)));
  }

  return { readBalances, getBalances, listLedger, listOrders, getOrder, listCoupons, listDiscounts };
}

export type ReadsPhase = ReturnType<typeof readsPhase>;
