import Decimal from 'decimal.js';
import fc from 'fast-check';
import request from 'supertest';
import { createApiWorld, ApiWorld } from '../support/api';

// SPEC §4 through HTTP (API.md): credit line, card, coupons, discounts, ledger, orders,
// notifications and refunds, against the real worker, time-skipping Temporal and Postgres.

const DAY = 86_400_000;
const LOCAL_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?\+08:00$/; // R-T1
const ORDER_KEYS = ['id', 'account_id', 'subscription_id', 'kind', 'list_amount', 'discount', 'due', 'coupon', 'cash', 'credit', 'card', 'status', 'created_at'];
// A refused request may leave its 4xx answer in idempotent_requests (for replay); money tables stay as they were.
const MONEY_TABLES = ['ledger_transactions', 'ledger_entries', 'coupons', 'discounts', 'credit_lines', 'cards', 'orders', 'payment_locks', 'refunds'];

type Entry = { account: string; amount: string };
type Txn = { id: string; kind: string; order_id: string | null; entries: Entry[] };

const sum = (xs: string[]) => xs.reduce((s, x) => s.plus(x), new Decimal(0)).toFixed(2);
const premium50 = (accountId: string) => ({
  account_id: accountId, product: 'host-security', edition: 'premium', region: 'cn-hangzhou', quantity: 50, term: { unit: 'month', count: 1 },
});

