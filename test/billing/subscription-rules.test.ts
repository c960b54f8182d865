import fc from 'fast-check';
import type { Catalog } from '../../catalog/catalog';
import {
  canRenewManually,
  canUnsubscribe,
  canChangeEdition,
  canSwitchAutoRenew,
  canUpgrade,
  defaultRenewalPeriod,
  EditionPrices,
  refundForOrder,
  refundOnUnsubscribe,
  renewalPeriodAfterManualRenewal,
  termPrice,
  trialEndsAt,
  trialRefusal,
  UpgradeCatalog,
  upgradeCharge,
  upgradeChargeOverTerms,
  usedValue,
  usedFractionOfTerm,
} from '../../billing/subscription-rules';
import { toMoney } from '../../billing/money';
import { at, CST } from './helpers';

const cents = (n: number) => toMoney(n).div(100).toFixed(2);

// The SPEC §3 default catalog prices (list price per quota).
const catalog: UpgradeCatalog = {
  products: [
    {
      product: 'host-security',
      editions: [
        { edition: 'basic', monthly: '5.00', yearly: '50.00' },
        { edition: 'professional', monthly: '12.00', yearly: '120.00' },
        { edition: 'enterprise', monthly: '25.00', yearly: '250.00' },
        { edition: 'premium', monthly: '40.00', yearly: '400.00' },
        { edition: 'wtp', monthly: '60.00', yearly: '600.00' },
        { edition: 'container', monthly: '30.00', yearly: '300.00' },
      ],
    },
    {
      product: 'workload-protection',
      editions: [
        { edition: 'basic', monthly: '0.00', yearly: '0.00' },
        { edition: 'pro', monthly: '12.00', yearly: '144.00' },
        { edition: 'ultimate', monthly: '27.00', yearly: '324.00' },
      ],
    },
  ],
};
const prices = (product: string, edition: string): EditionPrices => {
  const e = catalog.products.find((p) => p.product === product)?.editions.find((x) => x.edition === edition);
  if (!e) throw new Error(`no ${product}/${edition}`);
  return e;
};
const pro = prices('workload-protection', 'pro');
const ultimate = prices('workload-protection', 'ultimate');

// Type-level check: the project's catalog (catalog/catalog.ts) can be passed to canUpgrade.
const catalogFits = (c: Catalog): UpgradeCatalog => c;
void catalogFits;

describe('R-S1 term price', () => {
  it('monthly price × quantity × months, or yearly price × quantity × years', () => {
    expect(termPrice(pro, 2, { unit: 'month', count: 12 }).toFixed(2)).toBe('288.00');
    expect(termPrice(pro, 2, { unit: 'year', count: 1 }).toFixed(2)).toBe('288.00');
    expect(termPrice(prices('host-security', 'basic'), 3, { unit: 'month', count: 8 }).toFixed(2)).toBe('120.00');
    expect(termPrice(prices('host-security', 'wtp'), 5, { unit: 'year', count: 3 }).toFixed(2)).toBe('9000.00');
    expect(termPrice(prices('workload-protection', 'basic'), 1, { unit: 'year', count: 1 }).toFixed(2)).toBe('0.00');
  });

  it('refuses a mode the edition does not offer, and bad quantities/terms', () => {
    expect(() => termPrice({ monthly: null, yearly: '50.00' }, 1, { unit: 'month', count: 1 })).toThrow(/monthly billing is not offered/);
    expect(() => termPrice({ monthly: '5.00', yearly: null }, 1, { unit: 'year', count: 1 })).toThrow(/yearly billing is not offered/);
    expect(() => termPrice(pro, 0, { unit: 'month', count: 1 })).toThrow(RangeError);
    expect(() => termPrice(pro, 1.5, { unit: 'month', count: 1 })).toThrow(RangeError);
    expect(() => termPrice(pro, 1, { unit: 'month', count: 0 })).toThrow(RangeError);
  });
});

describe('R-S2 trial', () => {
  it('only host-security/basic, once per account, 30 days', () => {
    expect(trialRefusal({ product: 'host-security', edition: 'basic', hadTrialBefore: false })).toBeNull();
    expect(trialRefusal({ product: 'host-security', edition: 'basic', hadTrialBefore: true })).toMatch(/already used/);
    expect(trialRefusal({ product: 'host-security', edition: 'premium', hadTrialBefore: false })).toMatch(/only host-security\/basic/);
    expect(trialEndsAt(at('2026-03-01T10:00'))).toBe(at('2026-03-31T10:00'));
  });
});

