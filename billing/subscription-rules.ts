import { Decimal } from 'decimal.js';
import { addDays, addMonthsClamped, Term, termMonths, wholeMonthsBetween } from './calendar';
import { exact, mulDiv, plain, roundDown, roundHalfUp, toMoney, ZERO } from './money';
import type { SubscriptionStatus } from './renewal-schedule';

export type { Term } from './calendar';

/** An edition's prepaid list prices per quota (R-C1): null = that mode is not offered. */
export interface EditionPrices {
  monthly: string | null;
  yearly: string | null;
}

/**
 * The part of a term that is used, as an exact ratio numerator/denominator (0 ≤ n ≤ d, d > 0).
 * Kept as a ratio, not a decimal, so that "8 of 12 months" stays exactly 2/3 and a refund or
 * upgrade charge is rounded once, at the end (R-M2).
 */
export interface TermFraction {
  numerator: number;
  denominator: number;
}

// R-S2: the free trial: host-security/basic, 30 days, once per account.
export const TRIAL_PRODUCT = 'host-security';
export const TRIAL_EDITION = 'basic';
export const TRIAL_DAYS = 30;

// R-S2: why a trial is refused, or null when it may start.
export function trialRefusal(p: { product: string; edition: string; hadTrialBefore: boolean }): string | null {
  if (p.product !== TRIAL_PRODUCT || p.edition !== TRIAL_EDITION) return `only ${TRIAL_PRODUCT}/${TRIAL_EDITION} has a free trial`;
  if (p.hadTrialBefore) return 'this account has already used its free trial';
  return null;
}

// R-S2: a trial ends TRIAL_DAYS after it starts.
export function trialEndsAt(startMs: number): number {
  return addDays(startMs, TRIAL_DAYS);
}

// R-S4: the auto-renew period of a purchase: 1 month if bought in months, 1 year if in years.
export function defaultRenewalPeriod(purchased: Term): Term {
  return { unit: purchased.unit, count: 1 };
}

// R-S4: a manual renewal made with auto-renew selected sets the period to its own duration.
export function renewalPeriodAfterManualRenewal(current: Term, manual: Term, autoRenewSelected: boolean): Term {
  return autoRenewSelected ? { unit: manual.unit, count: manual.count } : current;
}

// R-S5 / R-S9: manual renewal is refused only once the subscription is released or unsubscribed.
export function canRenewManually(status: SubscriptionStatus): boolean {
  return status !== 'released' && status !== 'unsubscribed';
}

// R-S11: only an active subscription can be unsubscribed.
export function canUnsubscribe(status: SubscriptionStatus): boolean {
  return status === 'active';
}

// R-S3: auto-renew can be switched, and its deduction date chosen, until the subscription ends.
export function canSwitchAutoRenew(status: SubscriptionStatus): boolean {
  return status !== 'released' && status !== 'unsubscribed';
}

// R-S12: only an active subscription can be upgraded.
export function canChangeEdition(status: SubscriptionStatus): boolean {
  return status === 'active';
}

// R-S1: list price of a term: monthly price × q × months, or yearly price × q × years,
// rounded half-up to 0.01. Throws if the edition does not offer that mode (R-C1).
export function termPrice(prices: EditionPrices, quantity: number, term: Term): Decimal {
  return roundHalfUp(unroundedTermPrice(prices, quantity, term));
}

function unroundedTermPrice(prices: EditionPrices, quantity: number, term: Term): Decimal {
  if (!Number.isInteger(quantity) || quantity < 1) throw new RangeError(`quantity must be a positive integer, got ${quantity}`);
  const unitPrice = term.unit === 'month' ? prices.monthly : prices.yearly;
  if (unitPrice === null) throw new RangeError(`${term.unit === 'month' ? 'monthly' : 'yearly'} billing is not offered for this edition`);
  termMonths(term); // validates term.count
  return exact(unitPrice).times(quantity).times(term.count);
}

