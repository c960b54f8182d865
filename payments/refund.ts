import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import { refundableAmount } from '../billing/payments';
import { PaymentError } from './errors';
import { newId } from './ids';
import { LEDGER, lockBalances, writeTransaction } from './ledger';
import { idempotencyMismatch, optionalText, parseMoney, requestHash, requireText } from './validation';
import type { EngineContext } from './context';
import { fmt, PAID_STATES, toOrderDto, toRefundDto, ZERO } from './rows';
import type { OrderDto, OrderRow, OrderStatus, RefundableOrder, RefundDto } from './types';

// Refunds (R-S11): to cash; coupon money never refunded; never more than the customer's own
// money paid on an order.

export function refundPhase(ctx: EngineContext) {
  const { db, clock } = ctx;

  async function refund(input: { orderId: string; amount: string | Decimal; idempotencyKey: string; reason?: string | null }): Promise<{ refund: RefundDto; order: OrderDto }> {
    const orderId = requireText(input?.orderId, 'order_id');
    const amount = parseMoney(input.amount, 'amount', { allowZero: true });
    const key = requireText(input.idempotencyKey, 'idempotency_key');
    const reason = optionalText(input.reason, 'reason', 500);
    const hash = requestHash({ op: 'refund', orderId, amount: amount.toFixed(2) });
    return db.transaction(async (trx) => {
      const head: OrderRow | undefined = await trx('orders').where({ id: orderId }).first();
      if (!head) throw new PaymentError('ORDER.NOT_FOUND', `order ${orderId} does not exist`, { order_id: orderId });
      await lockBalances(trx, head.account_id);
      const prior = await trx('refunds').where({ idempotency_key: key }).first();
      if (prior) {
        if (prior.request_hash !== hash) throw idempotencyMismatch(key);
        return { refund: toRefundDto(prior), order: toOrderDto(await trx('orders').where({ id: orderId }).first()) };
      }
      const order: OrderRow = await trx('orders').where({ id: orderId }).forUpdate().first();
      return refundWithin(trx, order, amount, key, hash, reason);
    });
  }

  /** One refund of `order` to cash, inside the caller's transaction (the account row is locked). */
  async function refundWithin(trx: Knex.Transaction, order: OrderRow, amount: Decimal, key: string, hash: string, reason: string | null): Promise<{ refund: RefundDto; order: OrderDto }> {
    const orderId = order.id;
    if (!PAID_STATES.includes(order.status)) {
      throw new PaymentError('ORDER.NOT_REFUNDABLE', `order ${orderId} is ${order.status}; only paid orders can be refunded`, { order_id: orderId, status: order.status });
    }
    const refundable = new Decimal(refundableAmount(order));
    if (amount.greaterThan(refundable)) {
      throw new PaymentError('PAYMENT.REFUND_EXCEEDS_PAID', `refund ${amount.toFixed(2)} exceeds the ${refundable.toFixed(2)} still refundable on order ${orderId}`, {
        order_id: orderId,
        refundable: refundable.toFixed(2),
      });
    }
    const now = clock.now();
    let ledgerId: string | null = null;
    if (amount.greaterThan(0)) {
      ledgerId = await writeTransaction(trx, {
        accountId: order.account_id,
        idempotencyKey: `refund:${key}`,
        requestHash: hash,
        kind: 'refund',
        orderId,
        description: reason,
        createdAt: now,
        entries: [
          { ledgerAccount: LEDGER.refunds, amount: amount.negated() },
          { ledgerAccount: LEDGER.cash, amount },
        ],
      });
      await trx('account_balances').where({ account_id: order.account_id }).update({ cash: trx.raw('cash + ?', [amount.toFixed(2)]), updated_at: now });
    }
    const refunded = new Decimal(order.refunded).plus(amount);
    const ownMoney = new Decimal(order.cash).plus(order.credit).plus(order.card);
    const status: OrderStatus = refunded.isZero() ? order.status : refunded.equals(ownMoney) ? 'refunded' : 'partially_refunded';
    await trx('orders').where({ id: orderId }).update({ refunded: refunded.toFixed(2), status });
    const row = { id: newId('rfd'), order_id: orderId, account_id: order.account_id, amount: amount.toFixed(2), idempotency_key: key, request_hash: hash, reason, ledger_transaction_id: ledgerId, created_at: now };
    await trx('refunds').insert(row);
    return { refund: toRefundDto(row), order: toOrderDto({ ...order, refunded: refunded.toFixed(2), status }) };
  }

  /**
   * Refunds several orders of one account at once, all or nothing, under one key (R-S11: an
   * unsubscribe refunds every order whose service is not used up). `amounts` sees the orders as
   * they are under the account lock (an operator's earlier refund included) and says how much of
   * each goes back; a retry under the same key finds the first refunds and returns them, so a
   * crash between two orders never refunds one twice or leaves one out.
   */
  async function refundOrders(input: { accountId: string; orderIds: string[]; idempotencyKey: string; reason: string; amounts: (orders: RefundableOrder[]) => Record<string, Decimal> }): Promise<{ refunds: RefundDto[]; total: string }> {
    const accountId = requireText(input?.accountId, 'account_id');
    const key = requireText(input.idempotencyKey, 'idempotency_key');
    const keyFor = (orderId: string) => `${key}:${orderId}`;
    return db.transaction(async (trx) => {
      await lockBalances(trx, accountId);
      const done: any[] = await trx('refunds').whereIn('idempotency_key', input.orderIds.map(keyFor)).orderBy('created_at');
      const mark: any = await trx('refund_batches').where({ idempotency_key: key }).first();
      if (mark) return { refunds: done.map(toRefundDto), total: fmt(done.reduce((t: Decimal, r: any) => t.plus(r.amount), ZERO)) };
      const orders: OrderRow[] = input.orderIds.length === 0 ? [] : await trx('orders').whereIn('id', input.orderIds).forUpdate();
      const foreign = orders.find((o) => o.account_id !== accountId);
      if (foreign || orders.length !== new Set(input.orderIds).size) {
        throw new PaymentError('ORDER.NOT_FOUND', 'an order to refund does not exist on this account', { order_ids: input.orderIds });
      }
      const amounts = input.amounts(orders.map((o) => ({ id: o.id, list_amount: fmt(o.list_amount), due: fmt(o.due), coupon: fmt(o.coupon), refunded: fmt(o.refunded), status: o.status })));
      const refunds: RefundDto[] = [];
      for (const o of orders) {
        const amount = amounts[o.id] ?? ZERO;
        if (!amount.greaterThan(0)) continue;
        const hash = requestHash({ op: 'refund', orderId: o.id, amount: amount.toFixed(2) });
        refunds.push((await refundWithin(trx, o, amount, keyFor(o.id), hash, input.reason)).refund);
      }
      // The batch is done, even when nothing was due back: a retry answers the same.
      await trx('refund_batches').insert({ idempotency_key: key, account_id: accountId, created_at: clock.now() });
      return { refunds, total: fmt(refunds.reduce((t, r) => t.plus(r.amount), ZERO)) };
    });
  }

  return { refund, refundOrders };
}

export type RefundPhase = ReturnType<typeof refundPhase>;
