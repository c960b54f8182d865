import Decimal from 'decimal.js';
import { formatMoney, roundHalfUp } from './money';

// Payment collection rules (SPEC §4: R-P1, R-P2, R-P3) as pure functions. No I/O, no clock, no
// Node built-ins: workflow code may import this file. Money crosses the boundary as decimal
// strings ("1700.00"); inside, decimal.js keeps full precision until the one final rounding
// (R-M1, R-M2).

export type Money = string;
export type DecimalLike = string | Decimal;

const D = (v: DecimalLike): Decimal => new Decimal(v);
// R-M2 rounding and formatting are billing/money.ts's, written once.
const roundCents = (v: Decimal): Decimal => roundHalfUp(v);
const fmt = (v: Decimal): Money => formatMoney(v);
const minD = (a: Decimal, b: Decimal): Decimal => (a.lessThan(b) ? a : b);
const nonNegative = (v: Decimal): Decimal => (v.isNegative() ? new Decimal(0) : v);

/**
 * Scopes narrow a coupon or discount to part of the catalog: `null` applies everywhere,
 * `host-security` applies to every edition of that product, `host-security/premium` to one edition.
 * A charge names what it pays for the same way (`product` or `product/edition`).
 */
export function scopeApplies(scope: string | null | undefined, target: string | null | undefined): boolean {
  if (!scope) return true;
  if (!target) return false;
  return target === scope || target.startsWith(`${scope}/`);
}

// ---------------------------------------------------------------------------------------------
// R-P2 discount choice

export type DiscountKind = 'commercial' | 'partner' | 'promotional';
export const DISCOUNT_KINDS: readonly DiscountKind[] = ['commercial', 'partner', 'promotional'];

export interface DiscountCandidate {
  id: string;
  kind: DiscountKind;
  /** "10" or "10.00" = 10 % off. */
  percentOff: DecimalLike;
  effectiveAt: Date;
  expiresAt: Date;
  scope?: string | null;
}

/** One earlier (paid) order that used a discount. */
export interface DiscountUse {
  discountId: string;
  resourceId: string;
  at: Date;
}

export interface ChooseDiscountContext {
  resourceId: string;
  now: Date;
  usedInOrders: readonly DiscountUse[];
  /** What the charge pays for (`product` or `product/edition`), for scoped discounts. */
  scope?: string | null;
  /**
   * A promotional discount the customer buys under right now (its first use). Without this a
   * promotion could never be used a first time; it counts as used in the most recent order.
   */
  requestedPromotionId?: string | null;
}

export interface DiscountChoice<T extends DiscountCandidate = DiscountCandidate> {
  discount: T | null;
  reason: string;
}

const KIND_PREFERENCE: Record<DiscountKind, number> = { commercial: 0, partner: 1, promotional: 2 };

export function isDiscountValid(d: DiscountCandidate, now: Date, scope?: string | null): boolean {
  return d.effectiveAt.getTime() <= now.getTime() && now.getTime() < d.expiresAt.getTime() && scopeApplies(d.scope, scope);
}

export function chooseDiscount<T extends DiscountCandidate>(candidates: readonly T[], ctx: ChooseDiscountContext): DiscountChoice<T> {
  const valid = candidates.filter((d) => isDiscountValid(d, ctx.now, ctx.scope));

  // R-P2: a promotional discount is a candidate only when an earlier order of the same resource
  // used it (or the customer is buying under it now).
  const lastUse = new Map<string, number>();
  for (const u of ctx.usedInOrders) {
    if (u.resourceId !== ctx.resourceId || u.at.getTime() > ctx.now.getTime()) continue;
    lastUse.set(u.discountId, Math.max(lastUse.get(u.discountId) ?? -Infinity, u.at.getTime()));
  }
  if (ctx.requestedPromotionId) lastUse.set(ctx.requestedPromotionId, ctx.now.getTime());
  const promos = valid.filter((d) => d.kind === 'promotional' && lastUse.has(d.id));

  // R-P2: among promotional ones, the latest effective date; tie → the most recently used.
  const promo = [...promos].sort(
    (a, b) =>
      b.effectiveAt.getTime() - a.effectiveAt.getTime() ||
      (lastUse.get(b.id) ?? 0) - (lastUse.get(a.id) ?? 0) ||
      a.id.localeCompare(b.id),
  )[0];

  const pool: T[] = valid.filter((d) => d.kind !== 'promotional');
  if (promo) pool.push(promo);
  if (pool.length === 0) return { discount: null, reason: 'no valid discount applies' };

  // R-P2: the lowest price wins — with percentage discounts, the largest percentage. On a tie,
  // commercial before partner before promotional (then by id, so the choice is deterministic).
  const best = [...pool].sort(
    (a, b) => D(b.percentOff).comparedTo(D(a.percentOff)) || KIND_PREFERENCE[a.kind] - KIND_PREFERENCE[b.kind] || a.id.localeCompare(b.id),
  )[0];

  const others = pool.filter((d) => d !== best).map((d) => `${d.kind} ${D(d.percentOff).toString()}%`);
  const promoNote = promos.length > 1 ? ` (promotional candidate chosen from ${promos.length} by latest effective date, then most recent use)` : '';
  const reason =
    others.length === 0
      ? `${best.kind} ${D(best.percentOff).toString()}% off is the only valid discount${promoNote}`
      : `${best.kind} ${D(best.percentOff).toString()}% off gives the lowest price over ${others.join(', ')}${promoNote}`;
  return { discount: best, reason };
}