describe('R-S4 renewal period', () => {
  it('auto-renews 1 month for a term bought in months, 1 year for one bought in years', () => {
    expect(defaultRenewalPeriod({ unit: 'month', count: 3 })).toEqual({ unit: 'month', count: 1 });
    expect(defaultRenewalPeriod({ unit: 'year', count: 2 })).toEqual({ unit: 'year', count: 1 });
  });

  it('a manual renewal of 8 months with auto-renew selected makes the period 8 months', () => {
    expect(renewalPeriodAfterManualRenewal({ unit: 'month', count: 1 }, { unit: 'month', count: 8 }, true)).toEqual({ unit: 'month', count: 8 });
    expect(renewalPeriodAfterManualRenewal({ unit: 'year', count: 1 }, { unit: 'month', count: 8 }, true)).toEqual({ unit: 'month', count: 8 });
  });

  it('without auto-renew selected the period stays', () => {
    expect(renewalPeriodAfterManualRenewal({ unit: 'month', count: 1 }, { unit: 'year', count: 2 }, false)).toEqual({ unit: 'month', count: 1 });
  });
});

describe('R-S5 / R-S11 what a status allows', () => {
  it('manual renewal is refused only for released and unsubscribed', () => {
    expect(['trial', 'active', 'grace', 'frozen', 'isolated'].every((s) => canRenewManually(s as never))).toBe(true);
    expect(canRenewManually('released')).toBe(false);
    expect(canRenewManually('unsubscribed')).toBe(false);
  });

  it('only active can be unsubscribed', () => {
    expect(canUnsubscribe('active')).toBe(true);
    expect(canUnsubscribe('grace')).toBe(false);
    expect(canUnsubscribe('trial')).toBe(false);
  });

  it('R-S3: auto-renew can be switched in every status until the subscription ends', () => {
    expect(['trial', 'active', 'grace', 'frozen', 'isolated'].every((s) => canSwitchAutoRenew(s as never))).toBe(true);
    expect(['released', 'unsubscribed'].some((s) => canSwitchAutoRenew(s as never))).toBe(false);
  });

  it('R-S12: only active can be upgraded', () => {
    expect(canChangeEdition('active')).toBe(true);
    expect(['trial', 'grace', 'frozen', 'isolated', 'released', 'unsubscribed'].some((s) => canChangeEdition(s as never))).toBe(false);
  });
});

