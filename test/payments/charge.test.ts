import { PaymentError, TransientGatewayError } from '../../payments/errors';
import { anAccount, key, PaymentsWorld, paymentsWorld, purpose, unbalancedTransactions } from './support';

let w: PaymentsWorld;
beforeAll(async () => {
  w = await paymentsWorld();
});
afterAll(async () => {
  await w.drop();
});
afterEach(async () => {
  // R-M3 holds after every test, whatever it did.
  expect(await unbalancedTransactions(w.db)).toEqual([]);
});

const DAY = 24 * 3600 * 1000;

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(PaymentError);
  await expect(p).rejects.toMatchObject({ code });
}

async function counts(accountId: string) {
  const [o] = await w.db('orders').where({ account_id: accountId }).count({ n: '*' });
  const [t] = await w.db('ledger_transactions').where({ account_id: accountId }).count({ n: '*' });
  return { orders: Number(o.n), ledger: Number(t.n) };
}

describe('R-P1 collection order, end to end', () => {
  it('R-P1 example: 2000.00, commercial 10%, coupon 100.00, cash+credit 1000.00, card → due 1800.00 = 100.00 + 1000.00 + 700.00', async () => {
    const acc = await anAccount(w).withCash('600.00').withCredit('400.00').withCard('tok_visa').withCoupon('100.00').create();
    await w.engine.issueDiscount({ accountId: acc, kind: 'commercial', percentOff: '10', effectiveAt: '2024-01-01T00:00:00Z', expiresAt: '2030-01-01T00:00:00Z' });
    const chargesBefore = w.gateway.succeeded.length;

    const r = await w.engine.charge({ accountId: acc, listAmount: '2000.00', purpose: purpose('res_rp1'), idempotencyKey: key('rp1') });

    expect(r.status).toBe('paid');
    expect(r.order).toMatchObject({
      list_amount: '2000.00',
      discount: { kind: 'commercial', percent_off: '10.00', amount: '200.00' },
      due: '1800.00',
      coupon: '100.00',
      cash: '600.00',
      credit: '400.00',
      card: '700.00',
      status: 'paid',
    });
    // The customer pays 1700.00 of their own money.
    expect(Number(r.order.cash) + Number(r.order.credit) + Number(r.order.card)).toBe(1700);

    const ledger = await w.engine.listLedger(acc);
    const tx = ledger.data.find((t) => t.kind === 'charge')!;
    expect(tx.id).toBe(r.order.ledger_transaction_id);
    expect(Object.fromEntries(tx.entries.map((e) => [e.account.startsWith('coupon:') ? 'coupon' : e.account, e.amount]))).toEqual({
      revenue: '1800.00',
      coupon: '-100.00',
      cash: '-600.00',
      credit: '-400.00',
      card_clearing: '-700.00',
    });

    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '0.00', credit_limit: '400.00', credit_used: '400.00', locked: '0.00', card: { last4: '4242' } });
    const [coupon] = (await w.engine.listCoupons(acc)).data;
    expect(coupon).toMatchObject({ balance: '0.00', status: 'used_up' });
    expect(w.gateway.succeeded.length - chargesBefore).toBe(1);
    expect(w.gateway.succeeded.at(-1)).toMatchObject({ amount: '700.00', currency: 'USD', token: 'tok_visa' });
    expect(await w.engine.verifyBalances(acc)).toEqual({ ok: true, mismatches: [] });
  });

  it('a covered charge without card part never calls the gateway', async () => {
    const acc = await anAccount(w).withCash('100.00').withCard().create();
    const calls = w.gateway.calls;
    const r = await w.engine.charge({ accountId: acc, listAmount: '40.00', purpose: purpose(), idempotencyKey: key() });
    expect(r.order).toMatchObject({ status: 'paid', cash: '40.00', card: '0.00', card_charge_id: null });
    expect(w.gateway.calls).toBe(calls);
  });
});