export interface PromotionRefusal {
  code: 'DISCOUNT.UNKNOWN' | 'DISCOUNT.NOT_PROMOTIONAL' | 'DISCOUNT.NOT_APPLICABLE';
  message: string;
}

// R-P2: a purchase or manual renewal may name a promotional discount granted to the account
// (its first use on this resource); it applies when it is valid now and for what is bought. Why
// a named discount cannot be used, or null when it can (issue #11: refused before money moves).
export function promotionRefusal(d: DiscountCandidate | null, now: Date, scope: string): PromotionRefusal | null {
  if (!d) return { code: 'DISCOUNT.UNKNOWN', message: 'no such discount on this account' };
  if (d.kind !== 'promotional') return { code: 'DISCOUNT.NOT_PROMOTIONAL', message: `discount ${d.id} is ${d.kind}: it applies by itself when it is the best; only a promotional discount is named on an order` };
  if (!scopeApplies(d.scope, scope)) return { code: 'DISCOUNT.NOT_APPLICABLE', message: `discount ${d.id} is for ${d.scope}, not ${scope}` };
  if (!isDiscountValid(d, now, scope)) return { code: 'DISCOUNT.NOT_APPLICABLE', message: `discount ${d.id} is valid from ${d.effectiveAt.toISOString()} to ${d.expiresAt.toISOString()}, not now` };
  return null;
}

// ---------------------------------------------------------------------------------------------
// R-P3 coupon choice

export interface CouponCandidate {
  id: string;
  /** What can be spent now: balance minus amounts locked by other charges (R-P4). */
  available: DecimalLike;
  expiresAt: Date;
  scope?: string | null;
}

export function isCouponUsable(c: CouponCandidate, now: Date, scope?: string | null): boolean {
  return now.getTime() < c.expiresAt.getTime() && D(c.available).greaterThan(0) && scopeApplies(c.scope, scope);
}

/** R-P3: the usable coupon with the largest available balance; equal balances → expiring first. */
export function chooseCoupon<T extends CouponCandidate>(coupons: readonly T[], ctx: { now: Date; scope?: string | null }): T | null {
  const usable = coupons.filter((c) => isCouponUsable(c, ctx.now, ctx.scope));
  usable.sort(
    (a, b) => D(b.available).comparedTo(D(a.available)) || a.expiresAt.getTime() - b.expiresAt.getTime() || a.id.localeCompare(b.id),
  );
  return usable[0] ?? null;
}

// ---------------------------------------------------------------------------------------------
// R-P1 collection order

export interface SplitInput {
  listAmount: DecimalLike;
  /** Percentage off ("10" = 10 %), or null/0 for none. */
  discountPercent?: DecimalLike | null;
  couponAvailable?: DecimalLike | null;
  cashAvailable: DecimalLike;
  creditAvailable: DecimalLike;
  hasCard: boolean;
}

export interface SplitParts {
  listAmount: Money;
  discountAmount: Money;
  due: Money;
  coupon: Money;
  cash: Money;
  credit: Money;
  card: Money;
}

export type SplitResult =
  | ({ status: 'covered' } & SplitParts)
  /** Not enough coupon + balance and no card: nothing may be taken (R-P4 all-or-nothing). */
  | ({ status: 'insufficient'; shortfall: Money } & SplitParts);

/** R-P1/R-M2: due = list × (1 − percent/100), rounded half-up to 0.01 once. */
export function amountDue(listAmount: DecimalLike, discountPercent?: DecimalLike | null): { due: Money; discountAmount: Money } {
  const list = D(listAmount);
  const pct = discountPercent ? D(discountPercent) : new Decimal(0);
  const due = roundCents(list.times(new Decimal(100).minus(pct)).dividedBy(100));
  return { due: fmt(due), discountAmount: fmt(list.minus(due)) };
}

/**
 * R-P1: discount → one coupon → cash → credit → card for the remainder. Available amounts are
 * what the sources can give right now (already net of locks); negative availability counts as 0.
 */
export function splitCharge(input: SplitInput): SplitResult {
  const { due, discountAmount } = amountDue(input.listAmount, input.discountPercent);
  let rest = D(due);
  const take = (available: DecimalLike | null | undefined): Decimal => {
    const part = minD(rest, nonNegative(D(available ?? '0')));
    rest = rest.minus(part);
    return part;
  };
  const coupon = take(input.couponAvailable);
  const cash = take(input.cashAvailable);
  const credit = take(input.creditAvailable);
  const parts = { listAmount: fmt(roundCents(D(input.listAmount))), discountAmount, due, coupon: fmt(coupon), cash: fmt(cash), credit: fmt(credit) };
  if (rest.isZero()) return { status: 'covered', ...parts, card: '0.00' };
  if (input.hasCard) return { status: 'covered', ...parts, card: fmt(rest) };
  return { status: 'insufficient', ...parts, card: '0.00', shortfall: fmt(rest) };
}

// ---------------------------------------------------------------------------------------------
// Refund limits

/**
 * What of an order can still be refunded: the customer's own money (cash + credit + card) less
 * earlier refunds. Coupon money is never refunded (R-S11).
 */
export function refundableAmount(order: { cash: DecimalLike; credit: DecimalLike; card: DecimalLike; refunded: DecimalLike }): Money {
  return fmt(nonNegative(D(order.cash).plus(order.credit).plus(order.card).minus(order.refunded)));
}
