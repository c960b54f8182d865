import Decimal from 'decimal.js';
import { anAccount, key, PaymentsWorld, paymentsWorld, purpose, unbalancedTransactions } from './support';

// R-P4 under contention and R-P5 across a crash, on real PostgreSQL.

let w: PaymentsWorld;
beforeAll(async () => {
  // Card calls take a few ms, so charges overlap while their locks are held.
  w = await paymentsWorld({ latencyMs: { min: 1, max: 8 } });
});
afterAll(async () => {
  await w.drop();
});
afterEach(async () => {
  expect(await unbalancedTransactions(w.db)).toEqual([]);
});

const sum = (xs: string[]) => xs.reduce((s, x) => s.plus(x), new Decimal(0)).toFixed(2);

describe('R-P4 locking under concurrency', () => {
  it('50 concurrent charges on one account never spend more than it has; no lock is left held', async () => {
    const acc = await anAccount(w).withCash('1000.00').withCredit('100.00').withCoupon('45.00').create();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => w.engine.charge({ accountId: acc, listAmount: '30.00', purpose: purpose(`res_${i}`), idempotencyKey: key('hot') })),
    );
    const paid = results.filter((r) => r.status === 'paid');
    const failed = results.filter((r) => r.status === 'failed');
    // 1145.00 available: 38 × 30.00 = 1140.00 fit, the rest are refused whole.
    expect(paid).toHaveLength(38);
    expect(failed.every((r) => r.status === 'failed' && r.code === 'PAYMENT.INSUFFICIENT_FUNDS')).toBe(true);
    expect(sum(paid.map((r) => r.order.cash))).toBe('1000.00');
    expect(sum(paid.map((r) => r.order.credit))).toBe('95.00');
    expect(sum(paid.map((r) => r.order.coupon))).toBe('45.00');
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '0.00', credit_used: '95.00', locked: '0.00' });
    expect(await w.db('payment_locks').where({ account_id: acc, status: 'held' })).toHaveLength(0);
    expect(await w.engine.verifyBalances(acc)).toEqual({ ok: true, mismatches: [] });
  });

  it('50 concurrent charges needing the card: the balance is shared exactly once, the card pays the rest', async () => {
    const acc = await anAccount(w).withCash('500.00').withCard('tok_visa').create();
    const before = w.gateway.succeeded.length;
    const results = await Promise.all(
      Array.from({ length: 50 }, () => w.engine.charge({ accountId: acc, listAmount: '20.00', purpose: purpose(), idempotencyKey: key('card') })),
    );
    expect(results.every((r) => r.status === 'paid')).toBe(true);
    expect(sum(results.map((r) => r.order.cash))).toBe('500.00');
    expect(sum(results.map((r) => r.order.card))).toBe('500.00');
    expect(w.gateway.succeeded.length - before).toBe(results.filter((r) => r.order.card !== '0.00').length);
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '0.00', locked: '0.00' });
    expect(await w.db('payment_locks').where({ account_id: acc, status: 'held' })).toHaveLength(0);
    expect(await w.engine.verifyBalances(acc)).toMatchObject({ ok: true });
  });

  it('the same key fired 10 times at once makes one order, one card charge, one ledger transaction', async () => {
    const acc = await anAccount(w).withCash('10.00').withCard().create();
    const k = key('dup');
    const results = await Promise.all(
      Array.from({ length: 10 }, () => w.engine.charge({ accountId: acc, listAmount: '25.00', purpose: purpose(), idempotencyKey: k })),
    );
    expect(new Set(results.map((r) => r.order.id)).size).toBe(1);
    expect(results.every((r) => r.status === 'paid')).toBe(true);
    expect(w.gateway.charges.filter((c) => c.idempotencyKey === `charge:${k}`)).toHaveLength(1);
    expect(await w.db('ledger_transactions').where({ idempotency_key: `charge:${k}` })).toHaveLength(1);
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '0.00', locked: '0.00' });
  });
});