describe('R-P2 discount choice through the engine (prior orders on the same resource)', () => {
  const discount = (acc: string, kind: 'commercial' | 'partner' | 'promotional', percentOff: string, effectiveAt = '2023-01-01T00:00:00Z') =>
    w.engine.issueDiscount({ accountId: acc, kind, percentOff, effectiveAt, expiresAt: '2030-01-01T00:00:00Z' });
  const pay = async (acc: string, resource: string, promotionId?: string) => {
    w.clock.advance(DAY);
    const r = await w.engine.charge({ accountId: acc, listAmount: '100.00', purpose: purpose(resource), idempotencyKey: key('rp2'), promotionId });
    expect(r.status).toBe('paid');
    return r.order;
  };

  it('R-P2 example (a): commercial 20, partner 10, promotional 30 used before → 30% off', async () => {
    const acc = await anAccount(w).withCash('1000.00').create();
    const c20 = await discount(acc, 'commercial', '20');
    await discount(acc, 'partner', '10');
    const p30 = await discount(acc, 'promotional', '30');

    expect((await pay(acc, 'res_a')).discount?.id).toBe(c20.id); // never used: promotion is no candidate
    expect((await pay(acc, 'res_a', p30.id)).discount?.id).toBe(p30.id); // bought under the promotion
    const later = await pay(acc, 'res_a');
    expect(later.discount).toMatchObject({ id: p30.id, kind: 'promotional', percent_off: '30.00', amount: '30.00' });
    expect(later.due).toBe('70.00');
    // Another resource of the same account has not used the promotion.
    expect((await pay(acc, 'res_other')).discount?.id).toBe(c20.id);
  });

  it('R-P2 example (b): promotional 30 (2023-11-01) and 25 (2023-12-01) both used → the later-effective 25 wins over commercial 20', async () => {
    const acc = await anAccount(w).withCash('1000.00').create();
    await discount(acc, 'commercial', '20');
    await discount(acc, 'partner', '10');
    const p30 = await discount(acc, 'promotional', '30', '2023-11-01T00:00:00Z');
    const p25 = await discount(acc, 'promotional', '25', '2023-12-01T00:00:00Z');

    expect((await pay(acc, 'res_b', p30.id)).discount?.id).toBe(p30.id);
    expect((await pay(acc, 'res_b', p25.id)).discount?.id).toBe(p25.id);
    // The 30 % one is used most recently now, but the effective date decides first.
    expect((await pay(acc, 'res_b', p30.id)).discount?.id).toBe(p25.id);
    const later = await pay(acc, 'res_b');
    expect(later.discount).toMatchObject({ id: p25.id, percent_off: '25.00' });
    expect(later.due).toBe('75.00');
  });

  it('R-P2 example (c): equal effective dates (2023-01-01), 25 used in the most recent order → 25% off', async () => {
    const acc = await anAccount(w).withCash('1000.00').create();
    await discount(acc, 'commercial', '20');
    await discount(acc, 'partner', '10');
    const p30 = await discount(acc, 'promotional', '30');
    const p25 = await discount(acc, 'promotional', '25');

    expect((await pay(acc, 'res_c', p30.id)).discount?.id).toBe(p30.id);
    expect((await pay(acc, 'res_c', p25.id)).discount?.id).toBe(p25.id);
    const later = await pay(acc, 'res_c');
    expect(later.discount).toMatchObject({ id: p25.id, percent_off: '25.00' });
    expect(later.due).toBe('75.00');
    // Had the 30 % one been used last, it would be the candidate (the rule, not a constant 25).
    await pay(acc, 'res_c', p30.id);
    expect((await pay(acc, 'res_c')).discount?.id).toBe(p30.id);
  });

  it('a failed order does not count as a use', async () => {
    const acc = await anAccount(w).create();
    const c20 = await discount(acc, 'commercial', '20');
    const p30 = await discount(acc, 'promotional', '30');
    const failed = await w.engine.charge({ accountId: acc, listAmount: '100.00', purpose: purpose('res_f'), idempotencyKey: key(), promotionId: p30.id });
    expect(failed.status).toBe('failed');
    await w.engine.topUp({ accountId: acc, amount: '100.00', idempotencyKey: key() });
    expect((await pay(acc, 'res_f')).discount?.id).toBe(c20.id);
  });
});

