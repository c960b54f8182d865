import {
  amountDue,
  chooseCoupon,
  chooseDiscount,
  DiscountCandidate,
  refundableAmount,
  scopeApplies,
  splitCharge,
} from '../../billing/payments';

const at = (iso: string) => new Date(iso);
const NOW = at('2024-03-01T00:00:00Z');
const FAR = at('2030-01-01T00:00:00Z');

describe('R-P1 splitCharge', () => {
  it('R-P1 example: 2000.00, 10% off, coupon 100.00, balance 1000.00, card → 1800.00 = 100.00 + 1000.00 + 700.00', () => {
    const r = splitCharge({ listAmount: '2000.00', discountPercent: '10', couponAvailable: '100.00', cashAvailable: '600.00', creditAvailable: '400.00', hasCard: true });
    expect(r).toEqual({ status: 'covered', listAmount: '2000.00', discountAmount: '200.00', due: '1800.00', coupon: '100.00', cash: '600.00', credit: '400.00', card: '700.00' });
  });

  it('takes cash before credit and stops when the due amount is covered', () => {
    const r = splitCharge({ listAmount: '50.00', cashAvailable: '30.00', creditAvailable: '100.00', hasCard: false });
    expect(r).toMatchObject({ status: 'covered', due: '50.00', coupon: '0.00', cash: '30.00', credit: '20.00', card: '0.00' });
  });

  it('a coupon larger than the due amount covers only the due amount', () => {
    const r = splitCharge({ listAmount: '80.00', couponAvailable: '100.00', cashAvailable: '500.00', creditAvailable: '0', hasCard: true });
    expect(r).toMatchObject({ status: 'covered', coupon: '80.00', cash: '0.00', card: '0.00' });
  });

  it('without a card, an uncovered remainder is "insufficient" (a result, not a throw)', () => {
    const r = splitCharge({ listAmount: '100.00', couponAvailable: '10.00', cashAvailable: '20.00', creditAvailable: '30.00', hasCard: false });
    expect(r).toMatchObject({ status: 'insufficient', due: '100.00', shortfall: '40.00', card: '0.00' });
  });

  it('treats negative availability (over-locked credit) as zero', () => {
    const r = splitCharge({ listAmount: '10.00', cashAvailable: '-5.00', creditAvailable: '-1', hasCard: true });
    expect(r).toMatchObject({ cash: '0.00', credit: '0.00', card: '10.00' });
  });

  it('R-M2: the due amount is rounded once, half-up, to 0.01', () => {
    expect(amountDue('0.05', '10')).toEqual({ due: '0.05', discountAmount: '0.00' }); // 0.045 → 0.05
    expect(amountDue('10.01', '15')).toEqual({ due: '8.51', discountAmount: '1.50' }); // 8.5085 → 8.51
    expect(amountDue('288.00', '10')).toEqual({ due: '259.20', discountAmount: '28.80' }); // R-S11 numbers
    expect(amountDue('19.99', '33.33')).toEqual({ due: '13.33', discountAmount: '6.66' }); // 13.327333 → 13.33
    expect(amountDue('100.00', null)).toEqual({ due: '100.00', discountAmount: '0.00' });
    expect(amountDue('100.00', '100')).toEqual({ due: '0.00', discountAmount: '100.00' });
  });
});