// R-S11 / R-S12: how much of a term starting at `termStartMs` is used at `nowMs`, counted in
// calendar months (R-T2): whole months elapsed plus the elapsed share of the current month,
// over the term's months. So exactly 3 calendar months of a 12-month term is 3/12 — not
// 90/365 days, which is what the SPEC's R-S11 example means by "3 of 12 months". Clamped to
// [0, 1]. Months are counted from `termStartMs`; pass the term's start (the previous expiry).
// Used time is counted in whole seconds (a started second is not counted), so a request that
// reaches the workflow a few milliseconds after "exactly 3 months" still uses exactly 3 months.
export function usedFractionOfTerm(termStartMs: number, rawNowMs: number, months: number, offsetMinutes: number): TermFraction {
  if (!Number.isInteger(months) || months < 1) throw new RangeError(`months must be a positive integer, got ${months}`);
  if (rawNowMs <= termStartMs) return { numerator: 0, denominator: 1 };
  const nowMs = termStartMs + Math.floor((rawNowMs - termStartMs) / 1000) * 1000;
  const whole = wholeMonthsBetween(termStartMs, nowMs, offsetMinutes);
  if (whole >= months) return { numerator: 1, denominator: 1 };
  const monthStart = addMonthsClamped(termStartMs, whole, offsetMinutes);
  const monthLength = addMonthsClamped(termStartMs, whole + 1, offsetMinutes) - monthStart;
  return { numerator: whole * monthLength + (nowMs - monthStart), denominator: months * monthLength };
}

export interface RefundInput {
  /** the order's amount due, coupon part included (after discount) */
  paid: Decimal.Value;
  /** the part of `paid` a cash coupon covered */
  couponPaid: Decimal.Value;
  /** list price of the term (R-S1 termPrice, before discount) */
  listPrice: Decimal.Value;
  /** used share of the term, from usedFractionOfTerm */
  usedFraction: TermFraction;
}

// R-S11: refund = paid − list price × used fraction, rounded DOWN to 0.01, 0 if negative.
// Coupon money is never refunded: the refund is capped at the customer's own money
// (paid − couponPaid), i.e. the used part is counted against the coupon part first.
export function refundOnUnsubscribe(p: RefundInput): Decimal {
  const { numerator, denominator } = checkedFraction(p.usedFraction);
  return refundForOrder({ paid: p.paid, couponPaid: p.couponPaid, refunded: 0, used: mulDiv(toMoney(p.listPrice), numerator, denominator) });
}

export interface UpgradeInput {
  oldPrices: EditionPrices;
  newPrices: EditionPrices;
  quantity: number;
  /** the current term (its unit picks monthly or yearly prices) */
  term: Term;
  /** used share of the current term, from usedFractionOfTerm */
  usedFraction: TermFraction;
}

// R-S12: an upgrade pays the list-price difference of the term for the remaining time, pro
// rata (remaining = 1 − used fraction, in calendar months), rounded half-up to 0.01. The
// charge is then collected through R-P1 like any other. Throws if the new edition is cheaper:
// check canUpgrade first.
export function upgradeCharge(p: UpgradeInput): Decimal {
  const { numerator, denominator } = checkedFraction(p.usedFraction);
  const difference = unroundedTermPrice(p.newPrices, p.quantity, p.term).minus(unroundedTermPrice(p.oldPrices, p.quantity, p.term));
  if (difference.isNegative()) throw new RangeError('not an upgrade: the new edition is cheaper');
  return roundHalfUp(remainingPart(difference, { numerator, denominator }));
}

/** The unrounded part of a full-term amount still ahead when `used` of the term is used. */
function remainingPart(fullTerm: Decimal, used: TermFraction): Decimal {
  return mulDiv(fullTerm, used.denominator - used.numerator, used.denominator);
}

// ---------------------------------------------------------------------------------------------
// Paid service that is not used up yet: every term still running or still ahead, and every
// upgrade order's share of them. R-S11 and R-S12 count all of it, not only the latest term: a
// yearly term renewed by hand for one more month is 13 months of paid service, and an upgrade
// pays the difference on all 13 (issue #11, defect 3).

/** One paid term (R-S1, R-S4, R-S5): its window and its length as bought (the unit picks the price). */
export interface TermWindow {
  startsAt: number;
  endsAt: number;
  term: Term;
}

/**
 * A share of an order in one term: from `from` (the term's start for the order that paid the
 * term, the upgrade's instant for an upgrade) to the term's end, worth `list` at list price over
 * the whole term. Its used value at `now` is list × (F(now) − F(from)), F the used fraction of the
 * term (usedFractionOfTerm), so a term order's used value is list × F(now) exactly as R-S11 says.
 */
export interface CoveragePart {
  termStartsAt: number;
  termMonths: number;
  from: number;
  list: string;
}

/** An upgrade's price difference, term by term (what the upgrade order pays for). */
export interface UpgradeQuote {
  amount: Decimal;
  parts: CoveragePart[];
}