describe('R-P3 coupons through the engine', () => {
  it('the largest coupon wins and covers the due amount', async () => {
    const acc = await anAccount(w).withCash('500.00').withCoupon('50.00').withCoupon('120.00').withCoupon('80.00').create();
    const r = await w.engine.charge({ accountId: acc, listAmount: '100.00', purpose: purpose(), idempotencyKey: key() });
    expect(r.order).toMatchObject({ coupon: '100.00', cash: '0.00' });
    const coupons = (await w.engine.listCoupons(acc)).data;
    expect(coupons.map((c) => [c.amount, c.balance]).sort()).toEqual([['120.00', '20.00'], ['50.00', '50.00'], ['80.00', '80.00']]);
    expect(r.order.coupon_id).toBe(coupons.find((c) => c.amount === '120.00')!.id);
  });

  it('equal balances → the coupon expiring first', async () => {
    const acc = await anAccount(w).withCash('500.00').withCoupon('60.00', '2026-01-01T00:00:00Z').withCoupon('60.00', '2025-01-01T00:00:00Z').create();
    const r = await w.engine.charge({ accountId: acc, listAmount: '10.00', purpose: purpose(), idempotencyKey: key() });
    const early = (await w.engine.listCoupons(acc)).data.find((c) => c.expires_at.startsWith('2025'))!;
    expect(r.order.coupon_id).toBe(early.id);
    expect(early.balance).toBe('50.00');
  });

  it('partial coverage: the rest goes to cash, then credit', async () => {
    const acc = await anAccount(w).withCash('50.00').withCredit('100.00').withCoupon('30.00').create();
    const r = await w.engine.charge({ accountId: acc, listAmount: '100.00', purpose: purpose(), idempotencyKey: key() });
    expect(r.order).toMatchObject({ due: '100.00', coupon: '30.00', cash: '50.00', credit: '20.00', card: '0.00' });
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '0.00', credit_used: '20.00' });
  });

  it('expired and out-of-scope coupons are ignored', async () => {
    const expiresSoon = new Date(w.clock.now().getTime() + 3600_000).toISOString();
    const acc = await anAccount(w).withCash('500.00').withCoupon('500.00', expiresSoon).withCoupon('300.00', '2030-01-01T00:00:00Z', 'workload-protection').create();
    w.clock.advance(2 * 3600_000);
    const r = await w.engine.charge({ accountId: acc, listAmount: '100.00', purpose: purpose('res_1', { product: 'host-security/premium' }), idempotencyKey: key() });
    expect(r.order).toMatchObject({ coupon: '0.00', coupon_id: null, cash: '100.00' });
    expect((await w.engine.listCoupons(acc)).data.map((c) => c.status).sort()).toEqual(['active', 'expired']);
    // In scope it is used.
    const wp = await w.engine.charge({ accountId: acc, listAmount: '100.00', purpose: purpose('res_2', { product: 'workload-protection/pro' }), idempotencyKey: key() });
    expect(wp.order.coupon).toBe('100.00');
  });

  it('R-U2: pay-per-use settlement does not use coupons', async () => {
    const acc = await anAccount(w).withCash('10.00').withCoupon('100.00').create();
    const r = await w.engine.charge({ accountId: acc, listAmount: '3.25', purpose: purpose('srv_1', { kind: 'pay_per_use_settlement' }), idempotencyKey: key(), useCoupons: false });
    expect(r.order).toMatchObject({ coupon: '0.00', cash: '3.25' });
  });

  it('R-P4: a card decline releases every lock and takes nothing', async () => {
    const acc = await anAccount(w).withCash('100.00').withCredit('50.00').withCoupon('50.00').withCard('tok_chargeDeclined').create();
    const k = key('decline');
    const r = await w.engine.charge({ accountId: acc, listAmount: '400.00', purpose: purpose(), idempotencyKey: k });
    expect(r).toMatchObject({ status: 'failed', code: 'PAYMENT.CARD_DECLINED' });
    expect(r.order).toMatchObject({ status: 'failed', coupon: '0.00', cash: '0.00', credit: '0.00', card: '0.00', ledger_transaction_id: null });
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '100.00', credit_used: '0.00', locked: '0.00' });
    expect((await w.engine.listCoupons(acc)).data[0]).toMatchObject({ balance: '50.00', locked: '0.00' });
    const locks = await w.db('payment_locks').where({ account_id: acc });
    expect(locks.map((l: any) => [l.source, l.amount, l.status]).sort()).toEqual([['cash', '100.00', 'released'], ['coupon', '50.00', 'released'], ['credit', '50.00', 'released']]);
    expect(await w.db('ledger_transactions').where({ account_id: acc, kind: 'charge' })).toHaveLength(0);
    expect(w.gateway.charges.filter((c) => c.idempotencyKey === `charge:${k}`)).toEqual([expect.objectContaining({ status: 'declined', amount: '200.00', declineCode: 'card_declined' })]);
    // R-P5: the same key gives the first result, without asking the card again.
    const calls = w.gateway.calls;
    expect(await w.engine.charge({ accountId: acc, listAmount: '400.00', purpose: purpose(), idempotencyKey: k })).toEqual(r);
    expect(w.gateway.calls).toBe(calls);
    expect(await w.engine.verifyBalances(acc)).toMatchObject({ ok: true });
  });
});