describe('R-P5 crash between the card charge and the ledger write', () => {
  it('a retry with the same key resumes from the gateway record: one card charge, one ledger transaction', async () => {
    const acc = await anAccount(w).withCash('100.00').withCoupon('20.00').withCard('tok_visa').create();
    const k = key('crash');
    const input = { accountId: acc, listAmount: '300.00', purpose: purpose(), idempotencyKey: k };
    const dying = w.engineWith({
      hooks: {
        afterGatewayCharge: () => {
          throw new Error('process killed after the gateway charged');
        },
      },
    });
    await expect(dying.charge(input)).rejects.toThrow(/process killed/);
    // The card is charged, the order is pending with its locks held, nothing is in the ledger yet.
    expect(w.gateway.charges.filter((c) => c.idempotencyKey === `charge:${k}`)).toHaveLength(1);
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '100.00', locked: '100.00' });
    expect(await w.db('ledger_transactions').where({ idempotency_key: `charge:${k}` })).toHaveLength(0);

    const callsBefore = w.gateway.calls;
    const r = await w.engine.charge(input); // the activity retry, in a fresh process
    expect(r.order).toMatchObject({ status: 'paid', coupon: '20.00', cash: '100.00', card: '180.00' });
    expect(w.gateway.calls).toBe(callsBefore); // answered by getCharge(key), not a second charge
    expect(w.gateway.charges.filter((c) => c.idempotencyKey === `charge:${k}`)).toHaveLength(1);
    expect(r.order.card_charge_id).toBe(w.gateway.charges.find((c) => c.idempotencyKey === `charge:${k}`)!.chargeId);
    expect(await w.db('ledger_transactions').where({ idempotency_key: `charge:${k}` })).toHaveLength(1);
    expect(await w.engine.getBalances(acc)).toMatchObject({ cash: '0.00', locked: '0.00' });
    expect(await w.engine.charge(input)).toEqual(r);
  });

  it('when nobody retries, the stale-payment sweep captures a charge the gateway made', async () => {
    const acc = await anAccount(w).withCash('5.00').withCard('tok_visa').create();
    const dying = w.engineWith({
      lockTtlMs: 60_000,
      hooks: {
        afterGatewayCharge: () => {
          throw new Error('killed');
        },
      },
    });
    const k = key('sweep');
    await expect(dying.charge({ accountId: acc, listAmount: '50.00', purpose: purpose(), idempotencyKey: k })).rejects.toThrow('killed');
    const sweeper = w.engineWith({ lockTtlMs: 60_000 });
    w.clock.advance(61_000);
    const outcome = await sweeper.recoverStalePayments();
    expect(outcome.captured).toBeGreaterThanOrEqual(1);
    const [order] = (await sweeper.listOrders(acc)).data;
    expect(order).toMatchObject({ status: 'paid', cash: '5.00', card: '45.00' });
    expect(await sweeper.getBalances(acc)).toMatchObject({ cash: '0.00', locked: '0.00' });
  });

  it('a gateway that lost its answer after charging is asked again, not charged again', async () => {
    const flaky = await paymentsWorld({ lostResponseRate: 1 });
    try {
      const acc = await anAccount(flaky).withCard().create();
      const input = { accountId: acc, listAmount: '12.34', purpose: purpose(), idempotencyKey: key('lost') };
      await expect(flaky.engine.charge(input)).rejects.toThrow(/response was lost/);
      const r = await flaky.engine.charge(input);
      expect(r.order).toMatchObject({ status: 'paid', card: '12.34' });
      expect(flaky.gateway.charges).toHaveLength(1);
    } finally {
      await flaky.drop();
    }
  });
});

describe('bench helpers', () => {
  it('run charges on one hot account and on many accounts (no timing asserted)', async () => {
    const { benchCharge, seedBenchAccounts } = await import('../../bench/charge-helpers');
    const hot = await seedBenchAccounts(w.db, w.engine, { count: 1, cash: '100.00' });
    const many = await seedBenchAccounts(w.db, w.engine, { count: 5, cash: '100.00' });
    const a = await benchCharge(w.engine, hot, { charges: 20, concurrency: 5 });
    const b = await benchCharge(w.engine, many, { charges: 20, concurrency: 5 });
    expect([a.paid, a.failed, b.paid, b.failed]).toEqual([20, 0, 20, 0]);
    expect((await w.engine.getBalances(hot[0])).cash).toBe('80.00');
  });
});
