import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import type { EngineContext } from './context';
import { fmt, ZERO, zeroParts } from './rows';
import type { ChargeFailureCode, OrderRow } from './types';

// R-P4: a charge that fails gives back everything it locked; nothing is taken.

export function releasePhase(ctx: EngineContext) {
  void ctx;

  /** R-P4: a failed charge gives back everything it locked; nothing is taken. */
  async function release(trx: Knex.Transaction, order: OrderRow, code: ChargeFailureCode, message: string, now: Date): Promise<OrderRow> {
    const held = await trx('payment_locks').where({ order_id: order.id, status: 'held' });
    const sum = (source: string) => held.filter((l: any) => l.source === source).reduce((s: Decimal, l: any) => s.plus(l.amount), ZERO);
    await trx('account_balances')
      .where({ account_id: order.account_id })
      .update({ cash_locked: trx.raw('cash_locked - ?', [fmt(sum('cash'))]), credit_locked: trx.raw('credit_locked - ?', [fmt(sum('credit'))]), updated_at: now });
    for (const l of held.filter((x: any) => x.source === 'coupon')) {
      await trx('coupons').where({ id: l.coupon_id }).update({ locked: trx.raw('locked - ?', [l.amount]) });
    }
    await trx('payment_locks').where({ order_id: order.id, status: 'held' }).update({ status: 'released', resolved_at: now });
    const patch = { ...zeroParts, coupon_id: null, status: 'failed' as const, failure_code: code, failure_message: message, completed_at: now };
    await trx('orders').where({ id: order.id }).update(patch);
    return { ...order, ...patch };
  }

  return { release };
}

export type ReleasePhase = ReturnType<typeof releasePhase>;