describe('insufficient funds', () => {
  it('no card and coupon + balance short → PAYMENT.INSUFFICIENT_FUNDS, nothing taken or locked', async () => {
    const acc = await anAccount(w).withCash('100.00').withCredit('50.00').withCoupon('20.00').create();
    const r = await w.engine.charge({ accountId: acc, listAmount: '200.00', purpose: purpose(), idempotencyKey: key() });
    expect(r).toMatchObject({ status: 'failed', code: 'PAYMENT.INSUFFICIENT_FUNDS' });
    expect(r.status === 'failed' && r.message).toMatch(/short 30\.00/);
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '100.00', credit_used: '0.00', locked: '0.00' });
    expect((await w.engine.listCoupons(acc)).data[0].balance).toBe('20.00');
    expect(await w.db('payment_locks').where({ account_id: acc })).toHaveLength(0);
    expect((await w.engine.listOrders(acc)).data).toEqual([expect.objectContaining({ status: 'failed', failure: expect.objectContaining({ code: 'PAYMENT.INSUFFICIENT_FUNDS' }) })]);
  });

  it('an unbound card no longer pays', async () => {
    const acc = await anAccount(w).withCard().create();
    await w.engine.unbindCard(acc);
    expect((await w.engine.getBalances(acc)).card).toBeNull();
    const r = await w.engine.charge({ accountId: acc, listAmount: '1.00', purpose: purpose(), idempotencyKey: key() });
    expect(r).toMatchObject({ status: 'failed', code: 'PAYMENT.INSUFFICIENT_FUNDS' });
  });
});

describe('R-P5 idempotency', () => {
  it('the same key returns the first result and charges once', async () => {
    const acc = await anAccount(w).withCash('100.00').withCard().create();
    const k = key('same');
    const input = { accountId: acc, listAmount: '150.00', purpose: purpose(), idempotencyKey: k };
    const first = await w.engine.charge(input);
    const again = await w.engine.charge(input);
    expect(again).toEqual(first);
    expect(w.gateway.succeeded.filter((c) => c.idempotencyKey === `charge:${k}`)).toHaveLength(1);
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '0.00' });
    expect(await counts(acc)).toEqual({ orders: 1, ledger: 2 }); // the seed top-up and the charge
  });

  it('a key reused for another charge → IDEMPOTENCY.MISMATCH', async () => {
    const acc = await anAccount(w).withCash('100.00').create();
    const other = await anAccount(w).withCash('100.00').create();
    const k = key('reuse');
    await w.engine.charge({ accountId: acc, listAmount: '10.00', purpose: purpose(), idempotencyKey: k });
    await expectCode(w.engine.charge({ accountId: acc, listAmount: '11.00', purpose: purpose(), idempotencyKey: k }), 'IDEMPOTENCY.MISMATCH');
    await expectCode(w.engine.charge({ accountId: other, listAmount: '10.00', purpose: purpose(), idempotencyKey: k }), 'IDEMPOTENCY.MISMATCH');
    const tk = key('topup');
    await w.engine.topUp({ accountId: acc, amount: '5.00', idempotencyKey: tk });
    await w.engine.topUp({ accountId: acc, amount: '5.00', idempotencyKey: tk });
    await expectCode(w.engine.topUp({ accountId: acc, amount: '6.00', idempotencyKey: tk }), 'IDEMPOTENCY.MISMATCH');
    expect((await w.engine.getBalances(acc)).cash).toBe('95.00');
  });

  it('transient gateway failures throw (retryable) and keep the locks; the retry completes with one card charge', async () => {
    const acc = await anAccount(w).withCash('30.00').withCard('tok_transient').create();
    const k = key('transient');
    const input = { accountId: acc, listAmount: '100.00', purpose: purpose(), idempotencyKey: k };
    await expect(w.engine.charge(input)).rejects.toBeInstanceOf(TransientGatewayError);
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '30.00', locked: '30.00', cash_available: '0.00' });
    await expect(w.engine.charge(input)).rejects.toBeInstanceOf(TransientGatewayError);
    const r = await w.engine.charge(input);
    expect(r.order).toMatchObject({ status: 'paid', cash: '30.00', card: '70.00' });
    expect(w.gateway.charges.filter((c) => c.idempotencyKey === `charge:${k}`)).toHaveLength(1);
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '0.00', locked: '0.00' });
  });

  it('R-P4 timeout: a stale pending charge is released when the gateway never processed it', async () => {
    const engine = w.engineWith({ lockTtlMs: 60_000 });
    const acc = await anAccount(w).withCash('30.00').withCard('tok_transient').create();
    const k = key('stale');
    await expect(engine.charge({ accountId: acc, listAmount: '100.00', purpose: purpose(), idempotencyKey: k })).rejects.toBeInstanceOf(TransientGatewayError);
    expect(await engine.recoverStalePayments()).toEqual({ captured: 0, released: 0, errors: 0 }); // not stale yet
    w.clock.advance(61_000);
    expect(await engine.recoverStalePayments()).toEqual({ captured: 0, released: 1, errors: 0 });
    expect(await engine.getBalances(acc)).toMatchObject({ cash: '30.00', locked: '0.00' });
    const again = await engine.charge({ accountId: acc, listAmount: '100.00', purpose: purpose(), idempotencyKey: k });
    expect(again).toMatchObject({ status: 'failed', code: 'PAYMENT.TIMEOUT' });
  });
});