describe('API: payments (SPEC §4, issue #5)', () => {
  let w: ApiWorld;
  let now: number;
  const iso = (ms: number) => new Date(ms).toISOString();

  beforeAll(async () => {
    w = await createApiWorld();
    // Charges run at the workflow's clock, grants are checked against the wall clock: be valid for both.
    const serverNow = await w.env.currentTimeMs();
    now = Math.min(serverNow, Date.now());
  });
  afterAll(async () => { await w?.close(); });

  /** Every page of a list route, following next_cursor. */
  async function all<T>(path: string, key?: string, limit = 200): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | null = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const res = await (key ? w.as(key) : w.op()).get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      out.push(...res.body.data);
      cursor = res.body.next_cursor;
    } while (cursor);
    return out;
  }

  /** What a customer can see of its money, plus row counts of every money table (nothing written?). */
  async function snapshot(accountId: string) {
    const account = (await w.op().get(`/v1/accounts/${accountId}`)).body;
    const [ledger, coupons, discounts, orders] = await Promise.all(
      ['ledger', 'coupons', 'discounts', 'orders'].map((r) => all<Record<string, any>>(`/v1/accounts/${accountId}/${r}`)),
    );
    const counts: Record<string, number> = {};
    for (const t of MONEY_TABLES) counts[t] = Number((await w.db(t).count({ n: '*' }))[0].n);
    return { account, ledger, coupons, discounts, orders, counts };
  }

  const grantDiscount = (accountId: string, body: Record<string, unknown>, key: string) =>
    w.op().post(`/v1/accounts/${accountId}/discounts`, { effective_at: iso(now - DAY), expires_at: iso(now + 365 * DAY), ...body }, key);
  const issueCoupon = (accountId: string, amount: string, key: string) =>
    w.op().post(`/v1/accounts/${accountId}/coupons`, { amount, expires_at: iso(now + 90 * DAY) }, key);

  describe('R-P1 collection order, end to end', () => {
    let c: { id: string; key: string };
    let order: Record<string, any>;

    it('R-P1 example: list 2000.00, 10% commercial, coupon 100.00, cash+credit 1000.00, card → due 1800.00 = 100.00 + 1000.00 + 700.00', async () => {
      c = await w.newCustomer({ cash: '600.00' });
      const credit = await w.op().put(`/v1/accounts/${c.id}/credit-line`, { limit: '400.00' });
      expect(credit.status).toBe(200);
      expect(credit.body).toEqual({ account_id: c.id, limit: '400.00', used: '0.00', locked: '0.00', available: '400.00' });

      const discount = await grantDiscount(c.id, { kind: 'commercial', percent_off: '10' }, 'rp1-discount');
      expect(discount.status).toBe(201);
      expect(discount.body).toMatchObject({ account_id: c.id, kind: 'commercial', percent_off: '10.00', scope: null, status: 'active' });
      expect(discount.body.expires_at).toMatch(LOCAL_INSTANT);
      const coupon = await issueCoupon(c.id, '100.00', 'rp1-coupon');
      expect(coupon.status).toBe(201);
      expect(coupon.body).toMatchObject({ amount: '100.00', balance: '100.00', available: '100.00', status: 'active' });

      const card = await w.as(c.key).put(`/v1/accounts/${c.id}/card`, { token: 'tok_visa' });
      expect(card.status).toBe(200);
      expect(card.body).toMatchObject({ last4: '4242', brand: 'visa' });
      expect(card.body).not.toHaveProperty('token'); // a hint, never the token itself
      const before = (await w.as(c.key).get(`/v1/accounts/${c.id}`)).body;
      expect(before).toMatchObject({ cash: '600.00', credit_limit: '400.00', credit_used: '0.00', locked: '0.00', card: { last4: '4242' } });

      // host-security/premium 40.00 × 50 × 1 month = 2000.00 (SPEC §3)
      const buy = await w.as(c.key).post('/v1/subscriptions', premium50(c.id), 'rp1-buy');
      expect(buy.status).toBe(201);

      const orders = await w.as(c.key).get(`/v1/accounts/${c.id}/orders?subscription_id=${buy.body.id}`);
      expect(orders.status).toBe(200);
      expect(orders.body.data).toHaveLength(1);
      order = orders.body.data[0];
      expect(Object.keys(order)).toEqual(expect.arrayContaining(ORDER_KEYS));
      expect(order).toMatchObject({
        account_id: c.id,
        subscription_id: buy.body.id,
        kind: 'subscription_purchase',
        list_amount: '2000.00',
        discount: { id: discount.body.id, kind: 'commercial', percent_off: '10.00', amount: '200.00' },
        due: '1800.00',
        coupon: '100.00',
        cash: '600.00',
        credit: '400.00',
        card: '700.00',
        status: 'paid',
      });
      expect(sum([order.coupon, order.cash, order.credit, order.card])).toBe(order.due);
      expect(sum([order.cash, order.credit, order.card])).toBe('1700.00'); // the customer's own money
      expect(order.created_at).toMatch(LOCAL_INSTANT);
      expect((await w.as(c.key).get(`/v1/orders/${order.id}`)).body).toEqual(order);

      const after = (await w.as(c.key).get(`/v1/accounts/${c.id}`)).body;
      expect(after).toMatchObject({ cash: '0.00', credit_limit: '400.00', credit_used: '400.00', locked: '0.00' });
      const coupons = (await w.as(c.key).get(`/v1/accounts/${c.id}/coupons`)).body.data;
      expect(coupons).toEqual([expect.objectContaining({ id: coupon.body.id, balance: '0.00', locked: '0.00', available: '0.00', status: 'used_up' })]);
      // Exactly one card charge, for the remainder.
      const cardCharges = w.gateway.charges.filter((x) => x.idempotencyKey === `charge:${order.idempotency_key}`);
      expect(cardCharges.map((x) => [x.status, x.amount])).toEqual([['succeeded', '700.00']]);
    });

    it('R-M3: the ledger is balanced per transaction and the balances are its sums', async () => {
      const ledger = await all<Txn>(`/v1/accounts/${c.id}/ledger`, c.key);
      for (const t of ledger) expect(sum(t.entries.map((e) => e.amount))).toBe('0.00');
      const charge = ledger.find((t) => t.order_id === order.id)!;
      expect(charge.kind).toBe('charge');
      expect(Object.fromEntries(charge.entries.map((e) => [e.account, e.amount]))).toEqual({
        revenue: '1800.00',
        [`coupon:${order.coupon_id}`]: '-100.00',
        cash: '-600.00',
        credit: '-400.00',
        card_clearing: '-700.00',
      });
      const entries = ledger.flatMap((t) => t.entries);
      const of = (account: string) => sum(entries.filter((e) => e.account === account).map((e) => e.amount));
      const account = (await w.as(c.key).get(`/v1/accounts/${c.id}`)).body;
      expect(of('cash')).toBe(account.cash);
      expect(new Decimal(of('credit')).negated().toFixed(2)).toBe(account.credit_used);
      expect(await w.payments.verifyBalances(c.id)).toEqual({ ok: true, mismatches: [] });
    });

    it('pages the ledger with limit/cursor: every transaction once, newest first', async () => {
      const whole = await all<Txn>(`/v1/accounts/${c.id}/ledger`, c.key);
      const paged = await all<Txn>(`/v1/accounts/${c.id}/ledger`, c.key, 1);
      expect(whole.length).toBeGreaterThanOrEqual(3); // top-up, coupon issue, charge
      expect(paged.map((t) => t.id)).toEqual(whole.map((t) => t.id));
      expect(whole[0].kind).toBe('charge');
    });

    it('R-S10: notifications are listed one row per notification and channel, filterable by channel', async () => {
      const rows = await all<Record<string, any>>(`/v1/accounts/${c.id}/notifications`, c.key);
      const purchased = rows.filter((n) => n.template === 'subscription.purchased');
      expect(purchased.map((n) => n.channel).sort()).toEqual(['email', 'in_app', 'sms']);
      expect(purchased[0]).toMatchObject({ account_id: c.id, subscription_id: order.subscription_id, status: expect.stringMatching(/^(pending|sent|failed|skipped)$/) });
      expect(purchased[0].payload).toEqual(expect.objectContaining({ subscription_id: order.subscription_id }));
      expect(purchased[0].created_at).toMatch(LOCAL_INSTANT);
      const email = (await w.as(c.key).get(`/v1/accounts/${c.id}/notifications?channel=email`)).body.data;
      expect(email.length).toBeGreaterThan(0);
      expect(email.every((n: { channel: string }) => n.channel === 'email')).toBe(true);
      const paged = await all<{ id: string }>(`/v1/accounts/${c.id}/notifications`, c.key, 1);
      expect(paged.map((n) => n.id)).toEqual(rows.map((n) => n.id));
    });

    it('the credit line cannot go below the credit used (409), and 0 withdraws an unused line', async () => {
      const res = await w.op().put(`/v1/accounts/${c.id}/credit-line`, { limit: '300.00' });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('CREDIT.LIMIT_BELOW_USED');
      expect((await w.op().get(`/v1/accounts/${c.id}`)).body.credit_limit).toBe('400.00');
      const other = await w.newCustomer();
      await w.op().put(`/v1/accounts/${other.id}/credit-line`, { limit: '50.00' }).expect(200);
      const withdrawn = await w.op().put(`/v1/accounts/${other.id}/credit-line`, { limit: '0' });
      expect(withdrawn.body).toMatchObject({ limit: '0.00', available: '0.00' });
    });

    it('refunds part of a paid order to cash, idempotently, never more than the own money paid', async () => {
      const first = await w.op().post(`/v1/orders/${order.id}/refunds`, { amount: '50.00', reason: 'goodwill' }, 'refund-1');
      expect(first.status).toBe(201);
      expect(first.body.refund).toMatchObject({ order_id: order.id, amount: '50.00', reason: 'goodwill' });
      expect(first.body.order).toMatchObject({ refunded: '50.00', status: 'partially_refunded' });
      const again = await w.op().post(`/v1/orders/${order.id}/refunds`, { amount: '50.00', reason: 'goodwill' }, 'refund-1');
      expect(again.status).toBe(201);
      expect(again.body.refund.id).toBe(first.body.refund.id);
      expect((await w.op().get(`/v1/accounts/${c.id}`)).body.cash).toBe('50.00');

      const before = await snapshot(c.id);
      // 1700.00 own money − 50.00 already refunded = 1650.00 left; the coupon's 100.00 never comes back.
      const tooMuch = await w.op().post(`/v1/orders/${order.id}/refunds`, { amount: '1650.01' }, 'refund-2');
      expect(tooMuch.status).toBe(422);
      expect(tooMuch.body.error).toMatchObject({ code: 'PAYMENT.REFUND_EXCEEDS_PAID', details: { refundable: '1650.00' } });
      expect(await snapshot(c.id)).toEqual(before);

      const ledger = await all<Txn>(`/v1/accounts/${c.id}/ledger`, c.key);
      const refund = ledger.find((t) => t.kind === 'refund')!;
      expect(Object.fromEntries(refund.entries.map((e) => [e.account, e.amount]))).toEqual({ refunds: '-50.00', cash: '50.00' });
      expect(await w.payments.verifyBalances(c.id)).toEqual({ ok: true, mismatches: [] });
    });
  });

  describe('R-P4 all-or-nothing', () => {
    it('a declined card → 402 PAYMENT.CARD_DECLINED; nothing taken, locks back to 0.00', async () => {
      const c = await w.newCustomer({ cash: '100.00' });
      await issueCoupon(c.id, '50.00', 'decline-coupon').expect(201);
      await w.as(c.key).put(`/v1/accounts/${c.id}/card`, { token: 'tok_chargeDeclined' }).expect(200);
      const before = await snapshot(c.id);

      const buy = await w.as(c.key).post('/v1/subscriptions', premium50(c.id), 'decline-buy');
      expect(buy.status).toBe(402);
      expect(buy.body.error.code).toBe('PAYMENT.CARD_DECLINED');

      const after = await snapshot(c.id);
      expect(after.account).toEqual(before.account);
      expect(after.account).toMatchObject({ cash: '100.00', locked: '0.00' });
      expect(after.ledger).toEqual(before.ledger);
      expect(after.coupons).toEqual([expect.objectContaining({ balance: '50.00', locked: '0.00', available: '50.00' })]);
      // The attempt is on record as a failed order with no parts taken.
      expect(after.orders).toEqual([expect.objectContaining({ status: 'failed', list_amount: '2000.00', coupon: '0.00', cash: '0.00', credit: '0.00', card: '0.00', failure: expect.objectContaining({ code: 'PAYMENT.CARD_DECLINED' }) })]);
      const declined = w.gateway.charges.filter((x) => x.idempotencyKey === `charge:${after.orders[0].idempotency_key}`);
      expect(declined.map((x) => x.status)).toEqual(['declined']);
      expect((await w.as(c.key).get('/v1/subscriptions')).body.data).toEqual([]);
      expect(await w.payments.verifyBalances(c.id)).toEqual({ ok: true, mismatches: [] });
    });

    it('no card (unbound) and not enough balance → 402 PAYMENT.INSUFFICIENT_FUNDS; nothing taken', async () => {
      const c = await w.newCustomer({ cash: '100.00' });
      await w.as(c.key).put(`/v1/accounts/${c.id}/card`, { token: 'tok_visa' }).expect(200);
      await w.as(c.key).delete(`/v1/accounts/${c.id}/card`).expect(204);
      await w.as(c.key).delete(`/v1/accounts/${c.id}/card`).expect(204); // unbinding twice is fine
      const before = await snapshot(c.id);
      expect(before.account.card).toBeNull();

      const buy = await w.as(c.key).post('/v1/subscriptions', premium50(c.id), 'poor-buy');
      expect(buy.status).toBe(402);
      expect(buy.body.error.code).toBe('PAYMENT.INSUFFICIENT_FUNDS');
      const after = await snapshot(c.id);
      expect(after.account).toEqual(before.account);
      expect(after.ledger).toEqual(before.ledger);
      expect(after.orders).toEqual([expect.objectContaining({ status: 'failed', failure: expect.objectContaining({ code: 'PAYMENT.INSUFFICIENT_FUNDS' }) })]);
    });

    it('R-P6: a transiently failing card (tok_transient) is retried with its key and charged exactly once', async () => {
      const c = await w.newCustomer({ cash: '1000.00' });
      await w.as(c.key).put(`/v1/accounts/${c.id}/card`, { token: 'tok_transient' }).expect(200);
      const buy = await w.as(c.key).post('/v1/subscriptions', premium50(c.id), 'transient-buy');
      expect(buy.status).toBe(201);
      const [order] = (await w.as(c.key).get(`/v1/accounts/${c.id}/orders`)).body.data;
      expect(order).toMatchObject({ status: 'paid', cash: '1000.00', card: '1000.00' });
      expect(w.gateway.charges.filter((x) => x.idempotencyKey === `charge:${order.idempotency_key}`)).toHaveLength(1);
      expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body).toMatchObject({ cash: '0.00', locked: '0.00' });
    });
  });

  describe('coupons and discounts are idempotent on Idempotency-Key', () => {
    it('same key and body → the same coupon; same key, other body → 422 IDEMPOTENCY.MISMATCH', async () => {
      const c = await w.newCustomer();
      const body = { amount: '25.00', expires_at: iso(now + 30 * DAY), scope: 'host-security' };
      const a = await w.op().post(`/v1/accounts/${c.id}/coupons`, body, 'coupon-once');
      const b = await w.op().post(`/v1/accounts/${c.id}/coupons`, body, 'coupon-once');
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.body).toEqual(a.body);
      expect(a.body.scope).toBe('host-security');
      const other = await w.op().post(`/v1/accounts/${c.id}/coupons`, { ...body, amount: '26.00' }, 'coupon-once');
      expect(other.status).toBe(422);
      expect(other.body.error.code).toBe('IDEMPOTENCY.MISMATCH');
      expect((await w.op().get(`/v1/accounts/${c.id}/coupons`)).body.data).toHaveLength(1);

      const d = { kind: 'partner', percent_off: '12.5', effective_at: iso(now - DAY), expires_at: iso(now + DAY) };
      const d1 = await w.op().post(`/v1/accounts/${c.id}/discounts`, d, 'discount-once');
      const d2 = await w.op().post(`/v1/accounts/${c.id}/discounts`, d, 'discount-once');
      expect(d1.status).toBe(201);
      expect(d1.body.percent_off).toBe('12.50');
      expect(d2.body.id).toBe(d1.body.id);
      expect((await w.op().post(`/v1/accounts/${c.id}/discounts`, { ...d, percent_off: '13' }, 'discount-once')).status).toBe(422);
      expect((await w.op().get(`/v1/accounts/${c.id}/discounts`)).body.data).toHaveLength(1);
    });
  });

  describe('bad input → 4xx with a stable code and nothing written', () => {
    let c: { id: string; key: string };
    beforeAll(async () => {
      c = await w.newCustomer({ cash: '10.00' });
    });

    const future = () => iso(now + 30 * DAY);
    type Case = [name: string, status: number, code: string, send: () => request.Test];
    const cases: Case[] = [
      ['top-up negative', 400, 'VALIDATION.BODY', () => w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: '-5.00' }, 'bad-1')],
      ['top-up "NaN"', 400, 'VALIDATION.BODY', () => w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: 'NaN' }, 'bad-2')],
      ['top-up "1.234"', 400, 'VALIDATION.BODY', () => w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: '1.234' }, 'bad-3')],
      ['top-up a JSON number', 400, 'VALIDATION.BODY', () => w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: 12.5 }, 'bad-4')],
      ['top-up zero', 400, 'VALIDATION.BODY', () => w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: '0.00' }, 'bad-5')],
      ['top-up "Infinity"', 400, 'VALIDATION.BODY', () => w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: 'Infinity' }, 'bad-6')],
      ['top-up "1e3"', 400, 'VALIDATION.BODY', () => w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: '1e3' }, 'bad-7')],
      ['top-up unknown field', 400, 'VALIDATION.BODY', () => w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: '1.00', note: 'x' }, 'bad-8')],
      ['top-up wrong currency', 400, 'VALIDATION.CURRENCY', () => w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: '1.00', currency: 'EUR' }, 'bad-9')],
      ['top-up unknown account', 404, 'NOT_FOUND', () => w.op().post('/v1/accounts/acc_doesnotexist/top-ups', { amount: '1.00' }, 'bad-10')],
      ['top-up malformed JSON', 400, 'VALIDATION.JSON', () => request(w.app).post(`/v1/accounts/${c.id}/top-ups`).set('Authorization', `Bearer ${c.key}`).set('Content-Type', 'application/json').send('{"amount":')],
      ['credit line negative', 400, 'VALIDATION.BODY', () => w.op().put(`/v1/accounts/${c.id}/credit-line`, { limit: '-1.00' })],
      ['credit line "1.234"', 400, 'VALIDATION.BODY', () => w.op().put(`/v1/accounts/${c.id}/credit-line`, { limit: '1.234' })],
      ['credit line unknown field', 400, 'VALIDATION.BODY', () => w.op().put(`/v1/accounts/${c.id}/credit-line`, { limit: '10.00', reason: 'x' })],
      ['credit line wrong currency', 400, 'VALIDATION.CURRENCY', () => w.op().put(`/v1/accounts/${c.id}/credit-line`, { limit: '10.00', currency: 'EUR' })],
      ['credit line unknown account', 404, 'NOT_FOUND', () => w.op().put('/v1/accounts/acc_doesnotexist/credit-line', { limit: '10.00' })],
      ['coupon negative', 400, 'VALIDATION.BODY', () => w.op().post(`/v1/accounts/${c.id}/coupons`, { amount: '-1.00', expires_at: future() }, 'bad-11')],
      ['coupon "NaN"', 400, 'VALIDATION.BODY', () => w.op().post(`/v1/accounts/${c.id}/coupons`, { amount: 'NaN', expires_at: future() }, 'bad-12')],
      ['coupon "1.234"', 400, 'VALIDATION.BODY', () => w.op().post(`/v1/accounts/${c.id}/coupons`, { amount: '1.234', expires_at: future() }, 'bad-13')],
      ['coupon instant without offset', 400, 'VALIDATION.BODY', () => w.op().post(`/v1/accounts/${c.id}/coupons`, { amount: '1.00', expires_at: '2099-01-01T00:00:00' }, 'bad-14')],
      ['coupon already expired', 400, 'VALIDATION.DATE', () => w.op().post(`/v1/accounts/${c.id}/coupons`, { amount: '1.00', expires_at: iso(now - DAY) }, 'bad-15')],
      ['coupon unknown scope', 400, 'VALIDATION.SCOPE', () => w.op().post(`/v1/accounts/${c.id}/coupons`, { amount: '1.00', expires_at: future(), scope: 'host-security/platinum' }, 'bad-16')],
      ['coupon unknown field', 400, 'VALIDATION.BODY', () => w.op().post(`/v1/accounts/${c.id}/coupons`, { amount: '1.00', expires_at: future(), balance: '5.00' }, 'bad-17')],
      ['coupon wrong currency', 400, 'VALIDATION.CURRENCY', () => w.op().post(`/v1/accounts/${c.id}/coupons`, { amount: '1.00', expires_at: future(), currency: 'JPY' }, 'bad-18')],
      ['coupon unknown account', 404, 'NOT_FOUND', () => w.op().post('/v1/accounts/acc_doesnotexist/coupons', { amount: '1.00', expires_at: future() }, 'bad-19')],
      ['discount 0 %', 400, 'VALIDATION.BODY', () => grantDiscount(c.id, { kind: 'commercial', percent_off: '0' }, 'bad-20')],
      ['discount 100.01 %', 400, 'VALIDATION.BODY', () => grantDiscount(c.id, { kind: 'commercial', percent_off: '100.01' }, 'bad-21')],
      ['discount "10.123"', 400, 'VALIDATION.BODY', () => grantDiscount(c.id, { kind: 'commercial', percent_off: '10.123' }, 'bad-22')],
      ['discount negative', 400, 'VALIDATION.BODY', () => grantDiscount(c.id, { kind: 'commercial', percent_off: '-5' }, 'bad-23')],
      ['discount "NaN"', 400, 'VALIDATION.BODY', () => grantDiscount(c.id, { kind: 'commercial', percent_off: 'NaN' }, 'bad-24')],
      ['discount a JSON number', 400, 'VALIDATION.BODY', () => grantDiscount(c.id, { kind: 'commercial', percent_off: 10 }, 'bad-25')],
      ['discount unknown kind', 400, 'VALIDATION.BODY', () => grantDiscount(c.id, { kind: 'vip', percent_off: '10' }, 'bad-26')],
      ['discount ends before it starts', 400, 'VALIDATION.BODY', () => grantDiscount(c.id, { kind: 'partner', percent_off: '10', effective_at: iso(now), expires_at: iso(now - DAY) }, 'bad-27')],
      ['discount unknown field', 400, 'VALIDATION.BODY', () => grantDiscount(c.id, { kind: 'partner', percent_off: '10', stackable: true }, 'bad-28')],
      ['discount unknown account', 404, 'NOT_FOUND', () => grantDiscount('acc_doesnotexist', { kind: 'partner', percent_off: '10' }, 'bad-29')],
      ['card token malformed', 400, 'VALIDATION.BODY', () => w.as(c.key).put(`/v1/accounts/${c.id}/card`, { token: '4242424242424242' })],
      ['card token unknown to the gateway', 400, 'VALIDATION.TOKEN', () => w.as(c.key).put(`/v1/accounts/${c.id}/card`, { token: 'tok_nosuchcard' })],
      ['card unknown field', 400, 'VALIDATION.BODY', () => w.as(c.key).put(`/v1/accounts/${c.id}/card`, { token: 'tok_visa', cvc: '123' })],
      ['refund of an unknown order', 404, 'NOT_FOUND', () => w.op().post('/v1/orders/ord_doesnotexist/refunds', { amount: '1.00' }, 'bad-30')],
      ['refund "1.234"', 400, 'VALIDATION.BODY', () => w.op().post('/v1/orders/ord_doesnotexist/refunds', { amount: '1.234' }, 'bad-31')],
      ['ledger limit=0', 400, 'VALIDATION.QUERY', () => w.as(c.key).get(`/v1/accounts/${c.id}/ledger?limit=0`)],
      ['ledger limit=abc', 400, 'VALIDATION.QUERY', () => w.as(c.key).get(`/v1/accounts/${c.id}/ledger?limit=abc`)],
      ['ledger unknown query parameter', 400, 'VALIDATION.QUERY', () => w.as(c.key).get(`/v1/accounts/${c.id}/ledger?since=2020`)],
      ['ledger forged cursor', 400, 'VALIDATION.CURSOR', () => w.as(c.key).get(`/v1/accounts/${c.id}/ledger?cursor=bm90LWEtY3Vyc29y`)],
      ['orders unknown status', 400, 'VALIDATION.QUERY', () => w.as(c.key).get(`/v1/accounts/${c.id}/orders?status=lost`)],
      ['notifications unknown channel', 400, 'VALIDATION.QUERY', () => w.as(c.key).get(`/v1/accounts/${c.id}/notifications?channel=pigeon`)],
      ['ledger of an unknown account', 404, 'NOT_FOUND', () => w.op().get('/v1/accounts/acc_doesnotexist/ledger')],
      ['an unknown order', 404, 'NOT_FOUND', () => w.op().get('/v1/orders/ord_doesnotexist')],
    ];

    it.each(cases)('%s → %i %s', async (_name, status, code, send) => {
      const before = await snapshot(c.id);
      const res = await send();
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.message).toEqual(expect.any(String));
      expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+/); // never a stack trace
      expect(await snapshot(c.id)).toEqual(before);
    });

    it('property: any amount that is not a decimal string with ≤ 2 places is refused and writes nothing', async () => {
      const before = await snapshot(c.id);
      const notMoney = fc.oneof(
        fc.string(),
        fc.double().map(String),
        fc.tuple(fc.nat(), fc.integer({ min: 3, max: 8 })).map(([n, places]) => `${n}.${'1'.repeat(places)}`),
        fc.nat().map((n) => `-${n}.00`),
        fc.constantFrom('NaN', '-0', ' 1.00', '1.00 ', '1,00', '0x10', '.5', '5.', '+1.00', '1e2', '00.10'),
      ).filter((s) => !/^(0|[1-9]\d{0,11})(\.\d{1,2})?$/.test(s) || /^0(\.0{1,2})?$/.test(s));
      await fc.assert(
        fc.asyncProperty(notMoney, async (amount) => {
          const res = await w.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount }, `prop-${Buffer.from(amount).toString('hex').slice(0, 200)}`);
          expect(res.status).toBe(400);
          expect(res.body.error.code).toBe('VALIDATION.BODY');
        }),
        { numRuns: 60 },
      );
      expect(await snapshot(c.id)).toEqual(before);
    });
  });

  describe('who may do what (tenant isolation)', () => {
    let a: { id: string; key: string };
    let b: { id: string; key: string };
    let bOrder: string;
    beforeAll(async () => {
      [a, b] = await Promise.all([w.newCustomer({ cash: '50.00' }), w.newCustomer({ cash: '50.00' })]);
      const buy = await w.as(b.key).post('/v1/subscriptions', { account_id: b.id, product: 'host-security', edition: 'basic', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } }, 'b-buy');
      expect(buy.status).toBe(201);
      bOrder = (await w.as(b.key).get(`/v1/accounts/${b.id}/orders`)).body.data[0].id;
    });

    it('a customer key cannot issue coupons, discounts or credit (403 on its own account, 404 on another)', async () => {
      const before = await Promise.all([snapshot(a.id), snapshot(b.id)]);
      const tries = [
        [() => w.as(a.key).post(`/v1/accounts/${a.id}/coupons`, { amount: '100.00', expires_at: iso(now + DAY) }, 'self-coupon'), 403, 'AUTH.FORBIDDEN'],
        [() => w.as(a.key).post(`/v1/accounts/${a.id}/discounts`, { kind: 'commercial', percent_off: '90', effective_at: iso(now - DAY), expires_at: iso(now + DAY) }, 'self-discount'), 403, 'AUTH.FORBIDDEN'],
        [() => w.as(a.key).put(`/v1/accounts/${a.id}/credit-line`, { limit: '1000000.00' }), 403, 'AUTH.FORBIDDEN'],
        [() => w.as(a.key).post(`/v1/accounts/${b.id}/coupons`, { amount: '100.00', expires_at: iso(now + DAY) }, 'other-coupon'), 404, 'NOT_FOUND'],
        [() => w.as(a.key).put(`/v1/accounts/${b.id}/credit-line`, { limit: '10.00' }), 404, 'NOT_FOUND'],
        [() => w.as(a.key).post(`/v1/orders/${bOrder}/refunds`, { amount: '1.00' }, 'other-refund'), 403, 'AUTH.FORBIDDEN'],
        [() => w.as(a.key).put(`/v1/accounts/${b.id}/card`, { token: 'tok_visa' }), 404, 'NOT_FOUND'],
        [() => w.as(a.key).delete(`/v1/accounts/${b.id}/card`), 404, 'NOT_FOUND'],
        [() => w.as(a.key).post(`/v1/accounts/${b.id}/top-ups`, { amount: '1.00' }, 'other-topup'), 404, 'NOT_FOUND'],
        [() => request(w.app).put(`/v1/accounts/${a.id}/card`).send({ token: 'tok_visa' }), 401, 'AUTH.UNAUTHENTICATED'],
      ] as const;
      for (const [send, status, code] of tries) {
        const res = await send();
        expect([res.status, res.body.error?.code]).toEqual([status, code]);
      }
      expect(await Promise.all([snapshot(a.id), snapshot(b.id)])).toEqual(before);
    });

    it("another tenant's ledger, coupons, discounts, orders, notifications and order answer 404, like ids that do not exist", async () => {
      for (const r of ['ledger', 'coupons', 'discounts', 'orders', 'notifications']) {
        const theirs = await w.as(a.key).get(`/v1/accounts/${b.id}/${r}`);
        const nobody = await w.as(a.key).get(`/v1/accounts/acc_doesnotexist/${r}`);
        expect([r, theirs.status, theirs.body.error.code]).toEqual([r, 404, 'NOT_FOUND']);
        expect([r, nobody.status, nobody.body.error.code]).toEqual([r, 404, 'NOT_FOUND']);
      }
      const theirs = await w.as(a.key).get(`/v1/orders/${bOrder}`);
      const nobody = await w.as(a.key).get('/v1/orders/ord_doesnotexist');
      expect([theirs.status, theirs.body.error.code]).toEqual([404, 'NOT_FOUND']);
      expect([nobody.status, nobody.body.error.code]).toEqual([404, 'NOT_FOUND']);
      expect((await w.as(b.key).get(`/v1/orders/${bOrder}`)).status).toBe(200);
    });
  });

  it('the OpenAPI document describes every payment route with its response schema', async () => {
    const doc = (await request(w.app).get('/v1/openapi.json')).body;
    const expected: [string, string, string][] = [
      ['/v1/accounts/{id}/credit-line', 'put', '200'],
      ['/v1/accounts/{id}/card', 'put', '200'],
      ['/v1/accounts/{id}/card', 'delete', '204'],
      ['/v1/accounts/{id}/coupons', 'post', '201'],
      ['/v1/accounts/{id}/discounts', 'post', '201'],
      ['/v1/accounts/{id}/ledger', 'get', '200'],
      ['/v1/accounts/{id}/coupons', 'get', '200'],
      ['/v1/accounts/{id}/discounts', 'get', '200'],
      ['/v1/accounts/{id}/orders', 'get', '200'],
      ['/v1/accounts/{id}/notifications', 'get', '200'],
      ['/v1/orders/{id}', 'get', '200'],
      ['/v1/orders/{order_id}/refunds', 'post', '201'],
    ];
    for (const [path, method, status] of expected) {
      const resp = doc.paths[path]?.[method]?.responses?.[status];
      expect([path, method, Boolean(resp)]).toEqual([path, method, true]);
      if (status !== '204') expect([path, method, Boolean(resp.content?.['application/json']?.schema)]).toEqual([path, method, true]);
    }
    expect(doc.components.schemas.Order.properties).toEqual(expect.objectContaining(Object.fromEntries(ORDER_KEYS.map((k) => [k, expect.anything()]))));
  });
});
