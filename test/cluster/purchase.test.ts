import { Client, Connection } from '@temporalio/client';
import { DateTime } from 'luxon';
import { Stack, startStack } from '../stack/stack';

// Issue 14: quotaflow as production runs it — two worker processes and the API process, built
// by `npm run build` and configured only by their environment — on the real Temporal server
// (PostgreSQL persistence, SQL visibility). The README's first purchase, over HTTP.
describe('a purchase on the real Temporal server, with 2 worker processes and the API', () => {
  let stack: Stack;
  beforeAll(async () => { stack = await startStack({ workers: 2 }); }, 240_000);
  afterAll(async () => { await stack?.stop(); }, 60_000);

  it('creates an account, tops it up, buys a monthly subscription: active, paid from cash', async () => {
    const { http, operatorKey } = stack;
    const created = await http.post('/v1/accounts', operatorKey, { name: 'Acme' });
    expect(created.status).toBe(201);
    const acc = created.body.id as string;
    const key = created.body.api_key as string;
    expect(key).toEqual(expect.any(String));

    const topUp = await http.post(`/v1/accounts/${acc}/top-ups`, key, { amount: '100.00' }, 't1');
    expect(topUp.status).toBe(201);

    const buy = await http.post('/v1/subscriptions', key, {
      account_id: acc, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 },
    }, 'p1');
    expect(buy.status).toBe(201);
    expect(buy.body).toMatchObject({ account_id: acc, product: 'host-security', edition: 'enterprise', status: 'active' });

    const sub = await http.get(`/v1/subscriptions/${buy.body.id}`, key);
    expect(sub.status).toBe(200);
    expect(sub.body).toMatchObject({ id: buy.body.id, status: 'active', auto_renew: false, renewal_period: { unit: 'month', count: 1 } });
    // R-T2: one calendar month, same local wall-clock time.
    const started = DateTime.fromISO(sub.body.started_at, { setZone: true });
    expect(DateTime.fromISO(sub.body.expires_at).toMillis()).toBe(started.plus({ months: 1 }).toMillis());

    const account = await http.get(`/v1/accounts/${acc}`, key);
    expect(account.body).toMatchObject({ cash: '75.00', locked: '0.00', credit_used: '0.00' }); // 100.00 − 25.00

    // An operator finds the workflow on the cluster by its search attributes (SQL visibility,
    // which indexes asynchronously: poll, bounded).
    const connection = await Connection.connect({ address: stack.temporal.address });
    try {
      const client = new Client({ connection, namespace: stack.temporal.namespace });
      const query = `BillingAccountId = "${acc}" AND SubscriptionStatus = "active" AND ExecutionStatus = "Running"`;
      const found = await pollUntil(30_000, async () => {
        const ids: string[] = [];
        for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
        return ids.length > 0 ? ids : null;
      });
      expect(found).toEqual([`subscription-${buy.body.id}`]);
    } finally {
      await connection.close();
    }

    // Both workers are still up: nothing in the run crashed a process.
    expect(stack.workers.map((w) => w.exitCode())).toEqual([null, null]);
  });

  it('the same idempotency key with the same body answers the first purchase again', async () => {
    const { http, operatorKey } = stack;
    const created = await http.post('/v1/accounts', operatorKey, { name: 'Twice' });
    const acc = created.body.id as string;
    const key = created.body.api_key as string;
    await http.post(`/v1/accounts/${acc}/top-ups`, key, { amount: '30.00' }, 't1');
    const body = { account_id: acc, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } };
    const first = await http.post('/v1/subscriptions', key, body, 'buy');
    const again = await http.post('/v1/subscriptions', key, body, 'buy');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    expect((await http.get(`/v1/accounts/${acc}`, key)).body.cash).toBe('5.00'); // charged once
  });

  it('with one worker process stopped, the other serves the next purchase', async () => {
    const { http, operatorKey } = stack;
    await stack.workers[0].stop();
    expect(stack.workers[0].exitCode()).toBe(0); // a clean shutdown on SIGTERM
    const created = await http.post('/v1/accounts', operatorKey, { name: 'One worker' });
    const { id: acc, api_key: key } = created.body as { id: string; api_key: string };
    await http.post(`/v1/accounts/${acc}/top-ups`, key, { amount: '25.00' }, 't1');
    const buy = await http.post('/v1/subscriptions', key, {
      account_id: acc, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 },
    }, 'p1');
    expect(buy.status).toBe(201);
    expect((await http.get(`/v1/subscriptions/${buy.body.id}`, key)).body.status).toBe('active');
    expect((await http.get(`/v1/accounts/${acc}`, key)).body.cash).toBe('0.00');
  });

  it('the Temporal server serves its own Prometheus metrics, counting quotaflow\'s calls', async () => {
    const text = await (await fetch(process.env.QUOTAFLOW_CLUSTER_METRICS_URL!, { signal: AbortSignal.timeout(10_000) })).text();
    const started = text.split('\n').filter((l) => l.startsWith('service_requests{') && l.includes('operation="StartWorkflowExecution"'));
    expect(started.length).toBeGreaterThan(0);
  });
});

async function pollUntil<T>(timeoutMs: number, fn: () => Promise<T | null>): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
}