describe('refunds (cash only; Σ refunds ≤ own money paid)', () => {
  it('refunds to cash, never the coupon part, and never beyond what was paid', async () => {
    const acc = await anAccount(w).withCash('600.00').withCredit('400.00').withCard().withCoupon('100.00').create();
    const { order } = await w.engine.charge({ accountId: acc, listAmount: '1800.00', purpose: purpose(), idempotencyKey: key() });
    expect(order).toMatchObject({ coupon: '100.00', cash: '600.00', credit: '400.00', card: '700.00' });

    const k1 = key('rf');
    const first = await w.engine.refund({ orderId: order.id, amount: '1000.00', idempotencyKey: k1 });
    expect(first.order).toMatchObject({ refunded: '1000.00', status: 'partially_refunded' });
    expect(await w.engine.refund({ orderId: order.id, amount: '1000.00', idempotencyKey: k1 })).toEqual(first);
    await expectCode(w.engine.refund({ orderId: order.id, amount: '700.01', idempotencyKey: key('rf') }), 'PAYMENT.REFUND_EXCEEDS_PAID');
    const last = await w.engine.refund({ orderId: order.id, amount: '700.00', idempotencyKey: key('rf') });
    expect(last.order).toMatchObject({ refunded: '1700.00', status: 'refunded' });
    await expectCode(w.engine.refund({ orderId: order.id, amount: '0.01', idempotencyKey: key('rf') }), 'PAYMENT.REFUND_EXCEEDS_PAID');

    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '1700.00', credit_used: '400.00' });
    expect((await w.engine.listCoupons(acc)).data[0].balance).toBe('0.00');
    expect(await w.engine.verifyBalances(acc)).toMatchObject({ ok: true });
  });

  it('R-S11 numbers: paid 259.20 after 10% off 288.00, refund 187.20 to cash', async () => {
    const acc = await anAccount(w).withCash('259.20').create();
    await w.engine.issueDiscount({ accountId: acc, kind: 'commercial', percentOff: '10.00', effectiveAt: '2024-01-01T00:00:00Z', expiresAt: '2030-01-01T00:00:00Z' });
    const { order } = await w.engine.charge({ accountId: acc, listAmount: '288.00', purpose: purpose(), idempotencyKey: key() });
    expect(order.due).toBe('259.20');
    const r = await w.engine.refund({ orderId: order.id, amount: '187.20', idempotencyKey: key() });
    expect(r.refund.amount).toBe('187.20');
    expect((await w.engine.getBalances(acc)).cash).toBe('187.20');
  });

  it('failed and unknown orders cannot be refunded', async () => {
    const acc = await anAccount(w).create();
    const { order } = await w.engine.charge({ accountId: acc, listAmount: '5.00', purpose: purpose(), idempotencyKey: key() });
    await expectCode(w.engine.refund({ orderId: order.id, amount: '1.00', idempotencyKey: key() }), 'ORDER.NOT_REFUNDABLE');
    await expectCode(w.engine.refund({ orderId: 'ord_nope', amount: '1.00', idempotencyKey: key() }), 'ORDER.NOT_FOUND');
  });
});

