import type { ReleasePhase } from './release';
import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import type { GatewayCharge } from './card-gateway';
import { newId } from './ids';
import { LEDGER, lockBalances, writeTransaction } from './ledger';
import { faultPoint } from '../common/faults';
import type { EngineContext } from './context';
import { fmt, toChargeResult } from './rows';
import type { ChargeResult, OrderRow } from './types';

// Phases 2 and 3 of a charge: the card part through the gateway, outside any transaction, then
// capture on success (R-P1, R-M3: one balanced ledger transaction) or release (R-P4).

export function capturePhase(ctx: EngineContext, phases: { release: ReleasePhase['release'] }) {
  const { db, clock, gateway, hooks, lockTtlMs } = ctx;
  const { release } = phases;

  /**
   * Phase 2, outside any DB transaction: the card part through the gateway, carrying the charge's
   * key. A resumed order first asks the gateway what became of the key (R-P5): the process may
   * have died after the card was charged. A transient failure throws and leaves the locks held,
   * so the activity retry resumes here.
   */
  async function settleCard(order: OrderRow, resumed: boolean): Promise<ChargeResult> {
    const gatewayKey = `charge:${order.idempotency_key}`;
    let result = resumed ? await gateway.getCharge(gatewayKey) : null;
    if (!result) {
      faultPoint('charge.before-gateway');
      result = await whileHeld(order.id, () => gateway.charge({
        token: order.card_token!,
        amount: fmt(order.card),
        currency: order.currency,
        idempotencyKey: gatewayKey,
        description: order.description ?? order.kind,
      }));
    }
    faultPoint('charge.after-gateway');
    await hooks.afterGatewayCharge?.({ orderId: order.id, idempotencyKey: order.idempotency_key, result });
    return toChargeResult(await applyGatewayOutcome(order.id, result));
  }

  /**
   * R-P4: while the card call is in flight its locks are renewed, so the stale-payment sweep
   * (recover.ts) never settles an order whose charge may still go through; a process that dies
   * stops renewing, and once the hold runs out the sweep asks the gateway (issue #13).
   */
  async function whileHeld<T>(orderId: string, call: () => Promise<T>): Promise<T> {
    const renew = () => {
      const until = new Date(clock.now().getTime() + lockTtlMs);
      return Promise.all([
        db('orders').where({ id: orderId, status: 'pending' }).update({ hold_expires_at: until }),
        db('payment_locks').where({ order_id: orderId, status: 'held' }).update({ expires_at: until }),
      ]).catch(() => undefined); // a missed renewal only lets the sweep ask the gateway sooner
    };
    const timer = setInterval(() => { void renew(); }, Math.max(1_000, Math.floor(lockTtlMs / 3)));
    timer.unref();
    try {
      return await call();
    } finally {
      clearInterval(timer);
    }
  }

  /** Phase 3: capture on success, release on decline — each in one short DB transaction. */
  async function applyGatewayOutcome(orderId: string, result: GatewayCharge | null): Promise<OrderRow> {
    return db.transaction(async (trx) => {
      const head: OrderRow = await trx('orders').where({ id: orderId }).first();
      await lockBalances(trx, head.account_id);
      const order: OrderRow = await trx('orders').where({ id: orderId }).forUpdate().first();
      if (order.status !== 'pending') return order; // someone else settled it first
      const now = clock.now();
      if (result?.status === 'succeeded') {
        if (!new Decimal(result.amount).equals(order.card)) {
          throw new Error(`gateway charged ${result.amount} for order ${order.id}, which expected ${fmt(order.card)}`);
        }
        return capture(trx, order, { fromLocks: true, chargeId: result.chargeId, now });
      }
      if (result?.status === 'declined') {
        return release(trx, order, 'PAYMENT.CARD_DECLINED', `the card was declined (${result.code}: ${result.message}); nothing was taken`, now);
      }
      return release(trx, order, 'PAYMENT.TIMEOUT', 'the card payment did not complete in time; nothing was taken', now);
    });
  }

  /** R-P1/R-M3: one balanced transaction — revenue = coupon + cash + credit + card. */
  async function capture(trx: Knex.Transaction, order: OrderRow, opts: { fromLocks: boolean; chargeId: string | null; now: Date; newOrder?: boolean }): Promise<OrderRow> {
    const d = (v: Decimal.Value) => new Decimal(v);
    const lockedPart = (v: Decimal.Value) => (opts.fromLocks ? fmt(v) : '0.00');
    const ledgerId = d(order.due).greaterThan(0) ? newId('txn') : null;
    const patch = { status: 'paid' as const, card_charge_id: opts.chargeId, ledger_transaction_id: ledgerId, completed_at: opts.now };
    // Every write of the capture goes in one statement with the ledger transaction (different
    // rows each, none reading another's effect): one round trip under the account lock.
    const writes: Knex.QueryBuilder[] = [
      trx('account_balances')
        .where({ account_id: order.account_id })
        .update({
          cash: trx.raw('cash - ?', [fmt(order.cash)]),
          cash_locked: trx.raw('cash_locked - ?', [lockedPart(order.cash)]),
          credit_used: trx.raw('credit_used + ?', [fmt(order.credit)]),
          credit_locked: trx.raw('credit_locked - ?', [lockedPart(order.credit)]),
          updated_at: opts.now,
        }),
      // A charge covered without the card is written here for the first time, already paid.
      opts.newOrder ? trx('orders').insert({ ...order, ...patch }) : trx('orders').where({ id: order.id }).update(patch),
    ];
    if (order.coupon_id) {
      writes.push(trx('coupons')
        .where({ id: order.coupon_id })
        .update({ balance: trx.raw('balance - ?', [fmt(order.coupon)]), locked: trx.raw('locked - ?', [lockedPart(order.coupon)]) }));
    }
    if (opts.fromLocks) writes.push(trx('payment_locks').where({ order_id: order.id, status: 'held' }).update({ status: 'captured', resolved_at: opts.now }));
    if (ledgerId === null) {
      for (const w of writes) await w; // nothing due: no ledger transaction to carry them (rare)
    } else {
      await writeTransaction(trx, {
        id: ledgerId,
        accountId: order.account_id,
        idempotencyKey: `charge:${order.idempotency_key}`,
        requestHash: order.request_hash,
        kind: 'charge',
        orderId: order.id,
        description: order.description ?? order.kind,
        createdAt: order.created_at, // the charge's instant (may be a workflow's clock, ChargeInput.at)
        entries: [
          { ledgerAccount: LEDGER.revenue, amount: d(order.due) },
          ...(order.coupon_id ? [{ ledgerAccount: LEDGER.coupon(order.coupon_id), amount: d(order.coupon).negated() }] : []),
          { ledgerAccount: LEDGER.cash, amount: d(order.cash).negated() },
          { ledgerAccount: LEDGER.credit, amount: d(order.credit).negated() },
          { ledgerAccount: LEDGER.cardClearing, amount: d(order.card).negated() },
        ],
      }, writes);
    }
    return { ...order, ...patch };
  }

  return { settleCard, applyGatewayOutcome, capture };
}

export type CapturePhase = ReturnType<typeof capturePhase>;