describe('R-S11 unsubscribe and refund', () => {
  const start = at('2026-01-01T00:00');

  it('2 pro × 12 months, list 288.00, paid 259.20, unsubscribed after exactly 3 of 12 months → 187.20 (SPEC example)', () => {
    const listPrice = termPrice(pro, 2, { unit: 'month', count: 12 });
    const usedFraction = usedFractionOfTerm(start, at('2026-04-01T00:00'), 12, CST);
    expect(usedFraction.numerator * 4).toBe(usedFraction.denominator); // exactly 3/12
    expect(refundOnUnsubscribe({ paid: '259.20', couponPaid: '0.00', listPrice, usedFraction }).toFixed(2)).toBe('187.20');
  });

  it('counts calendar months, not days: 90/365 days would give 188.18', () => {
    const byDays = refundOnUnsubscribe({ paid: '259.20', couponPaid: '0', listPrice: '288.00', usedFraction: { numerator: 90, denominator: 365 } });
    expect(byDays.toFixed(2)).toBe('188.18');
  });

  it('8 of 12 months is exactly 2/3: 259.20 − 192.00 = 67.20, not 67.19', () => {
    const usedFraction = usedFractionOfTerm(start, at('2026-09-01T00:00'), 12, CST);
    expect(refundOnUnsubscribe({ paid: '259.20', couponPaid: '0', listPrice: '288.00', usedFraction }).toFixed(2)).toBe('67.20');
  });

  it('rounds down', () => {
    expect(refundOnUnsubscribe({ paid: '100.00', couponPaid: '0', listPrice: '100.00', usedFraction: { numerator: 1, denominator: 3 } }).toFixed(2)).toBe('66.66');
  });

  it('is 0 when the used part is worth more than was paid', () => {
    const usedFraction = usedFractionOfTerm(start, at('2026-12-01T00:00'), 12, CST); // 11/12 of 288 = 264
    expect(refundOnUnsubscribe({ paid: '259.20', couponPaid: '0', listPrice: '288.00', usedFraction }).toFixed(2)).toBe('0.00');
    expect(refundOnUnsubscribe({ paid: '259.20', couponPaid: '0', listPrice: '288.00', usedFraction: { numerator: 1, denominator: 1 } }).isZero()).toBe(true);
  });

  it('never refunds coupon money', () => {
    const quarter = { numerator: 1, denominator: 4 };
    expect(refundOnUnsubscribe({ paid: '259.20', couponPaid: '200.00', listPrice: '288.00', usedFraction: quarter }).toFixed(2)).toBe('59.20');
    expect(refundOnUnsubscribe({ paid: '259.20', couponPaid: '50.00', listPrice: '288.00', usedFraction: quarter }).toFixed(2)).toBe('187.20');
    expect(refundOnUnsubscribe({ paid: '100.00', couponPaid: '100.00', listPrice: '100.00', usedFraction: { numerator: 0, denominator: 1 } }).toFixed(2)).toBe('0.00');
  });

  it('refuses a fraction outside [0, 1]', () => {
    expect(() => refundOnUnsubscribe({ paid: '1', couponPaid: '0', listPrice: '1', usedFraction: { numerator: 2, denominator: 1 } })).toThrow(RangeError);
    expect(() => refundOnUnsubscribe({ paid: '1', couponPaid: '0', listPrice: '1', usedFraction: { numerator: 0, denominator: 0 } })).toThrow(RangeError);
  });

  it('used fraction: whole months plus the share of the current month, clamped to [0, 1]', () => {
    const half = usedFractionOfTerm(start, at('2026-01-16T12:00'), 12, CST); // 15.5 of 31 days of month 1 of 12
    expect(half.numerator * 24).toBe(half.denominator);
    expect(usedFractionOfTerm(start, at('2025-12-31T00:00'), 12, CST)).toEqual({ numerator: 0, denominator: 1 });
    expect(usedFractionOfTerm(start, at('2027-01-01T00:00'), 12, CST)).toEqual({ numerator: 1, denominator: 1 });
    expect(usedFractionOfTerm(start, at('2028-01-01T00:00'), 12, CST)).toEqual({ numerator: 1, denominator: 1 });
    const clamped = usedFractionOfTerm(at('2026-01-31T00:00'), at('2026-02-28T00:00'), 12, CST); // one whole month (R-T2)
    expect(clamped.numerator * 12).toBe(clamped.denominator);
  });

  it('property: refund is within [0, own money], to the cent, and shrinks as time passes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 2_000_000 }),
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 1, max: 36 }),
        (paidCents, couponPct, listCents, day, months) => {
          const paid = cents(paidCents);
          const coupon = cents(Math.floor((paidCents * couponPct) / 100));
          const listPrice = cents(listCents);
          const f1 = usedFractionOfTerm(start, start + day * 86_400_000, months, CST);
          const f2 = usedFractionOfTerm(start, start + (day + 1) * 86_400_000, months, CST);
          const r1 = refundOnUnsubscribe({ paid, couponPaid: coupon, listPrice, usedFraction: f1 });
          const r2 = refundOnUnsubscribe({ paid, couponPaid: coupon, listPrice, usedFraction: f2 });
          expect(r1.gte(0) && r1.lte(toMoney(paid).minus(coupon))).toBe(true);
          expect(r1.decimalPlaces()).toBeLessThanOrEqual(2);
          expect(r2.lte(r1)).toBe(true);
        },
      ),
    );
  });
});