describe('top-ups, credit line, cards', () => {
  it('a top-up first repays credit used, the rest is cash', async () => {
    const acc = await anAccount(w).withCredit('500.00').create();
    await w.engine.charge({ accountId: acc, listAmount: '300.00', purpose: purpose(), idempotencyKey: key() });
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '0.00', credit_used: '300.00', credit_available: '200.00' });
    const t = await w.engine.topUp({ accountId: acc, amount: '400.00', idempotencyKey: key() });
    expect(t.transaction.entries).toEqual([
      { account: 'topup_clearing', amount: '-400.00' },
      { account: 'credit', amount: '300.00' },
      { account: 'cash', amount: '100.00' },
    ]);
    expect(t.balances).toMatchObject({ cash: '100.00', credit_used: '0.00' });
  });

  it('the credit limit cannot drop below what is used', async () => {
    const acc = await anAccount(w).withCredit('500.00').create();
    await w.engine.charge({ accountId: acc, listAmount: '300.00', purpose: purpose(), idempotencyKey: key() });
    await expectCode(w.engine.setCreditLimit({ accountId: acc, limit: '299.99' }), 'CREDIT.LIMIT_BELOW_USED');
    expect(await w.engine.setCreditLimit({ accountId: acc, limit: '300.00' })).toMatchObject({ credit_limit: '300.00', credit_available: '0.00' });
  });

  it('binding a card replaces the previous one; the account shows only a hint', async () => {
    const acc = await anAccount(w).withCard('tok_visa').create();
    const card = await w.engine.bindCard({ accountId: acc, token: 'tok_mastercard' });
    expect(card).toMatchObject({ last4: '4444', token_hint: 'tok_…card' });
    expect((await w.engine.getBalances(acc)).card).toMatchObject({ last4: '4444' });
    expect(await w.db('cards').where({ account_id: acc, status: 'bound' })).toHaveLength(1);
  });
});

describe('bad input is refused and nothing is written', () => {
  it.each([['-1.00'], ['abc'], ['1.001'], [''], ['NaN'], ['1e3'], [' 5.00'], [10 as unknown as string], [null as unknown as string]])('charge list_amount %p → VALIDATION.AMOUNT', async (amount) => {
    const acc = await anAccount(w).withCash('100.00').create();
    const before = await counts(acc);
    await expectCode(w.engine.charge({ accountId: acc, listAmount: amount, purpose: purpose(), idempotencyKey: key() }), 'VALIDATION.AMOUNT');
    expect(await counts(acc)).toEqual(before);
  });

  it('unknown account, wrong currency, bad token, percent, dates, empty key', async () => {
    const acc = await anAccount(w).withCash('100.00').create();
    const before = await counts(acc);
    await expectCode(w.engine.charge({ accountId: 'acc_missing', listAmount: '1.00', purpose: purpose(), idempotencyKey: key() }), 'ACCOUNT.NOT_FOUND');
    await expectCode(w.engine.topUp({ accountId: 'acc_missing', amount: '1.00', idempotencyKey: key() }), 'ACCOUNT.NOT_FOUND');
    await expectCode(w.engine.getBalances('acc_missing'), 'ACCOUNT.NOT_FOUND');
    await expectCode(w.engine.charge({ accountId: acc, listAmount: '1.00', currency: 'EUR', purpose: purpose(), idempotencyKey: key() }), 'VALIDATION.CURRENCY');
    await expectCode(w.engine.topUp({ accountId: acc, amount: '0', idempotencyKey: key() }), 'VALIDATION.AMOUNT');
    await expectCode(w.engine.topUp({ accountId: acc, amount: '-5.00', idempotencyKey: key() }), 'VALIDATION.AMOUNT');
    await expectCode(w.engine.topUp({ accountId: acc, amount: '5.00', currency: 'EUR', idempotencyKey: key() }), 'VALIDATION.CURRENCY');
    await expectCode(w.engine.charge({ accountId: acc, listAmount: '1.00', purpose: purpose(), idempotencyKey: '' }), 'VALIDATION.FIELD');
    await expectCode(w.engine.charge({ accountId: acc, listAmount: '1.00', purpose: { kind: 'x' } as any, idempotencyKey: key() }), 'VALIDATION.FIELD');
    await expectCode(w.engine.bindCard({ accountId: acc, token: '4242424242424242' }), 'VALIDATION.TOKEN');
    await expectCode(w.engine.bindCard({ accountId: acc, token: 'tok_unknown' }), 'VALIDATION.TOKEN');
    const window = { effectiveAt: '2024-01-01T00:00:00Z', expiresAt: '2030-01-01T00:00:00Z' };
    for (const p of ['0', '100.01', '-5', '10.001', 'ten']) {
      await expectCode(w.engine.issueDiscount({ accountId: acc, kind: 'commercial', percentOff: p, ...window }), 'VALIDATION.PERCENT');
    }
    await expectCode(w.engine.issueDiscount({ accountId: acc, kind: 'loyalty' as any, percentOff: '5', ...window }), 'VALIDATION.FIELD');
    await expectCode(w.engine.issueDiscount({ accountId: acc, kind: 'partner', percentOff: '5', effectiveAt: '2030-01-01T00:00:00Z', expiresAt: '2024-01-01T00:00:00Z' }), 'VALIDATION.DATE');
    await expectCode(w.engine.issueCoupon({ accountId: acc, amount: '10.00', expiresAt: 'soon' }), 'VALIDATION.DATE');
    await expectCode(w.engine.issueCoupon({ accountId: acc, amount: '10.00', expiresAt: '2020-01-01T00:00:00Z' }), 'VALIDATION.DATE');
    await expectCode(w.engine.charge({ accountId: acc, listAmount: '1.00', purpose: purpose(), idempotencyKey: key(), promotionId: 'dsc_nope' }), 'VALIDATION.FIELD');
    expect(await counts(acc)).toEqual(before);
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '100.00', card: null });
  });
});

