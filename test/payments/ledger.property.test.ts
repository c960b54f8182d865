import Decimal from 'decimal.js';
import fc from 'fast-check';
import { PaymentError, TransientGatewayError } from '../../payments/errors';
import type { ChargeResult } from '../../payments/payment-engine';
import { chooseCoupon, chooseDiscount, splitCharge } from '../../billing/payments';
import { anAccount, key, PaymentsWorld, paymentsWorld, purpose, unbalancedTransactions } from './support';

// Property test over random sequences of money movements on one account (R-M3, R-P1, R-P4,
// R-S11). A small model predicts every outcome with the pure rules; afterwards the database must
// satisfy the invariants: balanced transactions, cached balances = ledger sums, nothing below
// zero except credit within its line, Σ refunds ≤ own money paid, one card charge per card order.

const HOUR = 3600_000;
const money = (min: number, max: number) => fc.integer({ min, max }).map((c) => new Decimal(c).dividedBy(100).toFixed(2));

type Cmd =
  | { op: 'topUp'; amount: string }
  | { op: 'credit'; limit: string }
  | { op: 'coupon'; amount: string; hours: number }
  | { op: 'discount'; percent: string; kind: 'commercial' | 'partner' }
  | { op: 'charge'; amount: string; card: null | 'tok_visa' | 'tok_chargeDeclined' | 'tok_transient'; useCoupons: boolean }
  | { op: 'refund'; pick: number; how: 'half' | 'all' | 'over' }
  | { op: 'advance'; hours: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('topUp' as const), amount: money(1, 50_000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('credit' as const), limit: money(0, 30_000) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('coupon' as const), amount: money(100, 10_000), hours: fc.integer({ min: 1, max: 48 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('discount' as const), percent: fc.integer({ min: 1, max: 5000 }).map((b) => new Decimal(b).dividedBy(100).toFixed(2)), kind: fc.constantFrom('commercial' as const, 'partner' as const) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('charge' as const),
      amount: money(0, 40_000),
      card: fc.constantFrom(null, 'tok_visa' as const, 'tok_chargeDeclined' as const, 'tok_transient' as const),
      useCoupons: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('refund' as const), pick: fc.nat(), how: fc.constantFrom('half' as const, 'all' as const, 'over' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 24 }) }) },
);

/** A tiny deterministic random source for the gateway's failures. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

let w: PaymentsWorld;
beforeAll(async () => {
  // Transient failures before and after processing: every charge must survive retries.
  w = await paymentsWorld({ transientFailureRate: 0.1, lostResponseRate: 0.15, random: lcg(42) });
});
afterAll(async () => {
  await w.drop();
});

/** The activity retry policy: retry transient failures with the same key. */
async function chargeWithRetries(input: Parameters<PaymentsWorld['engine']['charge']>[0]): Promise<ChargeResult> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await w.engine.charge(input);
    } catch (e) {
      if (!(e instanceof TransientGatewayError) || attempt >= 30) throw e;
    }
  }
}

interface Model {
  cash: Decimal;
  creditLimit: Decimal;
  creditUsed: Decimal;
  coupons: { id: string; balance: Decimal; expiresAt: Date; seq: number }[];
  discounts: { id: string; kind: 'commercial' | 'partner'; percentOff: string; effectiveAt: Date; expiresAt: Date }[];
  card: string | null;
  paid: { id: string; own: Decimal; refunded: Decimal }[];
}

