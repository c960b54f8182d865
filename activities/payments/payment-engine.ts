import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import type { Db } from '../../common/db';
import {
  chooseCoupon,
  chooseDiscount,
  DISCOUNT_KINDS,
  DiscountKind,
  refundableAmount,
  splitCharge,
  SplitParts,
} from '../../billing/payments';
import type { CardGateway, GatewayCharge } from './card-gateway';
import { PaymentError } from './errors';
import { newId } from './ids';
import {
  BalanceCheck,
  ensureAccountFinance,
  LEDGER,
  LedgerTransactionDto,
  loadTransactions,
  lockBalances,
  verifyBalances,
  writeTransaction,
} from './ledger.repository';
import {
  checkCurrency,
  idempotencyMismatch,
  optionalText,
  parseInstant,
  parseMoney,
  parsePercent,
  requestHash,
  requireText,
} from './validation';

// The payment-collection engine (SPEC §4). Every method that moves money is idempotent on its
// key (R-P5) and writes one balanced ledger transaction (R-M3) in the same DB transaction that
// updates the cached balances. A charge is two-phase (R-P4): reserve (lock the amounts) → card
// gateway outside any DB transaction → capture or release.

export interface Clock {
  now(): Date;
}

export interface PaymentEngineHooks {
  /**
   * Runs after the gateway answered and before the outcome is written. Fault tests throw here to
   * simulate a process dying between the card charge and the ledger write (R-P5).
   */
  afterGatewayCharge?(ctx: { orderId: string; idempotencyKey: string; result: GatewayCharge }): void | Promise<void>;
}

export interface PaymentEngineDeps {
  db: Db;
  gateway: CardGateway;
  clock?: Clock;
  /** How long a pending charge may hold its locks before `recoverStalePayments` settles it. */
  lockTtlMs?: number;
  hooks?: PaymentEngineHooks;
}

export type OrderStatus = 'pending' | 'paid' | 'failed' | 'partially_refunded' | 'refunded';
export type ChargeFailureCode = 'PAYMENT.INSUFFICIENT_FUNDS' | 'PAYMENT.CARD_DECLINED' | 'PAYMENT.TIMEOUT';

export interface OrderDto {
  id: string;
  account_id: string;
  subscription_id: string | null;
  resource_id: string;
  kind: string;
  product: string | null;
  description: string | null;
  idempotency_key: string;
  currency: string;
  list_amount: string;
  discount: null | { id: string; kind: DiscountKind; percent_off: string; amount: string; reason: string | null };
  due: string;
  coupon_id: string | null;
  coupon: string;
  cash: string;
  credit: string;
  card: string;
  refunded: string;
  status: OrderStatus;
  failure: null | { code: string; message: string };
  card_charge_id: string | null;
  ledger_transaction_id: string | null;
  created_at: string;
  completed_at: string | null;
}

export type ChargeResult =
  | { status: 'paid'; order: OrderDto }
  | { status: 'failed'; code: ChargeFailureCode; message: string; order: OrderDto };

export interface ChargeInput {
  accountId: string;
  /** Decimal string, at most 2 places. */
  listAmount: string | Decimal;
  /** Must equal the account's currency when given. */
  currency?: string;
  purpose: {
    kind: string; // purchase | renewal | upgrade | settlement | ...
    subscriptionId?: string | null;
    /** R-P2: promotional discounts follow the resource (subscription, server, ...). */
    resourceId: string;
    description?: string | null;
    /** `product` or `product/edition`, for scoped coupons and discounts. */
    product?: string | null;
  };
  /** R-P5: derived from what is paid for, e.g. `<subscription>:<term>:<attempt>`. */
  idempotencyKey: string;
  /** R-U2: pay-per-use settlement collects without coupons. Default true. */
  useCoupons?: boolean;
  /** R-P2: a promotional discount the customer buys under now (its first use on this resource). */
  promotionId?: string | null;
  /**
   * The instant the charge is evaluated at (discount/coupon validity, the order's time). Workflows
   * pass their own clock (R-T3) so time-skipped tests see the same validity; default clock.now().
   */
  at?: Date;
}

export interface CardDto {
  token_hint: string;
  last4?: string;
  brand?: string;
  bound_at: string;
}