describe('R-S12 upgrades', () => {
  it('only to a more expensive edition of the same product: ultimate → pro is refused', () => {
    expect(canUpgrade('workload-protection', 'ultimate', 'pro', catalog)).toBe(false);
    expect(canUpgrade('workload-protection', 'ultimate', 'basic', catalog)).toBe(false);
    expect(canUpgrade('workload-protection', 'pro', 'ultimate', catalog)).toBe(true);
    expect(canUpgrade('workload-protection', 'basic', 'pro', catalog)).toBe(true);
    expect(canUpgrade('host-security', 'basic', 'wtp', catalog)).toBe(true);
    expect(canUpgrade('host-security', 'enterprise', 'container', catalog)).toBe(true);
    expect(canUpgrade('host-security', 'premium', 'container', catalog)).toBe(false);
    expect(canUpgrade('host-security', 'wtp', 'premium', catalog)).toBe(false);
    expect(canUpgrade('host-security', 'premium', 'premium', catalog)).toBe(false);
    expect(canUpgrade('host-security', 'premium', 'ultimate', catalog)).toBe(false);
    expect(canUpgrade('no-such-product', 'a', 'b', catalog)).toBe(false);
  });

  it('needs a prepaid mode both offer, more expensive in each', () => {
    const odd: UpgradeCatalog = {
      products: [
        {
          product: 'p',
          editions: [
            { edition: 'a', monthly: '10.00', yearly: null },
            { edition: 'b', monthly: null, yearly: '200.00' },
            { edition: 'c', monthly: '20.00', yearly: '90.00' },
            { edition: 'd', monthly: '5.00', yearly: '100.00' },
          ],
        },
      ],
    };
    expect(canUpgrade('p', 'a', 'b', odd)).toBe(false); // no common mode
    expect(canUpgrade('p', 'a', 'c', odd)).toBe(true);
    expect(canUpgrade('p', 'd', 'c', odd)).toBe(false); // dearer monthly, cheaper yearly
  });

  it('charges the price difference for the remaining time, pro rata', () => {
    // 2 licenses, 12 months, pro → ultimate after 3 months: (27 − 12) × 2 × 12 × 9/12 = 270.00
    const usedFraction = usedFractionOfTerm(at('2026-01-01T00:00'), at('2026-04-01T00:00'), 12, CST);
    expect(upgradeCharge({ oldPrices: pro, newPrices: ultimate, quantity: 2, term: { unit: 'month', count: 12 }, usedFraction }).toFixed(2)).toBe('270.00');
    // yearly professional → enterprise, 1/3 used: (250 − 120) × 2/3 = 86.666… → 86.67 (half-up)
    const third = { numerator: 1, denominator: 3 };
    const charge = upgradeCharge({
      oldPrices: prices('host-security', 'professional'),
      newPrices: prices('host-security', 'enterprise'),
      quantity: 1,
      term: { unit: 'year', count: 1 },
      usedFraction: third,
    });
    expect(charge.toFixed(2)).toBe('86.67');
    expect(upgradeCharge({ oldPrices: pro, newPrices: ultimate, quantity: 1, term: { unit: 'month', count: 1 }, usedFraction: { numerator: 1, denominator: 1 } }).toFixed(2)).toBe('0.00');
  });

  it('refuses to price a downgrade', () => {
    expect(() => upgradeCharge({ oldPrices: ultimate, newPrices: pro, quantity: 1, term: { unit: 'month', count: 1 }, usedFraction: { numerator: 0, denominator: 1 } })).toThrow(/not an upgrade/);
  });
});