describe('R-P2 chooseDiscount', () => {
  const d = (id: string, kind: DiscountCandidate['kind'], percentOff: string, effective = '2023-01-01T00:00:00Z', extra: Partial<DiscountCandidate> = {}): DiscountCandidate => ({
    id,
    kind,
    percentOff,
    effectiveAt: at(effective),
    expiresAt: FAR,
    ...extra,
  });
  const used = (discountId: string, when: string, resourceId = 'res_1') => ({ discountId, resourceId, at: at(when) });

  it('R-P2 example (a): commercial 20, partner 10, promotional 30 used before → promotional 30%', () => {
    const r = chooseDiscount([d('c', 'commercial', '20'), d('p', 'partner', '10'), d('x', 'promotional', '30')], {
      resourceId: 'res_1',
      now: NOW,
      usedInOrders: [used('x', '2024-01-01T00:00:00Z')],
    });
    expect(r.discount?.id).toBe('x');
    expect(r.reason).toMatch(/promotional 30% off gives the lowest price/);
  });

  it('R-P2 example (b): promotional 30 (eff 2023-11-01) and 25 (eff 2023-12-01), both used → the 25 is the candidate and beats 20 → 25%', () => {
    const r = chooseDiscount(
      [d('c', 'commercial', '20'), d('p', 'partner', '10'), d('x30', 'promotional', '30', '2023-11-01T00:00:00Z'), d('x25', 'promotional', '25', '2023-12-01T00:00:00Z')],
      { resourceId: 'res_1', now: NOW, usedInOrders: [used('x30', '2024-01-05T00:00:00Z'), used('x25', '2024-01-01T00:00:00Z')] },
    );
    expect(r.discount?.id).toBe('x25');
    expect(r.discount?.percentOff).toBe('25');
  });

  it('R-P2 example (c): promotional 30 and 25 with equal effective dates, 25 used most recently → 25%', () => {
    const r = chooseDiscount(
      [d('c', 'commercial', '20'), d('p', 'partner', '10'), d('x30', 'promotional', '30'), d('x25', 'promotional', '25')],
      { resourceId: 'res_1', now: NOW, usedInOrders: [used('x30', '2024-01-01T00:00:00Z'), used('x25', '2024-02-01T00:00:00Z')] },
    );
    expect(r.discount?.id).toBe('x25');
  });

  it('ignores promotional discounts never used on this resource (used elsewhere does not count)', () => {
    const r = chooseDiscount([d('c', 'commercial', '20'), d('x', 'promotional', '30')], {
      resourceId: 'res_1',
      now: NOW,
      usedInOrders: [used('x', '2024-01-01T00:00:00Z', 'res_other')],
    });
    expect(r.discount?.id).toBe('c');
  });

  it('a promotion requested now counts as the most recent use', () => {
    const r = chooseDiscount([d('c', 'commercial', '20'), d('x30', 'promotional', '30'), d('x25', 'promotional', '25')], {
      resourceId: 'res_1',
      now: NOW,
      usedInOrders: [used('x30', '2024-01-01T00:00:00Z')],
      requestedPromotionId: 'x25',
    });
    expect(r.discount?.id).toBe('x25');
  });

  it('on equal prices prefers commercial, then partner, then promotional', () => {
    const ctx = { resourceId: 'res_1', now: NOW, usedInOrders: [used('x', '2024-01-01T00:00:00Z')] };
    expect(chooseDiscount([d('x', 'promotional', '15'), d('p', 'partner', '15.00'), d('c', 'commercial', '15')], ctx).discount?.id).toBe('c');
    expect(chooseDiscount([d('x', 'promotional', '15'), d('p', 'partner', '15')], ctx).discount?.id).toBe('p');
  });

  it('skips discounts not yet effective, expired, or out of scope; none → null with a reason', () => {
    const r = chooseDiscount(
      [
        d('future', 'commercial', '50', '2024-06-01T00:00:00Z'),
        d('expired', 'commercial', '40', '2023-01-01T00:00:00Z', { expiresAt: at('2024-02-01T00:00:00Z') }),
        d('scoped', 'partner', '30', '2023-01-01T00:00:00Z', { scope: 'workload-protection' }),
      ],
      { resourceId: 'res_1', now: NOW, usedInOrders: [], scope: 'host-security/premium' },
    );
    expect(r).toEqual({ discount: null, reason: 'no valid discount applies' });
  });

  it('an expired promotional discount is no candidate even if used before', () => {
    const r = chooseDiscount([d('c', 'commercial', '5'), d('x', 'promotional', '30', '2023-01-01T00:00:00Z', { expiresAt: at('2024-02-01T00:00:00Z') })], {
      resourceId: 'res_1',
      now: NOW,
      usedInOrders: [used('x', '2024-01-01T00:00:00Z')],
    });
    expect(r.discount?.id).toBe('c');
  });
});

describe('R-P3 chooseCoupon', () => {
  const c = (id: string, available: string, expires = '2025-01-01T00:00:00Z', scope: string | null = null) => ({ id, available, expiresAt: at(expires), scope });

  it('takes the largest available balance', () => {
    expect(chooseCoupon([c('a', '50.00'), c('b', '120.00'), c('c', '80.00')], { now: NOW })?.id).toBe('b');
  });

  it('on equal balances takes the one expiring first', () => {
    expect(chooseCoupon([c('late', '100.00', '2025-06-01T00:00:00Z'), c('early', '100.00', '2024-06-01T00:00:00Z')], { now: NOW })?.id).toBe('early');
  });

  it('ignores expired, empty and out-of-scope coupons', () => {
    const coupons = [c('expired', '500.00', '2024-02-01T00:00:00Z'), c('empty', '0.00'), c('wp', '300.00', '2025-01-01T00:00:00Z', 'workload-protection'), c('ok', '10.00')];
    expect(chooseCoupon(coupons, { now: NOW, scope: 'host-security/basic' })?.id).toBe('ok');
    expect(chooseCoupon(coupons, { now: NOW, scope: 'workload-protection/pro' })?.id).toBe('wp');
    expect(chooseCoupon([c('expired', '5.00', '2024-03-01T00:00:00Z')], { now: NOW })).toBeNull(); // expiry instant is exclusive
  });
});

describe('scopes and refund limits', () => {
  it('scope matches the product or product/edition', () => {
    expect(scopeApplies(null, 'x')).toBe(true);
    expect(scopeApplies('host-security', 'host-security/premium')).toBe(true);
    expect(scopeApplies('host-security/premium', 'host-security/premium')).toBe(true);
    expect(scopeApplies('host-security/premium', 'host-security')).toBe(false);
    expect(scopeApplies('host', 'host-security')).toBe(false);
    expect(scopeApplies('host-security', null)).toBe(false);
  });

  it('R-S11: coupon money is never refundable; earlier refunds count', () => {
    expect(refundableAmount({ cash: '600.00', credit: '400.00', card: '700.00', refunded: '0' })).toBe('1700.00');
    expect(refundableAmount({ cash: '10.00', credit: '0', card: '0', refunded: '10.00' })).toBe('0.00');
  });
});