describe('R-M3 ledger guarantees in the database', () => {
  it('rejects an unbalanced transaction at commit', async () => {
    const acc = await anAccount(w).create();
    const attempt = w.db.transaction(async (trx) => {
      await trx('ledger_transactions').insert({ id: 'txn_bad', account_id: acc, idempotency_key: 'bad', kind: 'test', created_at: new Date() });
      await trx('ledger_entries').insert([
        { transaction_id: 'txn_bad', account_id: acc, ledger_account: 'cash', amount: '10.00' },
        { transaction_id: 'txn_bad', account_id: acc, ledger_account: 'topup_clearing', amount: '-9.99' },
      ]);
    });
    await expect(attempt).rejects.toThrow(/does not balance/);
    expect(await w.db('ledger_transactions').where({ id: 'txn_bad' })).toHaveLength(0);
  });

  it('ledger entries are append-only', async () => {
    const acc = await anAccount(w).withCash('10.00').create();
    await expect(w.db('ledger_entries').where({ account_id: acc }).update({ amount: '99.00' })).rejects.toThrow(/append-only/);
    await expect(w.db('ledger_entries').where({ account_id: acc }).del()).rejects.toThrow(/append-only/);
  });

  it('verifyBalances catches a cached balance that drifted from the ledger', async () => {
    const acc = await anAccount(w).withCash('10.00').create();
    expect(await w.engine.verifyBalances(acc)).toEqual({ ok: true, mismatches: [] });
    await w.db('account_balances').where({ account_id: acc }).update({ cash: '11.00' });
    expect(await w.engine.verifyBalances(acc)).toEqual({ ok: false, mismatches: [{ what: 'cash', cached: '11.00', ledger: '10.00' }] });
  });

  it('lists the ledger newest first with a cursor', async () => {
    const acc = await anAccount(w).create();
    for (let i = 1; i <= 5; i += 1) await w.engine.topUp({ accountId: acc, amount: `${i}.00`, idempotencyKey: key() });
    const p1 = await w.engine.listLedger(acc, { limit: 3 });
    expect(p1.data.map((t) => t.entries.find((e) => e.account === 'cash')!.amount)).toEqual(['5.00', '4.00', '3.00']);
    const p2 = await w.engine.listLedger(acc, { limit: 3, cursor: p1.next_cursor });
    expect(p2.data.map((t) => t.entries.find((e) => e.account === 'cash')!.amount)).toEqual(['2.00', '1.00']);
    expect(p2.next_cursor).toBeNull();
  });
});
