import fc from 'fast-check';
import { anAccount, key, paymentsWorld, PaymentsWorld, purpose } from './support';

// R-I5: a quote is computed by the charge's own plan (payments/reserve.ts), reading instead of
// locking, so a quote followed at once by the charge gives the same split: discount chosen,
// coupon, cash, credit, card. Random accounts, discounts, coupons and amounts.
describe('R-I5 quotes equal charges', () => {
  let w: PaymentsWorld;
  beforeAll(async () => { w = await paymentsWorld(); });
  afterAll(async () => { await w?.drop(); });

  const money = (min: number, max: number) => fc.integer({ min, max }).map((c) => (c / 100).toFixed(2));
  const scopes = fc.constantFrom(undefined, 'host-security', 'host-security/premium', 'workload-protection');
  const account = fc.record({
    cash: fc.option(money(1, 50_000)),
    credit: fc.option(money(1, 30_000)),
    card: fc.option(fc.constantFrom('tok_visa', 'tok_chargeDeclined')),
    coupons: fc.array(fc.record({ amount: money(100, 20_000), scope: scopes, days: fc.integer({ min: 1, max: 90 }) }), { maxLength: 3 }),
    discounts: fc.array(fc.record({ kind: fc.constantFrom('commercial', 'partner', 'promotional'), percent: fc.integer({ min: 1, max: 60 }), scope: scopes }), { maxLength: 3 }),
  });
  const charge = fc.record({
    list: money(1, 100_000),
    product: fc.constantFrom('host-security/premium', 'host-security/basic', 'workload-protection/pro'),
    useCoupons: fc.boolean(),
    namePromotion: fc.boolean(),
  });

  it('property: quote → charge at once gives the same discount, due, coupon, cash, credit and card', async () => {
    await fc.assert(fc.asyncProperty(account, charge, async (a, c) => {
      let builder = anAccount(w);
      if (a.cash) builder = builder.withCash(a.cash);
      if (a.credit) builder = builder.withCredit(a.credit);
      if (a.card) builder = builder.withCard(a.card);
      for (const cp of a.coupons) builder = builder.withCoupon(cp.amount, new Date(w.clock.now().getTime() + cp.days * 86_400_000).toISOString(), cp.scope);
      const acc = await builder.create();
      const granted = [];
      for (const d of a.discounts) {
        granted.push(await w.engine.issueDiscount({ accountId: acc, kind: d.kind as never, percentOff: String(d.percent), effectiveAt: new Date(w.clock.now().getTime() - 86_400_000), expiresAt: new Date(w.clock.now().getTime() + 86_400_000), scope: d.scope ?? null }));
      }
      const promo = c.namePromotion ? granted.find((g) => g.kind === 'promotional') : undefined;
      const input = { accountId: acc, listAmount: c.list, purpose: purpose(`res_${acc}`, { product: c.product }), useCoupons: c.useCoupons, promotionId: promo?.id ?? null };
      const before = await w.engine.getBalances(acc);
      const q = await w.engine.quote(input);
      expect(await w.engine.getBalances(acc)).toEqual(before); // a quote locks and takes nothing
      const r = await w.engine.charge({ ...input, idempotencyKey: key('q') });
      const split = (o: { due: string; coupon: string; cash: string; credit: string; card: string }) => [o.due, o.coupon, o.cash, o.credit, o.card];
      if (!q.payable) {
        expect(r).toMatchObject({ status: 'failed', code: 'PAYMENT.INSUFFICIENT_FUNDS' });
        expect(q.shortfall).not.toBe('0.00');
        return;
      }
      expect(r.order.list_amount).toBe(q.list_amount);
      expect(r.order.discount?.id ?? null).toBe(q.discount?.id ?? null);
      if (r.status === 'paid') {
        expect(r.order.coupon_id).toBe(q.coupon_id);
        expect(split(r.order)).toEqual(split(q));
      } else {
        expect(r).toMatchObject({ code: 'PAYMENT.CARD_DECLINED' }); // the one thing a quote cannot know: nothing taken
      }
    }), { numRuns: 60, seed: 20261202 });
  });

  it('the SPEC R-P1 example quotes due 1800.00, coupon 100.00, balance 1000.00, card 700.00', async () => {
    const acc = await anAccount(w).withCash('600.00').withCredit('400.00').withCoupon('100.00').withCard().create();
    await w.engine.issueDiscount({ accountId: acc, kind: 'commercial', percentOff: '10', effectiveAt: new Date(w.clock.now().getTime() - 86_400_000), expiresAt: new Date(w.clock.now().getTime() + 86_400_000) });
    const q = await w.engine.quote({ accountId: acc, listAmount: '2000.00', purpose: purpose() });
    expect(q).toMatchObject({ list_amount: '2000.00', due: '1800.00', coupon: '100.00', cash: '600.00', credit: '400.00', card: '700.00', payable: true });
    expect(q.discount).toMatchObject({ kind: 'commercial', percent_off: '10.00', amount: '200.00' });
  });
});
