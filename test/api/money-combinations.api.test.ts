import { Client, Connection } from '@temporalio/client';
import { DateTime } from 'luxon';
import request from 'supertest';
import { createApp } from '../../api/app';
import { encodeCursor } from '../../api/schemas';
import { deliverSignals } from '../../store/outbox.store';
import { ApiWorld, createApiWorld } from '../support/api';

// Issue #11: the defects seen when rules combine, each reproduced over HTTP against the real
// worker, Postgres and the time-skipping server, with SPEC's numbers. Named by the list.
describe('money stays right when rules combine (issue #11)', () => {
  let w: ApiWorld;
  beforeAll(async () => { w = await createApiWorld(); });
  afterAll(async () => { await w?.close(); });

  const DAY = 86_400_000;
  const ms = (iso: string) => new Date(iso).getTime();
  const at = (iso: string) => DateTime.fromISO(iso, { setZone: true });
  const month = { unit: 'month', count: 1 };
  const year = { unit: 'year', count: 1 };
  const cash = async (c: { id: string; key: string }) => (await w.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash as string;
  const buy = (c: { id: string; key: string }, key: string, over: Record<string, unknown> = {}) => w.as(c.key).post('/v1/subscriptions', {
    account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: month, ...over,
  }, key);
  const orders = (subscriptionId: string) => w.db('orders').where({ subscription_id: subscriptionId, status: 'paid' });
  const advance = async (toMs: number) => w.env.sleep(Math.max(0, toMs - (await w.env.currentTimeMs())));

  it('1. an impossible or past deduction date is 400 VALIDATION.DEDUCTION_DATE and takes no money', async () => {
    const c = await w.newCustomer({ cash: '1000.00' });
    const impossible = await buy(c, 'd1', { auto_renew: true, deduction_day: '2026-02-30' });
    expect(impossible.status).toBe(400);
    expect(impossible.body.error.code).toBe('VALIDATION.DEDUCTION_DATE');
    const yesterday = DateTime.fromMillis(await w.env.currentTimeMs(), { zone: 'UTC+8' }).minus({ days: 1 }).toISODate();
    const past = await buy(c, 'd2', { auto_renew: true, deduction_day: yesterday });
    expect(past.status).toBe(400);
    expect(past.body.error.code).toBe('VALIDATION.DEDUCTION_DATE');
    expect(await cash(c)).toBe('1000.00');
    expect(await w.db('orders').where({ account_id: c.id })).toHaveLength(0);
    expect((await w.as(c.key).get('/v1/subscriptions')).body.data).toEqual([]);
  });

  // Two commands at once where one ends the subscription: the other is refused, whether the
  // workflow checked it after the first ran (issue #11, this session) or the run had already
  // closed when it arrived (the server aborts the update: it answered 500). Found by the money
  // model's two-commands-at-once step.
  it('an unsubscribe, a renewal and a second unsubscribe sent at once: one unsubscribe, the rest refused with 409, everything paid back, never a 500', async () => {
    for (let round = 0; round < 6; round += 1) {
      const c = await w.newCustomer({ cash: '50.00' });
      const sub = (await buy(c, `t${round}`)).body;
      const answers = await Promise.all([
        w.as(c.key).post(`/v1/subscriptions/${sub.id}/unsubscribe`, undefined, `u1-${round}`),
        w.as(c.key).post(`/v1/subscriptions/${sub.id}/renewals`, { term: month }, `r-${round}`),
        w.op().post(`/v1/subscriptions/${sub.id}/unsubscribe`, undefined, `u2-${round}`),
      ]);
      const [u1, r, u2] = answers.map((a) => a.status);
      expect([u1, u2].sort()).toEqual([200, 409]);
      expect([201, 409]).toContain(r);
      for (const a of answers.filter((x) => x.status === 409)) expect(['STATE.NOT_ACTIVE', 'STATE.NOT_RENEWABLE']).toContain(a.body.error.code);
      // Unsubscribed at the instant of purchase: all of it back, with or without the renewal.
      expect(await cash(c)).toBe('50.00');
      expect((await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('unsubscribed');
    }
  });

  it('2. a manual renewal replayed with the same key from the other key scope renews once', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    const sub = (await buy(c, 'b2')).body;
    const first = await w.as(c.key).post(`/v1/subscriptions/${sub.id}/renewals`, { term: month }, 'R1');
    expect(first.status).toBe(201);
    const extended = at(sub.expires_at).plus({ months: 1 }).toMillis();
    expect(ms(first.body.expires_at)).toBe(extended);
    const again = await w.op().post(`/v1/subscriptions/${sub.id}/renewals`, { term: month }, 'R1');
    expect(again.status).toBe(201);
    expect(ms(again.body.expires_at)).toBe(extended); // not two months
    expect(await orders(sub.id)).toHaveLength(2); // the purchase and one renewal: 25.00 each
    expect(await cash(c)).toBe('50.00');
    // The API's stored answer lost (a 5xx releases it, a crash loses it): the workflow itself
    // remembers the key and answers it once more without renewing again.
    await w.db('idempotent_requests').where({ idempotency_key: 'R1' }).delete();
    const lost = await w.op().post(`/v1/subscriptions/${sub.id}/renewals`, { term: month }, 'R1');
    expect(lost.status).toBe(201);
    expect(ms(lost.body.expires_at)).toBe(extended);
    expect(await orders(sub.id)).toHaveLength(2);
    // The same key with another term is refused, from either scope.
    const other = await w.op().post(`/v1/subscriptions/${sub.id}/renewals`, { term: { unit: 'month', count: 2 } }, 'R1');
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('IDEMPOTENCY.MISMATCH');
    expect(await cash(c)).toBe('50.00');
  });

  it('3. an upgrade after a manual renewal pays the difference on every paid term: 550.00 + 55.00', async () => {
    const c = await w.newCustomer({ cash: '2000.00' });
    const sub = (await buy(c, 'b3', { edition: 'basic', term: year })).body;
    expect((await w.as(c.key).post(`/v1/subscriptions/${sub.id}/renewals`, { term: month }, 'r3')).status).toBe(201);
    const up = await w.as(c.key).post(`/v1/subscriptions/${sub.id}/upgrade`, { edition: 'wtp' }, 'u3');
    expect(up.status).toBe(200);
    expect(up.body.charged).toBe('605.00');
    const twin = (await buy(c, 'b3-twin', { edition: 'basic', term: year })).body;
    const twinUp = await w.as(c.key).post(`/v1/subscriptions/${twin.id}/upgrade`, { edition: 'wtp' }, 'u3-twin');
    expect(twinUp.body.charged).toBe('550.00');
    // 2000 − (50 + 5 + 605) − (50 + 550)
    expect(await cash(c)).toBe('740.00');
  });

  it('4. R-S11 after an operator refund: 187.20 − 100.00 = 87.20, and the refund is never paid twice', async () => {
    const c = await w.newCustomer({ cash: '1000.00' });
    const now = await w.env.currentTimeMs();
    await w.op().post(`/v1/accounts/${c.id}/discounts`, { kind: 'commercial', percent_off: '10', effective_at: new Date(now - DAY).toISOString(), expires_at: new Date(now + 400 * DAY).toISOString() }, 'dsc4');
    const sub = (await w.as(c.key).post('/v1/subscriptions', {
      account_id: c.id, product: 'workload-protection', edition: 'pro', region: 'cn-hangzhou', quantity: 2, term: { unit: 'month', count: 12 },
    }, 'b4')).body;
    const [order] = await orders(sub.id);
    expect(order.due).toBe('259.20');
    const refunded = await w.op().post(`/v1/orders/${order.id}/refunds`, { amount: '100.00' }, 'rf4');
    expect(refunded.status).toBe(201);
    await advance(at(sub.started_at).plus({ months: 3 }).toMillis());
    const off = await w.as(c.key).post(`/v1/subscriptions/${sub.id}/unsubscribe`, undefined, 'un4');
    expect(off.status).toBe(200);
    expect(off.body.refund).toBe('87.20');
    expect(await cash(c)).toBe('928.00'); // 1000 − 259.20 + 100.00 + 87.20
    // The same unsubscribe from the other scope, after the workflow closed: the same answer, no money.
    const replay = await w.op().post(`/v1/subscriptions/${sub.id}/unsubscribe`, undefined, 'un4');
    expect(replay.status).toBe(200);
    expect(replay.body.refund).toBe('87.20');
    expect(await cash(c)).toBe('928.00');
    const o = (await w.op().get(`/v1/orders/${order.id}`)).body;
    expect(o).toMatchObject({ refunded: '187.20', status: 'partially_refunded' });
  });

  it('4b. R-S11 counts every paid term: a yearly term 3 months in (187.20) and a month renewed ahead (24.00)', async () => {
    const c = await w.newCustomer({ cash: '1000.00' });
    const now = await w.env.currentTimeMs();
    await w.op().post(`/v1/accounts/${c.id}/discounts`, { kind: 'commercial', percent_off: '10', effective_at: new Date(now - DAY).toISOString(), expires_at: new Date(now + 30 * DAY).toISOString(), scope: 'workload-protection' }, 'dsc4b');
    const sub = (await w.as(c.key).post('/v1/subscriptions', {
      account_id: c.id, product: 'workload-protection', edition: 'pro', region: 'cn-hangzhou', quantity: 2, term: { unit: 'month', count: 12 },
    }, 'b4b')).body;
    await advance(now + 31 * DAY); // the discount has expired: the renewal pays list, 24.00
    expect((await w.as(c.key).post(`/v1/subscriptions/${sub.id}/renewals`, { term: month }, 'r4b')).status).toBe(201);
    await advance(at(sub.started_at).plus({ months: 3 }).toMillis());
    const off = await w.as(c.key).post(`/v1/subscriptions/${sub.id}/unsubscribe`, undefined, 'un4b');
    expect(off.body.refund).toBe('211.20');
    expect(await cash(c)).toBe('928.00'); // 1000 − 259.20 − 24.00 + 211.20
  });

  it('5. a refused first purchase answers 402 with nothing created, every time', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => buy(c, `p5-${i}`, { edition: 'premium', term: year })));
    expect(answers.map((a) => [a.status, a.body.error?.code])).toEqual(Array(10).fill([402, 'PAYMENT.INSUFFICIENT_FUNDS']));
    const trial = await buy(c, 't5-1', { edition: 'basic', term: undefined, trial: true });
    expect(trial.status).toBe(201);
    const second = await buy(c, 't5-2', { edition: 'basic', term: undefined, trial: true });
    expect([second.status, second.body.error.code]).toEqual([422, 'SUBSCRIPTION.TRIAL_USED']);
    expect(await cash(c)).toBe('100.00');
  });

  it('6. a usage record over the per-record bound is refused; two at the bound in one hour settle', async () => {
    const c = await w.newCustomer({ cash: '1000.00' });
    const now = await w.env.currentTimeMs();
    const rec = (id: string, quantity: string) => ({ id, account_id: c.id, resource_id: 'img_6', metric: 'image_scans', quantity, period_start: new Date(now - 120_000).toISOString(), period_end: new Date(now - 60_000).toISOString() });
    const huge = await w.as(c.key).post('/v1/usage-records', { records: [rec('h1', '99999999999999'), rec('h2', '99999999999999')] });
    expect(huge.body.results.map((r: any) => r.error?.code)).toEqual(['USAGE.QUANTITY_TOO_LARGE', 'USAGE.QUANTITY_TOO_LARGE']);
    const max = await w.as(c.key).post('/v1/usage-records', { records: [rec('m1', '1000000000'), rec('m2', '1000000000')] });
    expect(max.body.results.map((r: any) => r.status)).toEqual(['accepted', 'accepted']);
    await advance(now + 2 * 3_600_000);
    const bills = (await w.as(c.key).get(`/v1/accounts/${c.id}/bills`)).body.data;
    expect(bills.map((b: any) => b.total)).toEqual(['200000000.00']); // 2 × 10⁹ scans × 0.10, in arrears: no card, 1000.00 cash
    const arrears = (await w.as(c.key).get(`/v1/accounts/${c.id}/arrears`)).body;
    expect(arrears).toMatchObject({ arrears_status: 'grace', outstanding: '200000000.00' });
    await w.env.client.workflow.getHandle(`account-${c.id}`).terminate('test done');
  });

  it('7. packages bought under one key from both scopes with different bodies: 422, and the account workflow goes on', async () => {
    const c = await w.newCustomer({ cash: '1000.00' });
    const body = (count: number) => ({ account_id: c.id, metric: 'image_scans', content: '1000', count, term: year, reset: 'none' });
    const first = await w.as(c.key).post('/v1/usage-packages', body(1), 'P7');
    expect(first.status).toBe(201);
    const other = await w.op().post('/v1/usage-packages', body(2), 'P7');
    expect([other.status, other.body.error?.code]).toEqual([422, 'IDEMPOTENCY.MISMATCH']);
    expect(await cash(c)).toBe('900.00');
    expect(await w.db('usage_packages').where({ account_id: c.id })).toHaveLength(1);
    // The workflow is not stuck on a retried refusal (it used to retry the charge's mismatch for
    // ever, and wait for it before continuing as new): usage reported now is settled an hour later,
    // drawn from the package bought under the key.
    const now = await w.env.currentTimeMs();
    const rec = { id: 'scan-7', account_id: c.id, resource_id: 'img_7', metric: 'image_scans', quantity: '10', period_start: new Date(now - 120_000).toISOString(), period_end: new Date(now - 60_000).toISOString() };
    expect((await w.as(c.key).post('/v1/usage-records', { records: [rec] })).body.results[0].status).toBe('accepted');
    await advance(now + 2 * 3_600_000);
    const bills = (await w.as(c.key).get(`/v1/accounts/${c.id}/bills`)).body.data;
    expect(bills.map((b: any) => b.total)).toEqual(['0.00']);
    const packages = (await w.as(c.key).get(`/v1/accounts/${c.id}/usage-packages`)).body.data;
    expect(packages.map((p: any) => p.remaining)).toEqual(['990']);
    const third = await w.as(c.key).post('/v1/usage-packages', body(1), 'P7-b');
    expect(third.status).toBe(201);
    await w.env.client.workflow.getHandle(`account-${c.id}`).terminate('test done');
  });

  it('8. the key of an ended subscription never starts its workflow again', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    const first = (await buy(c, 'K8')).body;
    const sub = first;
    expect((await w.as(c.key).post(`/v1/subscriptions/${sub.id}/unsubscribe`, undefined, 'un8')).status).toBe(200);
    await w.env.client.workflow.getHandle(`subscription-${sub.id}`).result();
    const again = await w.op().post('/v1/subscriptions', {
      account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: month,
    }, 'K8');
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first); // the key's first answer, whichever scope asks
    expect(again.headers['idempotent-replayed']).toBe('true');
    // The stored answer lost (a crash before it was kept): the retry reaches Temporal, which never
    // starts the closed workflow's id again; the answer is the subscription as it is now.
    await w.db('idempotent_requests').where({ idempotency_key: 'K8' }).delete();
    const lost = await w.op().post('/v1/subscriptions', {
      account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: month,
    }, 'K8');
    expect(lost.status).toBe(201);
    expect(lost.body).toMatchObject({ id: sub.id, status: 'unsubscribed' });
    const d = await w.env.client.workflow.getHandle(`subscription-${sub.id}`).describe();
    expect(d.status.name).toBe('COMPLETED');
    expect(await w.db('orders').where({ subscription_id: sub.id })).toHaveLength(1); // no second charge
    expect(await cash(c)).toBe('100.00'); // paid 25.00, refunded 25.00 on the unsubscribe right after
  });

  it('9. a forged cursor is 400, and /health shows no error text', async () => {
    const c = await w.newCustomer();
    for (const forged of [encodeCursor([1, 2]), encodeCursor(['not-a-date', 'sub_x']), encodeCursor(['2026-01-01T00:00:00.000000Z', 7])]) {
      const res = await w.as(c.key).get(`/v1/subscriptions?cursor=${forged}`);
      expect([res.status, res.body.error.code]).toEqual([400, 'VALIDATION.CURSOR']);
    }
    const knex = (await import('knex')).default;
    const deadDb = knex({ client: 'pg', connection: 'postgres://nobody:secret-password@127.0.0.1:1/none', pool: { min: 0, max: 1 }, acquireConnectionTimeout: 1000 });
    const app = createApp({ ...w.deps, db: deadDb });
    const health = await request(app).get('/health');
    await deadDb.destroy();
    expect(health.status).toBe(503);
    expect(health.body).toEqual({ status: 'degraded', db: 'down', temporal: 'ok' });
  });

  it('10. a top-up while Temporal is unreachable still renews the subscription in grace once it is back', async () => {
    const c = await w.newCustomer({ cash: '25.00' });
    const sub = (await buy(c, 'b10', { auto_renew: true })).body;
    await advance(ms(sub.expires_at) + DAY);
    expect((await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('grace');
    const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 }) });
    const cut = createApp({ ...w.deps, temporal: unreachable });
    const top = await request(cut).post(`/v1/accounts/${c.id}/top-ups`).set('Authorization', `Bearer ${c.key}`).set('Idempotency-Key', 't10').send({ amount: '25.00' });
    expect(top.status).toBe(201);
    expect(await w.db('workflow_signals').where({ workflow_id: `subscription-${sub.id}`, status: 'pending' })).toHaveLength(1);
    expect((await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('grace');
    // Temporal is back: the worker's outbox loop delivers it (once its retry backoff has passed).
    const row = () => w.db('workflow_signals').where({ workflow_id: `subscription-${sub.id}` }).first();
    for (let i = 0; i < 50 && (await row()).status === 'pending'; i += 1) {
      await deliverSignals(w.db, w.env.client);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await row()).status).toBe('delivered');
    await w.env.sleep(1000);
    const after = (await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body;
    expect(after.status).toBe('active');
    expect(ms(after.expires_at)).toBe(at(sub.expires_at).plus({ months: 1 }).toMillis());
    expect(await cash(c)).toBe('0.00');
  });

  it('11. R-P2: a purchase may name a promotional discount; later orders of the resource count it; a wrong one is refused before money moves', async () => {
    const c = await w.newCustomer({ cash: '1000.00' });
    const other = await w.newCustomer();
    const now = await w.env.currentTimeMs();
    const grant = async (who: { id: string }, kind: string, key: string, over: Record<string, unknown> = {}) => (await w.op().post(`/v1/accounts/${who.id}/discounts`, {
      kind, percent_off: '30', effective_at: new Date(now - DAY).toISOString(), expires_at: new Date(now + 400 * DAY).toISOString(), ...over,
    }, key)).body.id as string;
    const promo = await grant(c, 'promotional', 'g1');
    const commercial = await grant(c, 'commercial', 'g2', { percent_off: '5' });
    const expired = await grant(c, 'promotional', 'g3', { effective_at: new Date(now - 10 * DAY).toISOString(), expires_at: new Date(now - DAY).toISOString() });
    const foreign = await grant(other, 'promotional', 'g4');
    const scoped = await grant(c, 'promotional', 'g5', { scope: 'workload-protection' });
    for (const [id, code] of [[commercial, 'DISCOUNT.NOT_PROMOTIONAL'], [expired, 'DISCOUNT.NOT_APPLICABLE'], [foreign, 'DISCOUNT.UNKNOWN'], [scoped, 'DISCOUNT.NOT_APPLICABLE']]) {
      const res = await buy(c, `bad-${id}`, { discount_id: id });
      expect([res.status, res.body.error.code]).toEqual([422, code]);
    }
    expect(await cash(c)).toBe('1000.00');
    const sub = (await buy(c, 'b11', { discount_id: promo, auto_renew: true })).body;
    const [first] = await orders(sub.id);
    expect(first).toMatchObject({ discount_id: promo, discount_percent: '30.00', due: '17.50' });
    // The auto-renewal (03:00, 7 days before expiry) is an order of the same resource: the promotion is its candidate.
    await advance(ms(sub.expires_at) - 6 * DAY);
    const renewal = (await w.db('orders').where({ subscription_id: sub.id, status: 'paid', kind: 'subscription_renewal' }))[0];
    expect(renewal).toMatchObject({ discount_id: promo, due: '17.50' });
    expect(await cash(c)).toBe('965.00');
  });

  it('12. R-S2: an account that bought host-security/basic cannot start the trial', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    expect((await buy(c, 'b12', { edition: 'basic' })).status).toBe(201);
    const trial = await buy(c, 't12', { edition: 'basic', term: undefined, trial: true });
    expect([trial.status, trial.body.error.code]).toEqual([422, 'SUBSCRIPTION.TRIAL_NOT_ELIGIBLE']);
    expect((await w.as(c.key).get('/v1/subscriptions')).body.data).toHaveLength(1);
  });

  it('13. the list answers the same subscription, forecast included, as the item', async () => {
    const c = await w.newCustomer({ cash: '25.00' });
    await w.payments.bindCard({ accountId: c.id, token: 'tok_chargeDeclined' });
    const sub = (await buy(c, 'b13', { auto_renew: true })).body;
    const same = async () => {
      const item = (await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body;
      const [listed] = (await w.as(c.key).get('/v1/subscriptions')).body.data;
      expect(listed).toEqual(item);
      return item;
    };
    expect((await same()).forecast.deduction_attempts.length).toBeGreaterThan(0);
    await advance(ms(sub.forecast.deduction_attempts[1]) + 60_000); // two attempts failed
    const after = await same();
    expect(after.forecast.deduction_attempts).toEqual(sub.forecast.deduction_attempts.slice(2));
    await advance(ms(sub.expires_at) + DAY);
    expect((await same()).status).toBe('grace');
  });
});