export interface BalancesDto {
  account_id: string;
  currency: string;
  cash: string;
  credit_limit: string;
  credit_used: string;
  /** Balance (cash + credit) held by charges in flight (R-P4). */
  locked: string;
  cash_locked: string;
  credit_locked: string;
  cash_available: string;
  credit_available: string;
  card: CardDto | null;
}

export interface CouponDto {
  id: string;
  account_id: string;
  amount: string;
  balance: string;
  locked: string;
  available: string;
  scope: string | null;
  expires_at: string;
  status: 'active' | 'used_up' | 'expired';
  created_at: string;
}

export interface DiscountDto {
  id: string;
  account_id: string;
  kind: DiscountKind;
  percent_off: string;
  scope: string | null;
  effective_at: string;
  expires_at: string;
  status: 'scheduled' | 'active' | 'expired';
  created_at: string;
}

export interface RefundDto {
  id: string;
  order_id: string;
  account_id: string;
  amount: string;
  idempotency_key: string;
  reason: string | null;
  ledger_transaction_id: string | null;
  created_at: string;
}

/** An order as a multi-order refund (refundOrders) sees it, under the account lock. */
export interface RefundableOrder {
  id: string;
  list_amount: string;
  due: string;
  coupon: string;
  refunded: string;
  status: OrderStatus;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface PageOpts {
  limit?: number;
  cursor?: string | null;
}

const PAID_STATES: OrderStatus[] = ['paid', 'partially_refunded', 'refunded'];
const DEFAULT_LOCK_TTL_MS = 15 * 60 * 1000;
const ZERO = new Decimal(0);
const fmt = (v: Decimal.Value) => new Decimal(v).toFixed(2);
const iso = (v: Date | string | null | undefined) => (v ? new Date(v).toISOString() : null);
const isUniqueViolation = (e: unknown) => (e as { code?: string })?.code === '23505';

export function createPaymentEngine(deps: PaymentEngineDeps) {
  const { db, gateway } = deps;
  const clock: Clock = deps.clock ?? { now: () => new Date() };
  const lockTtlMs = deps.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
  const hooks = deps.hooks ?? {};

  // ------------------------------------------------------------------------------------------
  // Charges (R-P1 … R-P5)

  async function charge(input: ChargeInput): Promise<ChargeResult> {
    const req = validateCharge(input);
    // Two tries: a concurrent first use of the same key on another account loses the unique race
    // and, on the second pass, finds the winner's order (→ replay or IDEMPOTENCY.MISMATCH).
    let reserved: { order: OrderRow; resumed: boolean };
    try {
      reserved = await reserve(req);
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      reserved = await reserve(req);
    }
    const { order, resumed } = reserved;
    if (order.status !== 'pending') return toChargeResult(order);
    return settleCard(order, resumed);
  }

  type ValidCharge = ReturnType<typeof validateCharge>;
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
  async function reserve(req: ValidCharge): Promise<{ order: OrderRow; resumed: boolean }> {
    return db.transaction(async (trx) => {
      const now = req.at ?? clock.now();
      // The account lock and, in the same statement, whether there is anything more to read: an
      // order under this key, discounts, usable coupons, the bound card. Most charges then need
      // no further lookups. (A key first used concurrently may be missed here; the order insert's
      // unique violation then retries, and the retry finds it.)
      const bal = await lockBalances<ChargeContext>(trx, req.accountId, [
        trx.raw('(select o.id from orders o where o.idempotency_key = ?) as existing_order_id', [req.key]),
        trx.raw("(select c.token from cards c where c.account_id = b.account_id and c.status = 'bound' limit 1) as card_token"),
        trx.raw('exists (select 1 from discounts d where d.account_id = b.account_id) as has_discounts'),
        trx.raw('exists (select 1 from coupons c where c.account_id = b.account_id and c.expires_at > ? and c.balance > c.locked) as has_coupons', [now]),
      ]);
      checkCurrency(req.currency, bal.currency);
      if (bal.existing_order_id !== null) {
        const existing: OrderRow = await trx('orders').where({ id: bal.existing_order_id }).first();
        if (existing.request_hash !== req.hash) throw idempotencyMismatch(req.key);
        return { order: existing, resumed: true };
      }

      const { discount, reason } = bal.has_discounts || req.promotionId ? await pickDiscount(trx, req, now) : { discount: null, reason: null };
      const coupons = req.useCoupons && bal.has_coupons ? await usableCoupons(trx, req.accountId, now) : [];
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
        return { order: failed, resumed: false };
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

  async function pickDiscount(trx: Knex.Transaction, req: ValidCharge, now: Date) {
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

  async function usableCoupons(trx: Knex.Transaction, accountId: string, now: Date): Promise<CouponRow[]> {
    return trx('coupons').where({ account_id: accountId }).andWhere('expires_at', '>', now).andWhereRaw('balance > locked').orderBy('id').forUpdate();
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
      result = await gateway.charge({
        token: order.card_token!,
        amount: fmt(order.card),
        currency: order.currency,
        idempotencyKey: gatewayKey,
        description: order.description ?? order.kind,
      });
    }
    await hooks.afterGatewayCharge?.({ orderId: order.id, idempotencyKey: order.idempotency_key, result });
    return toChargeResult(await applyGatewayOutcome(order.id, result));
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

  /**
   * R-P4 "times out": settles pending charges older than the lock TTL by asking the gateway about
   * their key — charged → capture, declined or never processed → release. Run periodically.
   * The TTL must exceed the gateway's own timeout, so no call is still in flight when released.
   */
  async function recoverStalePayments(opts: { limit?: number } = {}): Promise<{ captured: number; released: number }> {
    const stale: OrderRow[] = await db('orders').where({ status: 'pending' }).andWhere('hold_expires_at', '<=', clock.now()).orderBy('hold_expires_at').limit(opts.limit ?? 100);
    let captured = 0;
    let released = 0;
    for (const o of stale) {
      const result = await gateway.getCharge(`charge:${o.idempotency_key}`);
      const after = await applyGatewayOutcome(o.id, result);
      if (after.status === 'paid') captured += 1;
      else if (after.status === 'failed') released += 1;
    }
    return { captured, released };
  }

  // ------------------------------------------------------------------------------------------
  // Refunds (R-S11: to cash; coupon money never refunded; Σ refunds ≤ own money paid)

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

  // ------------------------------------------------------------------------------------------
  // Funding: top-ups, credit line, card, coupons, discounts

  /**
   * Cash in. Where SPEC is silent we follow common billing-centre practice: a top-up first repays
   * credit already used, the rest becomes cash.
   */
  async function topUp(input: {
    accountId: string;
    amount: string | Decimal;
    idempotencyKey: string;
    currency?: string;
    /** more writes that must commit with the money, and only then (the workflow signal outbox) */
    alsoWrite?: (trx: Knex.Transaction) => Promise<void>;
  }): Promise<{ transactionId: string; transaction: LedgerTransactionDto; balances: BalancesDto }> {
    const accountId = requireText(input?.accountId, 'account_id');
    const amount = parseMoney(input.amount, 'amount');
    const key = requireText(input.idempotencyKey, 'idempotency_key');
    const hash = requestHash({ op: 'topup', accountId, amount: amount.toFixed(2) });
    return db.transaction(async (trx) => {
      const bal = await lockBalances(trx, accountId);
      checkCurrency(input.currency, bal.currency);
      const ledgerKey = `topup:${key}`;
      let tx = await trx('ledger_transactions').where({ idempotency_key: ledgerKey }).first();
      if (tx) {
        if (tx.request_hash !== hash) throw idempotencyMismatch(key);
      } else {
        const now = clock.now();
        const repay = Decimal.min(amount, bal.credit_used);
        const cash = amount.minus(repay);
        const id = await writeTransaction(trx, {
          accountId,
          idempotencyKey: ledgerKey,
          requestHash: hash,
          kind: 'topup',
          createdAt: now,
          description: repay.greaterThan(0) ? `top-up; ${repay.toFixed(2)} repays credit used` : 'top-up',
          entries: [
            { ledgerAccount: LEDGER.topupClearing, amount: amount.negated() },
            { ledgerAccount: LEDGER.credit, amount: repay },
            { ledgerAccount: LEDGER.cash, amount: cash },
          ],
        });
        await trx('account_balances')
          .where({ account_id: accountId })
          .update({ cash: trx.raw('cash + ?', [cash.toFixed(2)]), credit_used: trx.raw('credit_used - ?', [repay.toFixed(2)]), updated_at: now });
        tx = await trx('ledger_transactions').where({ id }).first();
        await input.alsoWrite?.(trx);
      }
      const [dto] = await loadTransactions(trx, [tx]);
      return { transactionId: dto.id, transaction: dto, balances: await readBalances(trx, accountId) };
    });
  }

  async function setCreditLimit(input: { accountId: string; limit: string | Decimal; idempotencyKey?: string | null }): Promise<BalancesDto> {
    const accountId = requireText(input?.accountId, 'account_id');
    const limit = parseMoney(input.limit, 'limit', { allowZero: true });
    const key = optionalText(input.idempotencyKey, 'idempotency_key');
    return db.transaction(async (trx) => {
      const bal = await lockBalances(trx, accountId);
      if (key) {
        const prior = await trx('credit_lines').where({ idempotency_key: key }).first();
        if (prior) {
          if (prior.account_id !== accountId || !new Decimal(prior.credit_limit).equals(limit)) throw idempotencyMismatch(key);
          return readBalances(trx, accountId);
        }
      }
      const committed = new Decimal(bal.credit_used).plus(bal.credit_locked);
      if (limit.lessThan(committed)) {
        throw new PaymentError('CREDIT.LIMIT_BELOW_USED', `the credit limit cannot go below the ${committed.toFixed(2)} already used or locked`, { used: committed.toFixed(2) });
      }
      const now = clock.now();
      await trx('account_balances').where({ account_id: accountId }).update({ credit_limit: limit.toFixed(2), updated_at: now });
      await trx('credit_lines').insert({ id: newId('crl'), account_id: accountId, credit_limit: limit.toFixed(2), idempotency_key: key, created_at: now });
      return readBalances(trx, accountId);
    });
  }

  async function bindCard(input: { accountId: string; token: string }): Promise<CardDto> {
    const accountId = requireText(input?.accountId, 'account_id');
    const token = input?.token;
    if (typeof token !== 'string' || !/^tok_[A-Za-z0-9_]{1,64}$/.test(token)) {
      throw new PaymentError('VALIDATION.TOKEN', 'token must be a card token such as "tok_visa"', { field: 'token' });
    }
    const info = gateway.describeCard ? await gateway.describeCard(token) : {};
    if (info === null) throw new PaymentError('VALIDATION.TOKEN', `the card gateway does not know token ${token}`, { field: 'token' });
    return db.transaction(async (trx) => {
      await lockBalances(trx, accountId);
      const current = await trx('cards').where({ account_id: accountId, status: 'bound' }).first();
      if (current?.token === token) return toCardDto(current);
      const now = clock.now();
      if (current) await trx('cards').where({ id: current.id }).update({ status: 'unbound', unbound_at: now });
      const row = { id: newId('card'), account_id: accountId, token, token_hint: `${token.slice(0, 4)}…${token.slice(-4)}`, last4: info.last4 ?? null, status: 'bound', bound_at: now };
      await trx('cards').insert(row);
      return toCardDto({ ...row, brand: info.brand });
    });
  }

  async function unbindCard(accountId: string): Promise<{ card: null }> {
    requireText(accountId, 'account_id');
    await db.transaction(async (trx) => {
      await lockBalances(trx, accountId);
      await trx('cards').where({ account_id: accountId, status: 'bound' }).update({ status: 'unbound', unbound_at: clock.now() });
    });
    return { card: null };
  }

  async function issueCoupon(input: { accountId: string; amount: string | Decimal; expiresAt: Date | string; scope?: string | null; idempotencyKey?: string | null }): Promise<CouponDto> {
    const accountId = requireText(input?.accountId, 'account_id');
    const amount = parseMoney(input.amount, 'amount');
    const expiresAt = parseInstant(input.expiresAt, 'expires_at');
    const scope = optionalText(input.scope, 'scope');
    const key = optionalText(input.idempotencyKey, 'idempotency_key');
    const now = clock.now();
    if (expiresAt.getTime() <= now.getTime()) throw new PaymentError('VALIDATION.DATE', 'expires_at must be in the future', { field: 'expires_at' });
    return db.transaction(async (trx) => {
      await lockBalances(trx, accountId);
      if (key) {
        const prior = await trx('coupons').where({ idempotency_key: key }).first();
        if (prior) {
          const same = prior.account_id === accountId && new Decimal(prior.amount).equals(amount) && new Date(prior.expires_at).getTime() === expiresAt.getTime() && (prior.scope ?? null) === scope;
          if (!same) throw idempotencyMismatch(key);
          return toCouponDto(prior, now);
        }
      }
      const row = { id: newId('cpn'), account_id: accountId, amount: amount.toFixed(2), balance: amount.toFixed(2), locked: '0.00', scope, expires_at: expiresAt, idempotency_key: key, created_at: now };
      await trx('coupons').insert(row);
      // R-M3: the coupon's value enters the ledger as its own ledger account.
      await writeTransaction(trx, {
        accountId,
        idempotencyKey: `coupon:${row.id}`,
        kind: 'coupon_issue',
        createdAt: now,
        description: `coupon ${row.id}`,
        entries: [
          { ledgerAccount: LEDGER.coupon(row.id), amount },
          { ledgerAccount: LEDGER.couponIssuance, amount: amount.negated() },
        ],
      });
      return toCouponDto(row, now);
    });
  }

  async function issueDiscount(input: {
    accountId: string;
    kind: DiscountKind;
    percentOff: string | Decimal;
    effectiveAt: Date | string;
    expiresAt: Date | string;
    scope?: string | null;
    idempotencyKey?: string | null;
  }): Promise<DiscountDto> {
    const accountId = requireText(input?.accountId, 'account_id');
    if (!DISCOUNT_KINDS.includes(input.kind)) throw new PaymentError('VALIDATION.FIELD', `kind must be one of ${DISCOUNT_KINDS.join(', ')}`, { field: 'kind' });
    const percent = parsePercent(input.percentOff);
    const effectiveAt = parseInstant(input.effectiveAt, 'effective_at');
    const expiresAt = parseInstant(input.expiresAt, 'expires_at');
    if (expiresAt.getTime() <= effectiveAt.getTime()) throw new PaymentError('VALIDATION.DATE', 'expires_at must be after effective_at', { field: 'expires_at' });
    const scope = optionalText(input.scope, 'scope');
    const key = optionalText(input.idempotencyKey, 'idempotency_key');
    return db.transaction(async (trx) => {
      await ensureAccountFinance(trx, accountId);
      const now = clock.now();
      if (key) {
        const prior = await trx('discounts').where({ idempotency_key: key }).first();
        if (prior) {
          if (prior.account_id !== accountId || prior.kind !== input.kind || !new Decimal(prior.percent_off).equals(percent)) throw idempotencyMismatch(key);
          return toDiscountDto(prior, now);
        }
      }
      const row = { id: newId('dsc'), account_id: accountId, kind: input.kind, percent_off: percent.toFixed(2), scope, effective_at: effectiveAt, expires_at: expiresAt, idempotency_key: key, created_at: now };
      await trx('discounts').insert(row);
      return toDiscountDto(row, now);
    });
  }

  // ------------------------------------------------------------------------------------------
  // Reads

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

  return {
    ensureAccountFinance: (accountId: string) => ensureAccountFinance(db, accountId),
    topUp,
    setCreditLimit,
    bindCard,
    unbindCard,
    issueCoupon,
    issueDiscount,
    charge,
    refund,
    refundOrders,
    recoverStalePayments,
    getBalances,
    getOrder,
    listLedger,
    listOrders,
    listCoupons,
    listDiscounts,
    verifyBalances: (accountId: string): Promise<BalanceCheck> => verifyBalances(db, accountId),
  };
}

export type PaymentEngine = ReturnType<typeof createPaymentEngine>;

// ---------------------------------------------------------------------------------------------
// Rows and their DTOs

interface OrderRow {
  id: string;
  account_id: string;
  subscription_id: string | null;
  resource_id: string;
  kind: string;
  product: string | null;
  description: string | null;
  idempotency_key: string;
  request_hash: string;
  currency: string;
  list_amount: string;
  discount_id: string | null;
  discount_kind: DiscountKind | null;
  discount_percent: string | null;
  discount_amount: string;
  discount_reason: string | null;
  due: string;
  coupon_id: string | null;
  coupon: string;
  cash: string;
  credit: string;
  card: string;
  card_token: string | null;
  card_charge_id: string | null;
  refunded: string;
  status: OrderStatus;
  failure_code: string | null;
  failure_message: string | null;
  ledger_transaction_id: string | null;
  created_at: Date;
  /** R-P4: a pending order's locks are released (or captured) by recoverStalePayments after this. */
  hold_expires_at: Date | null;
  completed_at: Date | null;
}

interface DiscountRow {
  id: string;
  kind: DiscountKind;
  percent_off: string;
  scope: string | null;
  effective_at: Date;
  expires_at: Date;
}

interface CouponRow {
  id: string;
  balance: string;
  locked: string;
  expires_at: Date;
  scope: string | null;
}

const zeroParts = { coupon: '0.00', cash: '0.00', credit: '0.00', card: '0.00' };

function toOrderDto(r: OrderRow): OrderDto {
  return {
    id: r.id,
    account_id: r.account_id,
    subscription_id: r.subscription_id,
    resource_id: r.resource_id,
    kind: r.kind,
    product: r.product,
    description: r.description,
    idempotency_key: r.idempotency_key,
    currency: r.currency,
    list_amount: fmt(r.list_amount),
    discount: r.discount_id
      ? { id: r.discount_id, kind: r.discount_kind!, percent_off: fmt(r.discount_percent!), amount: fmt(r.discount_amount), reason: r.discount_reason }
      : null,
    due: fmt(r.due),
    coupon_id: r.coupon_id,
    coupon: fmt(r.coupon),
    cash: fmt(r.cash),
    credit: fmt(r.credit),
    card: fmt(r.card),
    refunded: fmt(r.refunded),
    status: r.status,
    failure: r.failure_code ? { code: r.failure_code, message: r.failure_message ?? '' } : null,
    card_charge_id: r.card_charge_id,
    ledger_transaction_id: r.ledger_transaction_id,
    created_at: iso(r.created_at)!,
    completed_at: iso(r.completed_at),
  };
}

function toChargeResult(r: OrderRow): ChargeResult {
  const order = toOrderDto(r);
  if (r.status === 'failed') return { status: 'failed', code: r.failure_code as ChargeFailureCode, message: r.failure_message ?? '', order };
  return { status: 'paid', order };
}

function toCardDto(r: any): CardDto {
  return { token_hint: r.token_hint, ...(r.last4 ? { last4: r.last4 } : {}), ...(r.brand ? { brand: r.brand } : {}), bound_at: iso(r.bound_at)! };
}

function toCouponDto(r: any, now: Date): CouponDto {
  const available = new Decimal(r.balance).minus(r.locked);
  const expired = new Date(r.expires_at).getTime() <= now.getTime();
  return {
    id: r.id,
    account_id: r.account_id,
    amount: fmt(r.amount),
    balance: fmt(r.balance),
    locked: fmt(r.locked),
    available: fmt(expired ? 0 : available),
    scope: r.scope ?? null,
    expires_at: iso(r.expires_at)!,
    status: expired ? 'expired' : new Decimal(r.balance).isZero() ? 'used_up' : 'active',
    created_at: iso(r.created_at)!,
  };
}

function toDiscountDto(r: any, now: Date): DiscountDto {
  const t = now.getTime();
  return {
    id: r.id,
    account_id: r.account_id,
    kind: r.kind,
    percent_off: fmt(r.percent_off),
    scope: r.scope ?? null,
    effective_at: iso(r.effective_at)!,
    expires_at: iso(r.expires_at)!,
    status: t < new Date(r.effective_at).getTime() ? 'scheduled' : t < new Date(r.expires_at).getTime() ? 'active' : 'expired',
    created_at: iso(r.created_at)!,
  };
}

function toRefundDto(r: any): RefundDto {
  return {
    id: r.id,
    order_id: r.order_id,
    account_id: r.account_id,
    amount: fmt(r.amount),
    idempotency_key: r.idempotency_key,
    reason: r.reason ?? null,
    ledger_transaction_id: r.ledger_transaction_id ?? null,
    created_at: iso(r.created_at)!,
  };
}
