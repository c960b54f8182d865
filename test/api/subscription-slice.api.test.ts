import { DateTime } from 'luxon';
import { createApiWorld, ApiWorld } from '../support/api';
import { advanceToLocalHour } from '../support/subscriptions';

const DAY = 86_400_000;
const ms = (iso: string) => new Date(iso).getTime();

describe('API: buy a monthly host-security/enterprise from cash and let it lapse (issue #3 slice)', () => {
  let w: ApiWorld;
  beforeAll(async () => { w = await createApiWorld(); });
  afterAll(async () => { await w?.close(); });

  it('drives purchase → active → grace → frozen → released through HTTP', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    const buy = await w.as(c.key).post('/v1/subscriptions', {
      account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 },
    }, 'buy-1');
    expect(buy.status).toBe(201);
    expect(buy.body).toMatchObject({ account_id: c.id, status: 'active', auto_renew: false, renewal_period: { unit: 'month', count: 1 } });
    const sub = buy.body;
    expect(sub.expires_at).toMatch(/\+08:00$/); // R-T1: instants in billing local time
    // R-T2: one calendar month later, same local wall-clock time.
    const expected = DateTime.fromISO(sub.started_at, { setZone: true }).plus({ months: 1 });
    expect(ms(sub.expires_at)).toBe(expected.toMillis());
    expect(ms(sub.forecast.grace_ends_at)).toBe(ms(sub.expires_at) + 15 * DAY);
    expect(ms(sub.forecast.frozen_ends_at)).toBe(ms(sub.expires_at) + 30 * DAY);

    const account = await w.as(c.key).get(`/v1/accounts/${c.id}`);
    expect(account.body).toMatchObject({ cash: '75.00', locked: '0.00' });

    const status = async () => (await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body.status;
    const advanceTo = async (at: number) => w.env.sleep(at - (await w.env.currentTimeMs()));

    await advanceTo(ms(sub.expires_at) - 1000);
    expect(await status()).toBe('active');
    await advanceTo(ms(sub.expires_at) + 1000);
    expect(await status()).toBe('grace');
    await advanceTo(ms(sub.forecast.grace_ends_at) + 1000);
    expect(await status()).toBe('frozen');
    await advanceTo(ms(sub.forecast.frozen_ends_at) + 1000);
    await w.env.client.workflow.getHandle(`subscription-${sub.id}`).result();
    const released = await w.as(c.key).get(`/v1/subscriptions/${sub.id}`);
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ status: 'released', expires_at: sub.expires_at });

    const timeline = await w.as(c.key).get(`/v1/subscriptions/${sub.id}/timeline`);
    const changes = timeline.body.data.filter((e: { type: string }) => !e.type.startsWith('payment') && e.type !== 'notification');
    expect(changes.map((e: { type: string; at: string }) => [e.type, ms(e.at)])).toEqual([
      ['purchased', ms(sub.started_at)],
      ['expiry_reminder', ms(sub.expires_at) - 7 * DAY],
      ['grace_entered', ms(sub.expires_at)],
      // R-S6 "reminders are sent" (issue #15): a week into grace, and the day before it ends.
      ['grace_reminder', ms(sub.expires_at) + 7 * DAY],
      ['grace_reminder', ms(sub.forecast.grace_ends_at) - DAY],
      ['frozen', ms(sub.forecast.grace_ends_at)],
      ['released', ms(sub.forecast.frozen_ends_at)],
    ]);
  });

  it('GET /v1/subscriptions/{id}/terms: the purchase and two auto-renewals, contiguous, each with its order, paged', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    const buy = await w.as(c.key).post('/v1/subscriptions', {
      account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 }, auto_renew: true,
    }, 'buy-terms');
    expect(buy.status).toBe(201);
    const start = DateTime.fromISO(buy.body.started_at, { setZone: true });
    // R-S3: each renewal is made at 03:00 seven days before the expiry; after the second one:
    await w.env.sleep(start.plus({ months: 2, days: -6 }).toMillis() - (await w.env.currentTimeMs()));
    const res = await w.as(c.key).get(`/v1/subscriptions/${buy.body.id}/terms`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((t: any) => [t.term_number, t.kind, t.edition, ms(t.starts_at), ms(t.ends_at)])).toEqual([
      [1, 'purchase', 'enterprise', start.toMillis(), start.plus({ months: 1 }).toMillis()],
      [2, 'renewal', 'enterprise', start.plus({ months: 1 }).toMillis(), start.plus({ months: 2 }).toMillis()],
      [3, 'renewal', 'enterprise', start.plus({ months: 2 }).toMillis(), start.plus({ months: 3 }).toMillis()],
    ]);
    expect(res.body.data[0].starts_at).toMatch(/\+08:00$/);
    const orders = (await w.db('orders').where({ subscription_id: buy.body.id, status: 'paid' }).orderBy('created_at').pluck('id')) as string[];
    expect(res.body.data.map((t: any) => t.order_id)).toEqual(orders);
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe('25.00'); // 3 × 25.00

    const first = await w.as(c.key).get(`/v1/subscriptions/${buy.body.id}/terms?limit=2`);
    expect(first.body.data.map((t: any) => t.term_number)).toEqual([1, 2]);
    const rest = await w.as(c.key).get(`/v1/subscriptions/${buy.body.id}/terms?limit=2&cursor=${first.body.next_cursor}`);
    expect(rest.body).toMatchObject({ data: [{ term_number: 3 }], next_cursor: null });
    expect((await w.as(c.key).get(`/v1/subscriptions/${buy.body.id}/terms?cursor=forged`)).status).toBe(400);
  });

  it('answers 402 with nothing created when the cash does not cover the purchase', async () => {
    const c = await w.newCustomer({ cash: '10.00' });
    const buy = await w.as(c.key).post('/v1/subscriptions', {
      account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 },
    }, 'buy-poor');
    expect(buy.status).toBe(402);
    expect(buy.body.error.code).toBe('PAYMENT.INSUFFICIENT_FUNDS');
    const list = await w.as(c.key).get('/v1/subscriptions');
    expect(list.body.data).toEqual([]);
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe('10.00');
  });

  it('GET forecast equals what then happens: deduction attempts, grace end, freeze end (R-S3, R-S6…S8)', async () => {
    await advanceToLocalHour(w, 10); // 8 attempts: bought after that day's 03:00 (R-S3)
    const c = await w.newCustomer({ cash: '25.00' });
    await w.payments.bindCard({ accountId: c.id, token: 'tok_chargeDeclined' });
    const buy = await w.as(c.key).post('/v1/subscriptions', {
      account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 }, auto_renew: true,
    }, 'buy-forecast');
    expect(buy.status).toBe(201);
    const { forecast, id } = buy.body;
    expect(forecast.deduction_attempts).toHaveLength(8);
    expect(forecast.next_deduction_at).toBe(forecast.deduction_attempts[0]);
    for (const a of forecast.deduction_attempts) expect(a).toMatch(/T03:00:00\.000\+08:00$/); // R-S3: 03:00 local

    await w.env.sleep(ms(forecast.frozen_ends_at) - (await w.env.currentTimeMs()) + 60_000);
    await w.env.client.workflow.getHandle(`subscription-${id}`).result();
    const timeline = (await w.as(c.key).get(`/v1/subscriptions/${id}/timeline`)).body.data as { type: string; at: string }[];
    const at = (type: string) => timeline.filter((e) => e.type === type).map((e) => e.at);
    expect(at('deduction_failed')).toEqual(forecast.deduction_attempts);
    expect(at('frozen')).toEqual([forecast.grace_ends_at]);
    expect(at('released')).toEqual([forecast.frozen_ends_at]);
    expect(at('grace_entered')).toEqual([buy.body.expires_at]);
  });
});
