import { freePort } from '../../common/net';
import { parseMetrics, Scrape } from '../support/prometheus';
import { Stack, startStack } from '../stack/stack';
import { customer } from './support/scenario';

// Issue 14, on real processes (the compiled worker and API on the dev server): what an operator
// scrapes from each worker replica, the probes, and what a deploy's SIGTERM does to work in flight.

const BUY = { product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } };

async function scrape(url: string): Promise<{ text: string; metrics: Scrape }> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();
  return { text, metrics: parseMetrics(text) };
}

describe('the worker process\'s /metrics and probes (issue 14)', () => {
  let stack: Stack;
  beforeAll(async () => { stack = await startStack({ workers: 2 }); }, 240_000);
  afterAll(async () => { await stack?.stop(); }, 60_000);

  it('charges move on the workers\' /metrics, each with the Temporal SDK\'s own metrics, and the probes answer', async () => {
    const before = await Promise.all(stack.workers.map((w) => scrape(w.metricsUrl)));
    const paid = await customer(stack, { card: 'tok_visa' });
    const poor = await customer(stack, { cash: '1.00' });
    expect((await stack.http.post('/v1/subscriptions', paid.key, { account_id: paid.id, ...BUY }, 'buy-paid')).status).toBe(201);
    expect((await stack.http.post('/v1/subscriptions', poor.key, { account_id: poor.id, ...BUY }, 'buy-poor')).status).toBe(402);
    const after = await Promise.all(stack.workers.map((w) => scrape(w.metricsUrl)));
    // Whichever replica ran each charge: summed over replicas, as Prometheus would.
    const delta = (labels: Record<string, string>) => after.reduce((t, a, i) => t + a.metrics.sum('quotaflow_charges_total', labels) - before[i].metrics.sum('quotaflow_charges_total', labels), 0);
    expect(delta({ outcome: 'paid', path: 'card' })).toBe(1);
    expect(delta({ outcome: 'refused', path: 'cash' })).toBe(1);

    for (const { text, metrics } of after) {
      // The Temporal SDK's runtime metrics, merged into the same scrape (workers/runtime.ts)…
      const sdk = [...metrics.families.keys()].filter((n) => n.startsWith('temporal_'));
      expect(sdk.length).toBeGreaterThan(5);
      expect(sdk).toEqual(expect.arrayContaining(['temporal_worker_task_slots_available']));
      // …Node's process metrics, and the quotaflow families ops/ alerts on.
      expect(metrics.families.has('process_cpu_seconds_total')).toBe(true);
      for (const name of ['quotaflow_charges_total', 'quotaflow_renewals_total', 'quotaflow_retry_bound_hit_total']) expect(metrics.families.has(name)).toBe(true);
      // The Postgres gauges are the API's to report: a worker reporting them too would count
      // every subscription once per replica in a sum.
      expect(text).not.toMatch(/^quotaflow_subscriptions/m);
    }
    const api = await scrape(stack.apiUrl);
    expect(api.metrics.value('quotaflow_subscriptions', { status: 'active' })).toBe(1);
    expect(api.metrics.sum('quotaflow_http_requests_total', { route: '/v1/subscriptions', method: 'POST' })).toBe(2);

    for (const w of stack.workers) {
      expect((await fetch(`${w.metricsUrl}/health/live`)).status).toBe(200);
      expect((await fetch(`${w.metricsUrl}/nothing`)).status).toBe(404);
      const ready = await fetch(`${w.metricsUrl}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ok', db: 'ok', temporal: 'ok' });
    }
  });
});

describe('graceful shutdown on SIGTERM (issue 14)', () => {
  let stack: Stack;
  // Card charges take 3 s at the sandbox gateway: long enough to send SIGTERM while one is in flight.
  beforeAll(async () => { stack = await startStack({ workers: 1, env: { SANDBOX_GATEWAY_LATENCY_MS: '3000' } }); }, 240_000);
  afterAll(async () => { await stack?.stop(); }, 60_000);

  it('the API answers the purchase in flight when SIGTERM arrives, then exits 0 and takes no more requests', async () => {
    const c = await customer(stack, { card: 'tok_visa' });
    const started = Date.now();
    const inFlight = stack.http.post('/v1/subscriptions', c.key, { account_id: c.id, ...BUY }, 'in-flight-api');
    await new Promise((r) => setTimeout(r, 1_000));
    const api = stack.api!;
    const stopped = api.stop(30_000); // SIGTERM (SIGKILL only after 30 s)
    const answer = await inFlight;
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ status: 'active' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000); // it did wait for the card
    await stopped;
    expect(api.exitCode()).toBe(0);
    expect(api.log()).toMatch(/"msg":"api stopped"/);
    await expect(fetch(`${stack.apiUrl}/health/live`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
    await stack.startApi();
  });

  it('METRICS_PORT moves the API\'s /metrics to a port of its own, off the public one', async () => {
    const port = await freePort();
    await stack.api!.stop();
    await stack.startApi({ METRICS_PORT: String(port) });
    expect((await fetch(`${stack.apiUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`${stack.apiUrl}/health/ready`)).status).toBe(200);
    const own = await scrape(`http://127.0.0.1:${port}`);
    expect(own.metrics.value('quotaflow_http_requests_total', { route: '/health/ready', method: 'GET', status: '200' })).toBeGreaterThanOrEqual(1);
  });

  it('the worker drains: a charge in flight when SIGTERM arrives completes, the process exits 0, and the next worker finishes the purchase', async () => {
    const c = await customer(stack, { card: 'tok_visa' });
    const inFlight = stack.http.post('/v1/subscriptions', c.key, { account_id: c.id, ...BUY }, 'in-flight-worker');
    await new Promise((r) => setTimeout(r, 1_000));
    const worker = stack.workers[0];
    const sigterm = Date.now();
    await worker.stop(40_000);
    // It waited for the charge it held (3 s at the gateway, 1 s of which had passed) before exiting.
    expect(Date.now() - sigterm).toBeGreaterThanOrEqual(1_500);
    expect(worker.exitCode()).toBe(0);
    expect(worker.log()).toMatch(/"msg":"worker stopped"/);
    // The card was charged once, and the order is paid or left for the next worker — never
    // abandoned with its locks held.
    await stack.addWorker();
    const answer = await inFlight;
    expect(answer.status).toBe(201);
    const orders = await stack.http.get(`/v1/accounts/${c.id}/orders`, c.key);
    expect(orders.status).toBe(200);
    expect(orders.body.data.map((o: { status: string; card: string }) => [o.status, o.card])).toEqual([['paid', '25.00']]);
    expect((await stack.http.get(`/v1/accounts/${c.id}`, c.key)).body).toMatchObject({ locked: '0.00' });
  });
});
