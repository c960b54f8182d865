import type { CapturePhase } from './capture';
import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import { chooseCoupon, chooseDiscount, splitCharge, SplitParts } from '../billing/payments';
import { PaymentError } from './errors';
import { chargePath } from './charge-metrics';
import { newId } from './ids';
import { BalanceRow, lockBalances } from './ledger';
import { checkCurrency, idempotencyMismatch, optionalText, parseInstant, parseMoney, requestHash, requireText } from './validation';
import type { EngineContext } from './context';
import { fmt, PAID_STATES, zeroParts } from './rows';
import type { ChargeInput, CouponRow, DiscountRow, OrderRow } from './types';

// Phase 1 of a charge (R-P1…R-P4): validate it, then, in one short transaction under the
// account's row lock, replay an earlier order for its key or choose discount and coupon, split
// the amount due, and fail at once, capture at once (no card part) or lock the parts for the card.

export function reservePhase(ctx: EngineContext, phases: { capture: CapturePhase['capture'] }) {
  const { db, clock, lockTtlMs } = ctx;
  const { capture } = phases;

  type ValidCharge = ReturnType<typeof validateCharge>;
  /** What planning needs of a charge (a quote has no idempotency key). */
  type PlanRequest = Pick<ValidCharge, 'accountId' | 'listAmount' | 'purpose' | 'useCoupons' | 'promotionId'>;
  interface ChargeContext {
    existing_order_id: string | null;
    card_token: string | null;
    has_discounts: boolean;
    has_coupons: boolean;
  }

  function validateCharge(input: ChargeInput) {
    const accountId = requireText(input?.accountId, 'account_id');
    const listAmount = parseMoney(input.listAmount, 'list_amount', { allowZero: true });
    const key = requireText(input.idempotencyKey, 'idempotency_key');
    const p = input.purpose ?? ({} as ChargeInput['purpose']);
    const purpose = {
      kind: requireText(p.kind, 'purpose.kind', 50),
      subscriptionId: optionalText(p.subscriptionId, 'purpose.subscription_id'),
      resourceId: requireText(p.resourceId, 'purpose.resource_id'),
      description: optionalText(p.description, 'purpose.description', 500),
      product: optionalText(p.product, 'purpose.product'),
    };
    const useCoupons = input.useCoupons ?? true;
    const promotionId = optionalText(input.promotionId, 'promotion_id');
    const hash = requestHash({
      op: 'charge',
      accountId,
      listAmount: listAmount.toFixed(2),
      kind: purpose.kind,
      subscriptionId: purpose.subscriptionId,
      resourceId: purpose.resourceId,
      product: purpose.product,
      useCoupons,
      promotionId,
    });
    const at = input.at === undefined ? null : parseInstant(input.at, 'at');
    return { accountId, listAmount, key, purpose, useCoupons, promotionId, at, currency: input.currency, hash };
  }

  /**
   * Phase 1 (one short DB transaction under the account's row lock): replay an earlier order for
   * the key, or choose discount and coupon, split the due amount and either
   *  - fail at once (no card and not covered: nothing taken, R-P4),
   *  - capture at once (no card part: nothing left that could fail outside this transaction), or
   *  - lock the coupon/cash/credit parts and leave the order pending for the card (R-P4).
   */
  async function reserve(req: ValidCharge): Promise<{ order: OrderRow; resumed: boolean; path?: string }> {
    return db.transaction(async (trx) => {
      const now = req.at ?? clock.now();
      // The account lock and, in the same statement, whether there is anything more to read: an
      // order under this key, discounts, usable coupons, the bound card. Most charges then need
      // no further lookups. (A key first used concurrently may be missed here; the order insert's
      // unique violation then retries, and the retry finds it.)
      const bal = await chargeContext(trx, req, now, true);
      checkCurrency(req.currency, bal.currency);
      if (bal.existing_order_id !== null) {
        const existing: OrderRow = await trx('orders').where({ id: bal.existing_order_id }).first();
        if (existing.request_hash !== req.hash) throw idempotencyMismatch(req.key);
        return { order: existing, resumed: true };
      }

      const { discount, reason, coupon, split } = await plan(trx, req, now, bal, true);

      const row: OrderRow = {
        id: newId('ord'),
        account_id: req.accountId,
        subscription_id: req.purpose.subscriptionId,
        resource_id: req.purpose.resourceId,
        kind: req.purpose.kind,
        product: req.purpose.product,
        description: req.purpose.description,
        idempotency_key: req.key,
        request_hash: req.hash,
        currency: bal.currency,
        list_amount: split.listAmount,
        discount_id: discount?.id ?? null,
        discount_kind: discount?.kind ?? null,
        discount_percent: discount?.percent_off ?? null,
        discount_amount: split.discountAmount,
        discount_reason: discount ? reason : null,
        due: split.due,
        coupon_id: coupon && new Decimal(split.coupon).greaterThan(0) ? coupon.id : null,
        coupon: split.coupon,
        cash: split.cash,
        credit: split.credit,
        card: split.card,
        card_token: new Decimal(split.card).greaterThan(0) ? bal.card_token : null,
        card_charge_id: null,
        refunded: '0.00',
        status: 'pending',
        failure_code: null,
        failure_message: null,
        ledger_transaction_id: null,
        created_at: now,
        hold_expires_at: null,
        completed_at: null,
      };

      if (split.status === 'insufficient') {
        // R-P4 all-or-nothing: the order records the attempt; nothing is locked or taken.
        const failed = {
          ...row,
          ...zeroParts,
          status: 'failed' as const,
          failure_code: 'PAYMENT.INSUFFICIENT_FUNDS',
          failure_message: `coupon and balance cover ${fmt(new Decimal(split.due).minus(split.shortfall))} of ${split.due} due and no card is bound (short ${split.shortfall})`,
          completed_at: now,
        };
        await trx('orders').insert(failed);
        // The metrics' path is what would have paid, before the refusal zeroed the parts.
        return { order: failed, resumed: false, path: chargePath(row) };
      }

      if (new Decimal(split.card).isZero()) {
        // Nothing goes outside this transaction, so the account row lock is the R-P4 lock.
        return { order: await capture(trx, row, { fromLocks: false, chargeId: null, now, newOrder: true }), resumed: false };
      }
      // Lock deadlines run on the engine's clock, whatever instant the charge is evaluated at.
      const pending = { ...row, hold_expires_at: new Date(clock.now().getTime() + lockTtlMs) };
      await trx('orders').insert(pending);
      await holdLocks(trx, pending, split, now);
      return { order: pending, resumed: false };
    });
  }

  /**
   * The account (locked for a charge, R-P4) and, in the same statement, whether there is
   * anything more to read: an order under this key, discounts, usable coupons, the bound card.
   * Most charges then need no further lookups. (A key first used concurrently may be missed
   * here; the order insert's unique violation then retries, and the retry finds it.)
   */
  function chargeContext(trx: Knex.Transaction, req: { accountId: string; key: string | null }, now: Date, lock: boolean) {
    return lockBalances<ChargeContext>(trx, req.accountId, [
      trx.raw('(select o.id from orders o where o.idempotency_key = ?) as existing_order_id', [req.key ?? '']),
      trx.raw("(select c.token from cards c where c.account_id = b.account_id and c.status = 'bound' limit 1) as card_token"),
      trx.raw('exists (select 1 from discounts d where d.account_id = b.account_id) as has_discounts'),
      trx.raw('exists (select 1 from coupons c where c.account_id = b.account_id and c.expires_at > ? and c.balance > c.locked) as has_coupons', [now]),
    ], lock);
  }

  /**
   * R-P1…R-P3: what a charge takes: the discount chosen (R-P2), the coupon (R-P3) and the split
   * over coupon, cash, credit and card. The charge plans under the account lock and then takes
   * exactly this; a quote (quote.ts) plans the same way without locking anything, so the two can
   * never disagree (R-I5).
   */
  async function plan(trx: Knex.Transaction, req: PlanRequest, now: Date, bal: BalanceRow & ChargeContext, lock: boolean) {
    const { discount, reason } = bal.has_discounts || req.promotionId ? await pickDiscount(trx, req, now) : { discount: null, reason: null };
    const coupons = req.useCoupons && bal.has_coupons ? await usableCoupons(trx, req.accountId, now, lock) : [];
    const coupon = chooseCoupon(
      coupons.map((c) => ({ ...c, available: new Decimal(c.balance).minus(c.locked), expiresAt: new Date(c.expires_at) })),
      { now, scope: req.purpose.product },
    );
    const split = splitCharge({
      listAmount: req.listAmount,
      discountPercent: discount?.percent_off ?? null,
      couponAvailable: coupon?.available ?? null,
      cashAvailable: new Decimal(bal.cash).minus(bal.cash_locked),
      creditAvailable: new Decimal(bal.credit_limit).minus(bal.credit_used).minus(bal.credit_locked),
      hasCard: bal.card_token !== null,
    });
    return { discount, reason, coupon, split };
  }

  async function pickDiscount(trx: Knex.Transaction, req: PlanRequest, now: Date) {
    const rows: DiscountRow[] = await trx('discounts').where({ account_id: req.accountId });
    if (req.promotionId && !rows.some((d) => d.id === req.promotionId && d.kind === 'promotional')) {
      throw new PaymentError('VALIDATION.FIELD', `promotion ${req.promotionId} is not a promotional discount of this account`, { field: 'promotion_id' });
    }
    // R-P2: promotional discounts used by earlier paid orders of the same resource (only
    // promotional discounts can have been used; without any, there is nothing to look up).
    const uses = !rows.some((d) => d.kind === 'promotional') ? [] : await trx('orders')
      .where({ account_id: req.accountId, resource_id: req.purpose.resourceId, discount_kind: 'promotional' })
      .whereIn('status', PAID_STATES)
      .groupBy('discount_id')
      .select('discount_id')
      .max({ at: 'created_at' });
    const byId = new Map(rows.map((d) => [d.id, d]));
    const choice = chooseDiscount(
      rows.map((d) => ({ id: d.id, kind: d.kind, percentOff: d.percent_off, effectiveAt: new Date(d.effective_at), expiresAt: new Date(d.expires_at), scope: d.scope })),
      {
        resourceId: req.purpose.resourceId,
        now,
        scope: req.purpose.product,
        requestedPromotionId: req.promotionId,
        usedInOrders: uses.map((u: any) => ({ discountId: u.discount_id, resourceId: req.purpose.resourceId, at: new Date(u.at) })),
      },
    );
    return { discount: choice.discount ? byId.get(choice.discount.id)! : null, reason: choice.reason };
  }

  async function usableCoupons(trx: Knex.Transaction, accountId: string, now: Date, lock: boolean): Promise<CouponRow[]> {
    const q = trx('coupons').where({ account_id: accountId }).andWhere('expires_at', '>', now).andWhereRaw('balance > locked').orderBy('id');
    return lock ? q.forUpdate() : q;
  }

  /** R-P4: the coupon, cash and credit parts stay reserved until the card outcome is known. */
  async function holdLocks(trx: Knex.Transaction, order: OrderRow, split: SplitParts, now: Date): Promise<void> {
    const expiresAt = order.hold_expires_at!;
    const locks = [
      { source: 'coupon', coupon_id: order.coupon_id, amount: split.coupon },
      { source: 'cash', coupon_id: null, amount: split.cash },
      { source: 'credit', coupon_id: null, amount: split.credit },
    ].filter((l) => new Decimal(l.amount).greaterThan(0));
    if (locks.length === 0) return;
    await trx('payment_locks').insert(
      locks.map((l) => ({ id: newId('lck'), order_id: order.id, account_id: order.account_id, status: 'held', expires_at: expiresAt, created_at: now, ...l })),
    );
    await trx('account_balances')
      .where({ account_id: order.account_id })
      .update({ cash_locked: trx.raw('cash_locked + ?', [split.cash]), credit_locked: trx.raw('credit_locked + ?', [split.credit]), updated_at: now });
    if (order.coupon_id) await trx('coupons').where({ id: order.coupon_id }).update({ locked: trx.raw('locked + ?', [split.coupon]) });
  }

  return { validateCharge, reserve, chargeContext, plan };
}

export type ReservePhase = ReturnType<typeof reservePhase>;
