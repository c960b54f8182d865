import { ApiWorld, createApiWorld } from '../support/api';

// R-I5 over HTTP: POST /v1/quotes answers the split the action then makes, for a purchase, a
// renewal and an upgrade, and moves nothing.
describe('POST /v1/quotes (R-I5)', () => {
  let w: ApiWorld;
  beforeAll(async () => { w = await createApiWorld(); });
  afterAll(async () => { await w?.close(); });

  const DAY = 86_400_000;
  const split = (x: Record<string, unknown>) => ({ due: x.due, coupon: x.coupon, cash: x.cash, credit: x.credit, card: x.card });
  const orderOf = async (subscriptionId: string, kind: string) => (await w.db('orders').where({ subscription_id: subscriptionId, kind, status: 'paid' }).orderBy('created_at', 'desc'))[0];

  it('a purchase, a renewal and an upgrade are quoted exactly as they are then charged; a quote moves nothing', async () => {
    const c = await w.newCustomer({ cash: '1000.00' });
    const now = await w.env.currentTimeMs();
    await w.op().post(`/v1/accounts/${c.id}/coupons`, { amount: '20.00', expires_at: new Date(now + 60 * DAY).toISOString() }, 'cq1');
    await w.op().post(`/v1/accounts/${c.id}/discounts`, { kind: 'commercial', percent_off: '10', effective_at: new Date(now - DAY).toISOString(), expires_at: new Date(now + 400 * DAY).toISOString() }, 'dq1');
    const promo = (await w.op().post(`/v1/accounts/${c.id}/discounts`, { kind: 'promotional', percent_off: '30', effective_at: new Date(now - DAY).toISOString(), expires_at: new Date(now + 400 * DAY).toISOString() }, 'dq2')).body.id;
    const purchase = { account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 2, term: { unit: 'month', count: 3 } };

    const before = (await w.as(c.key).get(`/v1/accounts/${c.id}`)).body;
    const q1 = await w.as(c.key).post('/v1/quotes', { kind: 'purchase', ...purchase });
    expect(q1.status).toBe(200);
    // R-P1 with R-P2/R-P3: list 25.00 × 2 × 3 = 150.00, commercial 10 % → 135.00, coupon 20.00, cash 115.00
    expect(q1.body).toMatchObject({ kind: 'purchase', list_amount: '150.00', due: '135.00', coupon: '20.00', cash: '115.00', credit: '0.00', card: '0.00', payable: true });
    expect(q1.body.discount).toMatchObject({ kind: 'commercial', percent_off: '10.00', amount: '15.00' });
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body).toEqual(before);
    expect(await w.db('orders').where({ account_id: c.id })).toHaveLength(0);

    const sub = (await w.as(c.key).post('/v1/subscriptions', purchase, 'pq1')).body;
    expect(split(await orderOf(sub.id, 'subscription_purchase'))).toEqual(split(q1.body));

    const q2 = await w.as(c.key).post('/v1/quotes', { kind: 'renewal', subscription_id: sub.id, term: { unit: 'month', count: 1 }, discount_id: promo });
    expect(q2.body).toMatchObject({ list_amount: '50.00', due: '35.00', payable: true });
    expect(q2.body.discount).toMatchObject({ id: promo, kind: 'promotional' });
    expect((await w.as(c.key).post(`/v1/subscriptions/${sub.id}/renewals`, { term: { unit: 'month', count: 1 }, discount_id: promo }, 'rq1')).status).toBe(201);
    expect(split(await orderOf(sub.id, 'subscription_renewal'))).toEqual(split(q2.body));

    const q3 = await w.as(c.key).post('/v1/quotes', { kind: 'upgrade', subscription_id: sub.id, edition: 'premium' });
    // R-S12 over both paid terms: (40 − 25) × 2 × 3 + (40 − 25) × 2 × 1 = 120.00 at once, less 30 % (the promotion this resource used)
    expect(q3.body).toMatchObject({ list_amount: '120.00', due: '84.00', payable: true });
    const up = await w.as(c.key).post(`/v1/subscriptions/${sub.id}/upgrade`, { edition: 'premium' }, 'uq1');
    expect(up.body.charged).toBe('84.00');
    expect(split(await orderOf(sub.id, 'subscription_upgrade'))).toEqual(split(q3.body));
  });

  it('says when the action could not be paid, and refuses what the action would refuse', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    const q = await w.as(c.key).post('/v1/quotes', { kind: 'purchase', account_id: c.id, product: 'host-security', edition: 'premium', region: 'cn-hangzhou', quantity: 1, term: { unit: 'year', count: 1 } });
    expect(q.body).toMatchObject({ due: '400.00', cash: '100.00', card: '0.00', payable: false, shortfall: '300.00' });
    const other = await w.newCustomer();
    expect((await w.as(other.key).post('/v1/quotes', { kind: 'purchase', account_id: c.id, product: 'host-security', edition: 'premium', region: 'cn-hangzhou', quantity: 1, term: { unit: 'year', count: 1 } })).status).toBe(404);
    expect((await w.as(c.key).post('/v1/quotes', { kind: 'purchase', account_id: c.id, product: 'host-security', edition: 'gold', region: 'cn-hangzhou', quantity: 1, term: { unit: 'year', count: 1 } })).body.error.code).toBe('CATALOG.UNKNOWN_EDITION');
    expect((await w.as(c.key).post('/v1/quotes', { kind: 'refund' })).status).toBe(400);
  });
});