// Issue #11 defects 3 and 4: every paid term still ahead counts, and what was refunded already
// is not refunded again.
describe('R-S11 / R-S12 over every paid term (issue #11)', () => {
  const basic = prices('host-security', 'basic');
  const wtp = prices('host-security', 'wtp');
  const start = at('2026-01-01T10:00');
  const yearEnd = at('2027-01-01T10:00');
  const yearly = { startsAt: start, endsAt: yearEnd, term: { unit: 'year' as const, count: 1 } };
  const plusMonth = { startsAt: yearEnd, endsAt: at('2027-02-01T10:00'), term: { unit: 'month' as const, count: 1 } };

  it('R-S12: basic yearly renewed by one month, upgraded to wtp at once → 550.00 + 55.00 = 605.00 (the twin without the renewal pays 550.00)', () => {
    const both = upgradeChargeOverTerms({ oldPrices: basic, newPrices: wtp, quantity: 1, terms: [yearly, plusMonth], at: start, offsetMinutes: CST });
    expect(both.amount.toFixed(2)).toBe('605.00');
    expect(both.parts.map((p) => [p.list, p.from])).toEqual([['550', start], ['55', yearEnd]]);
    const twin = upgradeChargeOverTerms({ oldPrices: basic, newPrices: wtp, quantity: 1, terms: [yearly], at: start, offsetMinutes: CST });
    expect(twin.amount.toFixed(2)).toBe('550.00');
  });

  it('R-S12: a quarter into the year, the rest of the year and the whole month ahead: 412.50 + 55.00', () => {
    const q = upgradeChargeOverTerms({ oldPrices: basic, newPrices: wtp, quantity: 1, terms: [yearly, plusMonth], at: at('2026-04-01T10:00'), offsetMinutes: CST });
    expect(q.amount.toFixed(2)).toBe('467.50');
  });

  it('R-S12 on one term is the single-term rule (the SPEC pro → ultimate 90.00 case agrees)', () => {
    const term = { unit: 'month' as const, count: 12 };
    const window = { startsAt: start, endsAt: at('2027-01-01T10:00'), term };
    const usedFraction = usedFractionOfTerm(start, at('2026-05-01T10:00'), 12, CST);
    const single = upgradeCharge({ oldPrices: pro, newPrices: ultimate, quantity: 1, term, usedFraction });
    const over = upgradeChargeOverTerms({ oldPrices: pro, newPrices: ultimate, quantity: 1, terms: [window], at: at('2026-05-01T10:00'), offsetMinutes: CST });
    expect(over.amount.toFixed(2)).toBe(single.toFixed(2));
    expect(single.toFixed(2)).toBe('120.00');
  });

  it('R-S11: 2 pro × 12 months paid 259.20 plus a month renewed for 24.00, unsubscribed after 3 months → 187.20 + 24.00', () => {
    const year = { termStartsAt: start, termMonths: 12, from: start, list: '288.00' };
    const month = { termStartsAt: yearEnd, termMonths: 1, from: yearEnd, list: '24.00' };
    const now = at('2026-04-01T10:00');
    const r1 = refundForOrder({ paid: '259.20', couponPaid: '0', refunded: '0', used: usedValue([year], now, CST) });
    const r2 = refundForOrder({ paid: '24.00', couponPaid: '0', refunded: '0', used: usedValue([month], now, CST) });
    expect([r1.toFixed(2), r2.toFixed(2)]).toEqual(['187.20', '24.00']);
  });

  it('R-S11 after an operator refund of 100.00: 187.20 − 100.00 = 87.20, never a second 187.20', () => {
    const year = { termStartsAt: start, termMonths: 12, from: start, list: '288.00' };
    const used = usedValue([year], at('2026-04-01T10:00'), CST);
    expect(refundForOrder({ paid: '259.20', couponPaid: '0', refunded: '100.00', used }).toFixed(2)).toBe('87.20');
    expect(refundForOrder({ paid: '259.20', couponPaid: '0', refunded: '259.20', used }).toFixed(2)).toBe('0.00');
  });

  it('R-S11 after an upgrade: basic yearly 50.00, wtp from a quarter in (412.50), unsubscribed at half → 25.00 + 275.00', () => {
    const quarter = at('2026-04-01T10:00');
    const half = at('2026-07-01T10:00');
    const up = upgradeChargeOverTerms({ oldPrices: basic, newPrices: wtp, quantity: 1, terms: [yearly], at: quarter, offsetMinutes: CST });
    expect(up.amount.toFixed(2)).toBe('412.50');
    const termOrder = refundForOrder({ paid: '50.00', couponPaid: '0', refunded: '0', used: usedValue([{ termStartsAt: start, termMonths: 12, from: start, list: '50.00' }], half, CST) });
    const upgradeOrder = refundForOrder({ paid: up.amount, couponPaid: '0', refunded: '0', used: usedValue(up.parts, half, CST) });
    expect([termOrder.toFixed(2), upgradeOrder.toFixed(2)]).toEqual(['25.00', '275.00']);
  });

  it('property: whatever the upgrade instant, unsubscribing right after it refunds the upgrade in full, and a used part never exceeds its list', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 364 }), fc.integer({ min: 0, max: 364 }), (d1, d2) => {
      const upAt = start + d1 * 86_400_000;
      const now = upAt + d2 * 86_400_000;
      const up = upgradeChargeOverTerms({ oldPrices: basic, newPrices: wtp, quantity: 1, terms: [yearly, plusMonth], at: upAt, offsetMinutes: CST });
      expect(refundForOrder({ paid: up.amount, couponPaid: '0', refunded: '0', used: usedValue(up.parts, upAt, CST) }).toFixed(2)).toBe(up.amount.toFixed(2));
      const used = usedValue(up.parts, now, CST);
      expect(used.gte(0) && used.lte(up.amount.plus('0.01'))).toBe(true);
    }));
  });
});
