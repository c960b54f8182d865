import request from 'supertest';
import { DateTime } from 'luxon';
import { createApiWorld, ApiWorld } from '../support/api';
import { parseMetrics, Scrape } from '../support/prometheus';

// Issue 14: what an operator's Prometheus sees. /metrics is scraped before and after a lifecycle
// (purchases paid by cash and by card, a refused purchase, a renewal that succeeds and one whose
// card is declined), and the counters move by what happened, with the labels ops/ alerts on.

const BUY = { product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 }, auto_renew: true };

describe('GET /metrics on the API (issue 14)', () => {
  let w: ApiWorld;
  beforeAll(async () => { w = await createApiWorld(); });
  afterAll(async () => { await w?.close(); });

  const scrape = async (): Promise<Scrape> => {
    const res = await request(w.app).get('/metrics'); // no key: Prometheus scrapes without one
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(res.text);
  };

  it('counts requests, charges and renewals of a lifecycle, and reads the gauges from Postgres', async () => {
    const before = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => after.sum(name, labels) - before.sum(name, labels);
    let after = before;

    const cash = await w.newCustomer({ cash: '100.00' }); // pays, then renews, from cash
    const poor = await w.newCustomer({ cash: '10.00' }); // refused: 10.00 of 25.00 and no card
    const card = await w.newCustomer(); // pays by card
    expect((await w.as(card.key).put(`/v1/accounts/${card.id}/card`, { token: 'tok_visa' })).status).toBe(200);
    const declined = await w.newCustomer({ cash: '25.00' }); // the purchase from cash; the renewal goes to a card that declines
    expect((await w.as(declined.key).put(`/v1/accounts/${declined.id}/card`, { token: 'tok_chargeDeclined' })).status).toBe(200);

    const bought: { id: string; started_at: string }[] = [];
    for (const c of [cash, card, declined]) {
      const res = await w.as(c.key).post('/v1/subscriptions', { account_id: c.id, ...BUY }, `buy-${c.id}`);
      expect(res.status).toBe(201);
      bought.push(res.body);
    }
    const refused = await w.as(poor.key).post('/v1/subscriptions', { account_id: poor.id, ...BUY }, `buy-${poor.id}`);
    expect(refused.status).toBe(402);
    // The same key again is the first answer replayed (R-P5): not a second charge.
    expect((await w.as(poor.key).post('/v1/subscriptions', { account_id: poor.id, ...BUY }, `buy-${poor.id}`)).status).toBe(402);
    expect((await w.as(cash.key).get(`/v1/subscriptions/${bought[0].id}`)).status).toBe(200);

    // R-S3: the first auto-renew attempt is at 03:00 seven days before expiry; stop a day later.
    const start = DateTime.fromISO(bought[0].started_at, { setZone: true });
    await w.env.sleep(start.plus({ months: 1, days: -6 }).toMillis() - (await w.env.currentTimeMs()));
    expect((await w.as(cash.key).get(`/v1/subscriptions/${bought[0].id}/terms`)).body.data).toHaveLength(2);
    after = await scrape();

    // Charges by outcome and by what paid (R-P1): purchases and renewals from cash (two
    // purchases, one renewal) and from the card (a purchase and its renewal)…
    expect(delta('quotaflow_charges_total', { outcome: 'paid', path: 'cash' })).toBe(3);
    expect(delta('quotaflow_charges_total', { outcome: 'paid', path: 'card' })).toBe(2);
    // …a purchase the balance could not cover, counted once although it was asked twice…
    expect(delta('quotaflow_charges_total', { outcome: 'refused', path: 'cash' })).toBe(1);
    // …and renewal attempts that went to a card which declined (one a day, R-S3).
    const declinedAttempts = delta('quotaflow_charges_total', { outcome: 'refused', path: 'card' });
    expect(declinedAttempts).toBeGreaterThanOrEqual(1);
    expect(delta('quotaflow_charges_total', { outcome: 'failed' })).toBe(0);

    // Renewals (R-S3): three terms came due, two renewed, the third's attempts failed.
    expect(delta('quotaflow_renewals_total', { result: 'due' })).toBe(3);
    expect(delta('quotaflow_renewals_total', { result: 'succeeded' })).toBe(2);
    expect(delta('quotaflow_renewals_total', { result: 'failed' })).toBe(declinedAttempts);
    expect(delta('quotaflow_renewals_total', { result: 'attempted' })).toBe(2 + declinedAttempts);

    // Requests by route template, method and status; never the raw path of one subscription.
    expect(delta('quotaflow_http_requests_total', { route: '/v1/subscriptions', method: 'POST', status: '201' })).toBe(3);
    expect(delta('quotaflow_http_requests_total', { route: '/v1/subscriptions', method: 'POST', status: '402' })).toBe(2);
    expect(delta('quotaflow_http_requests_total', { route: '/v1/subscriptions/{id}', method: 'GET', status: '200' })).toBe(1);
    expect(delta('quotaflow_http_request_duration_seconds_count', { route: '/v1/subscriptions', method: 'POST', status: '201' })).toBe(3);
    const routes = after.series('quotaflow_http_requests_total').map((l) => l.route);
    expect(routes.filter((r) => r.includes(bought[0].id) || r.includes(cash.id))).toEqual([]);
    expect(after.families.get('quotaflow_http_request_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(delta('quotaflow_http_request_duration_seconds_bucket', { route: '/v1/subscriptions', method: 'POST', status: '201', le: '+Inf' })).toBe(3);

    // Gauges read from Postgres at scrape: three active subscriptions (the declined one is
    // still in its term), no pay-per-use account behind, and the notifications of the lifecycle
    // waiting in the outbox (this test runs no delivery loop).
    expect(after.value('quotaflow_subscriptions', { status: 'active' })).toBe(3);
    expect(after.families.get('quotaflow_settlement_lag_seconds')?.metrics[0].value).toBe('0');
    expect(after.value('quotaflow_outbox_backlog', { kind: 'email' })).toBeGreaterThan(0);
    expect(after.families.get('quotaflow_retry_bound_hit_total')?.type).toBe('COUNTER');
  });

  it('counts a request to no route as "unmatched", not by its path', async () => {
    const before = await scrape();
    expect((await request(w.app).get('/no/such/route/42')).status).toBe(404);
    const after = await scrape();
    expect(after.sum('quotaflow_http_requests_total', { route: 'unmatched', status: '404' }) - before.sum('quotaflow_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(after.series('quotaflow_http_requests_total').some((l) => l.route.includes('/no/such'))).toBe(false);
  });

  it('/health/live answers without a key; /health/ready checks Postgres and Temporal, 503 with a code when one is down', async () => {
    expect((await request(w.app).get('/health/live')).body).toEqual({ status: 'ok' });
    const ready = await request(w.app).get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', db: 'ok', temporal: 'ok' });
    // A Temporal client whose calls fail, as when the frontend is unreachable.
    const down = { ...w.deps, temporal: { workflowService: { getSystemInfo: () => Promise.reject(new Error('14 UNAVAILABLE')) } } } as never;
    const { createApp } = await import('../../api/app');
    const notReady = await request(createApp(down)).get('/health/ready');
    expect(notReady.status).toBe(503);
    expect(notReady.headers['retry-after']).toBe('5');
    expect(notReady.body.error).toMatchObject({ code: 'NOT_READY.TEMPORAL', details: { db: 'ok', temporal: 'down' } });
    // Liveness does not depend on Temporal: the process is fine, restarting it would fix nothing.
    expect((await request(createApp(down)).get('/health/live')).status).toBe(200);
    // Draining (SIGTERM): not ready, so the load balancer stops sending before the listener closes.
    const draining = await request(createApp({ ...w.deps, draining: () => true })).get('/health/ready');
    expect(draining.status).toBe(503);
    expect(draining.body.error.code).toBe('NOT_READY.SHUTTING_DOWN');
  });
});