// R-S12 over every paid term not yet over: for each, the full-term list-price difference
// (priced in the term's own unit) times the part of the term still ahead; summed unrounded and
// rounded half-up once (R-M2). A term that has not started yet counts in full.
export function upgradeChargeOverTerms(p: { oldPrices: EditionPrices; newPrices: EditionPrices; quantity: number; terms: readonly TermWindow[]; at: number; offsetMinutes: number }): UpgradeQuote {
  const parts: CoveragePart[] = [];
  let total = exact(0);
  for (const t of p.terms) {
    if (t.endsAt <= p.at) continue;
    const months = termMonths(t.term);
    const difference = unroundedTermPrice(p.newPrices, p.quantity, t.term).minus(unroundedTermPrice(p.oldPrices, p.quantity, t.term));
    if (difference.isNegative()) throw new RangeError('not an upgrade: the new edition is cheaper');
    const from = Math.max(p.at, t.startsAt);
    total = total.plus(remainingPart(difference, usedFractionOfTerm(t.startsAt, from, months, p.offsetMinutes)));
    parts.push({ termStartsAt: t.startsAt, termMonths: months, from, list: plain(difference).toString() });
  }
  return { amount: roundHalfUp(total), parts };
}

// R-S11: the list value of `parts` used by `now`, unrounded: Σ list × (F(now) − F(from)).
export function usedValue(parts: readonly CoveragePart[], now: number, offsetMinutes: number): Decimal {
  let used = exact(0);
  for (const part of parts) {
    if (now <= part.from) continue;
    const a = usedFractionOfTerm(part.termStartsAt, part.from, part.termMonths, offsetMinutes);
    const b = usedFractionOfTerm(part.termStartsAt, now, part.termMonths, offsetMinutes);
    // b − a as one exact ratio: (nb·da − na·db) / (db·da)
    const numerator = exact(b.numerator).times(a.denominator).minus(exact(a.numerator).times(b.denominator));
    if (numerator.lte(0)) continue;
    used = used.plus(mulDiv(toMoney(part.list), numerator, exact(b.denominator).times(a.denominator)));
  }
  return plain(used);
}

export interface OrderRefundInput {
  /** the order's amount due (coupon part included) */
  paid: Decimal.Value;
  /** the part of `paid` a cash coupon covered (never refunded) */
  couponPaid: Decimal.Value;
  /** what was refunded from this order already (an operator's refund, say) */
  refunded: Decimal.Value;
  /** list value of the order's service used so far (usedValue) */
  used: Decimal.Value;
}

// R-S11 for one order: paid − used list value, at most the customer's own money, less what was
// refunded already (issue #11, defect 4: a refund before unsubscribing is not paid twice), rounded
// down to 0.01 and never negative.
export function refundForOrder(p: OrderRefundInput): Decimal {
  const paid = exact(toMoney(p.paid));
  const unused = Decimal.min(paid.minus(toMoney(p.used)), paid.minus(toMoney(p.couponPaid)));
  const refund = unused.minus(toMoney(p.refunded));
  return refund.gt(0) ? roundDown(refund) : ZERO;
}

/** The part of the catalog canUpgrade reads; catalog/catalog.ts's Catalog fits it. */
export interface UpgradeCatalog {
  products: ReadonlyArray<{ product: string; editions: ReadonlyArray<{ edition: string } & EditionPrices> }>;
}

// R-S12 / R-C3: an edition may only move to a strictly more expensive edition of the same
// product: in every prepaid mode both offer (at least one), the target's list price is higher.
// So there is no downgrade at all; workload-protection ultimate → pro is one such refusal.
export function canUpgrade(product: string, fromEdition: string, toEdition: string, catalog: UpgradeCatalog): boolean {
  const editions = catalog.products.find((p) => p.product === product)?.editions ?? [];
  const from = editions.find((e) => e.edition === fromEdition);
  const to = editions.find((e) => e.edition === toEdition);
  if (!from || !to || fromEdition === toEdition) return false;
  const modes = (['monthly', 'yearly'] as const).flatMap((m) => {
    const [a, b] = [to[m], from[m]];
    return a !== null && b !== null ? [toMoney(a).gt(toMoney(b))] : [];
  });
  return modes.length > 0 && modes.every(Boolean);
}

function checkedFraction(f: TermFraction): TermFraction {
  const ok = Number.isFinite(f.numerator) && Number.isFinite(f.denominator) && f.denominator > 0 && f.numerator >= 0 && f.numerator <= f.denominator;
  if (!ok) throw new RangeError(`not a fraction of a term: ${f.numerator}/${f.denominator}`);
  return f;
}