async function run(cmds: Cmd[]): Promise<void> {
  const acc = await anAccount(w).create();
  const m: Model = { cash: new Decimal(0), creditLimit: new Decimal(0), creditUsed: new Decimal(0), coupons: [], discounts: [], card: null, paid: [] };

  for (const c of cmds) {
    const now = w.clock.now();
    switch (c.op) {
      case 'topUp': {
        await w.engine.topUp({ accountId: acc, amount: c.amount, idempotencyKey: key('p-top') });
        const repay = Decimal.min(c.amount, m.creditUsed);
        m.creditUsed = m.creditUsed.minus(repay);
        m.cash = m.cash.plus(c.amount).minus(repay);
        break;
      }
      case 'credit': {
        const p = w.engine.setCreditLimit({ accountId: acc, limit: c.limit });
        if (new Decimal(c.limit).lessThan(m.creditUsed)) await expect(p).rejects.toMatchObject({ code: 'CREDIT.LIMIT_BELOW_USED' });
        else {
          await p;
          m.creditLimit = new Decimal(c.limit);
        }
        break;
      }
      case 'coupon': {
        const expiresAt = new Date(now.getTime() + c.hours * HOUR);
        const cp = await w.engine.issueCoupon({ accountId: acc, amount: c.amount, expiresAt });
        m.coupons.push({ id: cp.id, balance: new Decimal(c.amount), expiresAt, seq: m.coupons.length });
        break;
      }
      case 'discount': {
        const d = await w.engine.issueDiscount({ accountId: acc, kind: c.kind, percentOff: c.percent, effectiveAt: now, expiresAt: new Date(now.getTime() + 10 * HOUR) });
        m.discounts.push({ id: d.id, kind: c.kind, percentOff: c.percent, effectiveAt: new Date(d.effective_at), expiresAt: new Date(d.expires_at) });
        break;
      }
      case 'advance':
        w.clock.advance(c.hours * HOUR);
        break;
      case 'charge': {
        if (c.card !== m.card) {
          if (c.card) await w.engine.bindCard({ accountId: acc, token: c.card });
          else await w.engine.unbindCard(acc);
          m.card = c.card;
        }
        // The oracle: the pure rules on the model's state.
        const discount = chooseDiscount(m.discounts, { resourceId: 'res_prop', now, usedInOrders: [] }).discount;
        const coupon = c.useCoupons ? chooseCoupon(m.coupons.map((x) => ({ ...x, available: x.balance })), { now }) : null;
        const split = splitCharge({
          listAmount: c.amount,
          discountPercent: discount?.percentOff ?? null,
          couponAvailable: coupon?.balance ?? null,
          cashAvailable: m.cash,
          creditAvailable: m.creditLimit.minus(m.creditUsed),
          hasCard: m.card !== null,
        });
        const r = await chargeWithRetries({ accountId: acc, listAmount: c.amount, purpose: purpose('res_prop'), idempotencyKey: key('p-chg'), useCoupons: c.useCoupons });

        const declines = m.card === 'tok_chargeDeclined' && new Decimal(split.card).greaterThan(0);
        if (split.status === 'insufficient') {
          expect(r).toMatchObject({ status: 'failed', code: 'PAYMENT.INSUFFICIENT_FUNDS' });
        } else if (declines) {
          expect(r).toMatchObject({ status: 'failed', code: 'PAYMENT.CARD_DECLINED' });
        } else {
          expect(r.status).toBe('paid');
          expect(r.order).toMatchObject({ due: split.due, coupon: split.coupon, cash: split.cash, credit: split.credit, card: split.card, discount: discount ? expect.objectContaining({ id: discount.id }) : null });
          if (coupon && new Decimal(split.coupon).greaterThan(0)) {
            expect(r.order.coupon_id).toBe(coupon.id);
            const held = m.coupons.find((x) => x.id === coupon.id)!;
            held.balance = held.balance.minus(split.coupon);
          }
          m.cash = m.cash.minus(split.cash);
          m.creditUsed = m.creditUsed.plus(split.credit);
          m.paid.push({ id: r.order.id, own: new Decimal(split.cash).plus(split.credit).plus(split.card), refunded: new Decimal(0) });
        }
        break;
      }
      case 'refund': {
        if (m.paid.length === 0) break;
        const o = m.paid[c.pick % m.paid.length];
        const refundable = o.own.minus(o.refunded);
        const amount = c.how === 'all' ? refundable : c.how === 'half' ? refundable.dividedBy(2).toDecimalPlaces(2, Decimal.ROUND_DOWN) : refundable.plus('0.01');
        const p = w.engine.refund({ orderId: o.id, amount: amount.toFixed(2), idempotencyKey: key('p-rf') });
        if (c.how === 'over') {
          await expect(p).rejects.toMatchObject({ code: 'PAYMENT.REFUND_EXCEEDS_PAID' });
        } else {
          await p;
          o.refunded = o.refunded.plus(amount);
          m.cash = m.cash.plus(amount);
        }
        break;
      }
    }
  }

  // Every transaction balances; the cache equals the ledger; the model agrees.
  expect(await unbalancedTransactions(w.db)).toEqual([]);
  expect(await w.engine.verifyBalances(acc)).toEqual({ ok: true, mismatches: [] });
  const b = await w.engine.getBalances(acc);
  expect(b).toMatchObject({ cash: m.cash.toFixed(2), credit_used: m.creditUsed.toFixed(2), credit_limit: m.creditLimit.toFixed(2), locked: '0.00' });
  expect(new Decimal(b.cash).isNegative()).toBe(false);
  expect(new Decimal(b.credit_used).lessThanOrEqualTo(b.credit_limit)).toBe(true);
  for (const cp of await w.db('coupons').where({ account_id: acc })) expect(new Decimal(cp.balance).isNegative()).toBe(false);
  expect(await w.db('payment_locks').where({ account_id: acc, status: 'held' })).toHaveLength(0);

  // Σ refunds ≤ own money paid, per order, and the refunds table agrees with the orders.
  const orders = await w.db('orders').where({ account_id: acc });
  for (const o of orders) {
    const refunds = await w.db('refunds').where({ order_id: o.id }).sum({ s: 'amount' });
    expect(new Decimal(refunds[0].s ?? 0).equals(o.refunded)).toBe(true);
    expect(new Decimal(o.refunded).lessThanOrEqualTo(new Decimal(o.cash).plus(o.credit).plus(o.card))).toBe(true);
    if (o.status !== 'failed' && o.status !== 'pending') expect(new Decimal(o.coupon).plus(o.cash).plus(o.credit).plus(o.card).equals(o.due)).toBe(true);
  }

  // R-P5: exactly one succeeded card charge per paid order with a card part, for its amount.
  const cardOrders = orders.filter((o: any) => o.status !== 'failed' && new Decimal(o.card).greaterThan(0));
  const keys = new Set(cardOrders.map((o: any) => `charge:${o.idempotency_key}`));
  const charged = w.gateway.succeeded.filter((ch) => keys.has(ch.idempotencyKey));
  expect(charged).toHaveLength(cardOrders.length);
  for (const o of cardOrders) expect(charged.find((ch) => ch.idempotencyKey === `charge:${o.idempotency_key}`)?.amount).toBe(new Decimal(o.card).toFixed(2));
  // Declined or insufficient charges took nothing from the card.
  const failedKeys = new Set(orders.filter((o: any) => o.status === 'failed').map((o: any) => `charge:${o.idempotency_key}`));
  expect(w.gateway.succeeded.filter((ch) => failedKeys.has(ch.idempotencyKey))).toHaveLength(0);
}

describe('ledger invariants over random money movements (fast-check)', () => {
  it('balances, caches, limits, refunds and card charges stay consistent', async () => {
    await fc.assert(fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 15 }), run), { numRuns: Number(process.env.FC_NUM_RUNS ?? 30), ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}), endOnFailure: true });
  });

  it('the error class is what callers can map (PaymentError carries a stable code)', () => {
    const e = new PaymentError('PAYMENT.INSUFFICIENT_FUNDS', 'short');
    expect(e).toMatchObject({ name: 'PaymentError', code: 'PAYMENT.INSUFFICIENT_FUNDS', message: 'short' });
  });
});
