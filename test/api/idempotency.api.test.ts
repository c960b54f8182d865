import type { Client } from '@temporalio/client';
import Decimal from 'decimal.js';
import request from 'supertest';
import { ApiDeps, createApp } from '../../api/app';
import { ApiWorld, createApiWorld, OPERATOR_KEY } from '../support/api';

// Issue #4 acceptance: Idempotency-Key (API.md). Same key + same request → the first response
// again (status and body, byte for byte); same key + another request → 422; concurrent
// requests with one key → one effect.

const purchase = (accountId: string, edition = 'enterprise') => ({
  account_id: accountId, product: 'host-security', edition, region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 },
});

describe('Idempotency-Key (issue #4)', () => {
  let w: ApiWorld;
  let starts = 0;
  let app: ApiWorld['app'];
  const deps = (over: Partial<ApiDeps> = {}): ApiDeps => ({ ...w.deps, ...over });
  const cash = async (key: string, id: string) => (await request(app).get(`/v1/accounts/${id}`).set('Authorization', `Bearer ${key}`)).body.cash as string;
  const post = (key: string, path: string, body: object, idem?: string) => {
    const r = request(app).post(path).set('Authorization', `Bearer ${key}`);
    if (idem !== undefined) r.set('Idempotency-Key', idem);
    return r.send(body);
  };

  beforeAll(async () => {
    w = await createApiWorld();
    // The same app, with a Temporal client that counts workflow starts.
    const client = w.env.client;
    const workflow = new Proxy(client.workflow, {
      get(target, p) {
        const v = Reflect.get(target, p, target);
        if (p === 'start') return (...args: Parameters<typeof target.start>) => { starts++; return target.start(...args); };
        // A purchase starts its workflow with the outcome update in the same call (update-with-start).
        if (p === 'executeUpdateWithStart') return (...args: Parameters<typeof target.executeUpdateWithStart>) => { starts++; return target.executeUpdateWithStart(...args); };
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const temporal = new Proxy(client, { get: (target, p) => (p === 'workflow' ? workflow : Reflect.get(target, p, target)) }) as Client;
    app = createApp(deps({ temporal }));
  });
  afterAll(async () => { await w?.close(); });

  describe('50 parallel identical purchases with one key', () => {
    let c: { id: string; key: string };
    let first: request.Response;
    const body = () => purchase(c.id);

    it('make one subscription, one workflow, one charge, and 50 identical answers', async () => {
      c = await w.newCustomer({ cash: '1000.00' });
      const before = await cash(c.key, c.id);
      starts = 0;
      const answers = await Promise.all(Array.from({ length: 50 }, () => post(c.key, '/v1/subscriptions', body(), 'buy-once')));

      expect(answers.map((a) => a.status)).toEqual(Array(50).fill(201));
      expect(new Set(answers.map((a) => a.text)).size).toBe(1); // byte for byte
      expect(answers.filter((a) => a.headers['idempotent-replayed'] !== 'true')).toHaveLength(1); // one ran, 49 replayed
      first = answers[0];
      const sub = first.body;
      expect(sub).toMatchObject({ account_id: c.id, status: 'active' });

      // Read model: one subscription. Temporal: one start, one workflow, running.
      expect(await w.db('subscriptions').where({ account_id: c.id }).count({ n: '*' })).toEqual([{ n: 1 }]);
      expect(starts).toBe(1);
      const d = await w.env.client.workflow.getHandle(`subscription-${sub.id}`).describe();
      expect(d.status.name).toBe('RUNNING');
      // Money: one order, one charge, the cash reduced once.
      const orders = await w.db('orders').where({ account_id: c.id });
      expect(orders).toHaveLength(1);
      expect(orders[0].status).toBe('paid');
      expect(await cash(c.key, c.id)).toBe(new Decimal(before).minus(orders[0].cash).toFixed(2));
      expect(new Decimal(orders[0].cash).greaterThan(0)).toBe(true);
    });

    it('the same key and body later answer the stored response again, and nothing happens', async () => {
      const cashBefore = await cash(c.key, c.id);
      const again = await post(c.key, '/v1/subscriptions', body(), 'buy-once');
      expect(again.status).toBe(201);
      expect(again.text).toBe(first.text);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(await cash(c.key, c.id)).toBe(cashBefore);
      expect(starts).toBe(1);
    });

    it('the same key with another body, or on another route, is 422 IDEMPOTENCY.MISMATCH', async () => {
      const other = await post(c.key, '/v1/subscriptions', { ...body(), quantity: 2 }, 'buy-once');
      expect(other.status).toBe(422);
      expect(other.body.error.code).toBe('IDEMPOTENCY.MISMATCH');
      const elsewhere = await post(c.key, `/v1/accounts/${c.id}/top-ups`, { amount: '1.00' }, 'buy-once');
      expect(elsewhere.status).toBe(422);
      expect(elsewhere.body.error.code).toBe('IDEMPOTENCY.MISMATCH');
      expect(await w.db('subscriptions').where({ account_id: c.id }).count({ n: '*' })).toEqual([{ n: 1 }]);
      expect(starts).toBe(1);
    });

    it('a key belongs to its account: another tenant using the same key value gets its own purchase', async () => {
      const d = await w.newCustomer({ cash: '1000.00' });
      const theirs = await post(d.key, '/v1/subscriptions', purchase(d.id), 'buy-once');
      expect(theirs.status).toBe(201);
      expect(theirs.body.id).not.toBe(first.body.id);
      expect(theirs.body.account_id).toBe(d.id);
    });
  });

  it('a top-up sent twice (and 20 times at once) with one key credits the cash once', async () => {
    const c = await w.newCustomer();
    const a = await post(c.key, `/v1/accounts/${c.id}/top-ups`, { amount: '30.00' }, 'topup-1');
    const b = await post(c.key, `/v1/accounts/${c.id}/top-ups`, { amount: '30.00' }, 'topup-1');
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.text).toBe(a.text);
    expect(await cash(c.key, c.id)).toBe('30.00');
    const burst = await Promise.all(Array.from({ length: 20 }, () => post(c.key, `/v1/accounts/${c.id}/top-ups`, { amount: '5.00' }, 'topup-2')));
    expect(new Set(burst.map((r) => `${r.status} ${r.text}`)).size).toBe(1);
    expect(await cash(c.key, c.id)).toBe('35.00');
    expect(await w.db('ledger_transactions').where({ kind: 'topup' }).whereLike('idempotency_key', `%${c.id}%`).count({ n: '*' })).toEqual([{ n: 2 }]);
  });

  it('a first run that failed with a 5xx is not stored: the same key can be retried, and it takes effect once', async () => {
    const c = await w.newCustomer();
    let failures = 1;
    const flaky = new Proxy(w.payments, {
      get(target, p) {
        const v = Reflect.get(target, p, target);
        if (p === 'topUp') {
          return (...args: Parameters<typeof target.topUp>) => {
            if (failures-- > 0) return Promise.reject(new Error('database connection lost'));
            return target.topUp(...args);
          };
        }
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const flakyApp = createApp(deps({ payments: flaky }));
    const send = () => request(flakyApp).post(`/v1/accounts/${c.id}/top-ups`).set('Authorization', `Bearer ${c.key}`).set('Idempotency-Key', 'retry-me').send({ amount: '12.00' });
    const failed = await send();
    expect(failed.status).toBe(500);
    expect(failed.body.error.code).toBe('INTERNAL');
    expect(await w.db('idempotent_requests').where({ idempotency_key: 'retry-me' })).toHaveLength(0);
    const retried = await send();
    expect(retried.status).toBe(201);
    expect((await send()).text).toBe(retried.text);
    expect(await cash(c.key, c.id)).toBe('12.00');
  });

  it('a refusal (402) is stored and replayed like a success; a new key tries again', async () => {
    const c = await w.newCustomer({ cash: '1.00' });
    const refused = await post(c.key, '/v1/subscriptions', purchase(c.id), 'poor-1');
    expect(refused.status).toBe(402);
    await post(c.key, `/v1/accounts/${c.id}/top-ups`, { amount: '500.00' }, 'rich-1');
    const replayed = await post(c.key, '/v1/subscriptions', purchase(c.id), 'poor-1');
    expect(replayed.status).toBe(402);
    expect(replayed.text).toBe(refused.text);
    expect((await post(c.key, '/v1/subscriptions', purchase(c.id), 'poor-2')).status).toBe(201);
  });

  it('a claim left by a crashed process is taken over instead of blocking the key forever', async () => {
    const c = await w.newCustomer();
    const path = `/v1/accounts/${c.id}/top-ups`;
    // What a process that died between claiming the key and storing the answer leaves behind.
    const live = await post(c.key, path, { amount: '7.00' }, 'probe'); // same body hash as below
    const row = await w.db('idempotent_requests').where({ principal: c.id, idempotency_key: 'probe' }).first();
    await w.db('idempotent_requests').insert({ principal: c.id, idempotency_key: 'orphan', method: 'POST', path, body_hash: row.body_hash, created_at: w.db.raw(`now() - interval '10 minutes'`) });
    // The stored body hash covers the path and body, not the key, so the orphan matches this request.
    const t0 = Date.now();
    const res = await post(c.key, path, { amount: '7.00' }, 'orphan');
    expect(live.status).toBe(201);
    expect(res.status).toBe(201);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await cash(c.key, c.id)).toBe('14.00');
  });

  it('secrets are shown once: a replay of a key-creating request answers null and the store never holds the secret', async () => {
    const created = await post(OPERATOR_KEY, '/v1/accounts', { name: 'Replay Co' }, 'acct-1');
    expect(created.status).toBe(201);
    expect(created.body.api_key).toMatch(/^qf_live_/);
    const replay = await post(OPERATOR_KEY, '/v1/accounts', { name: 'Replay Co' }, 'acct-1');
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual({ ...created.body, api_key: null });

    const opKey = await post(OPERATOR_KEY, '/v1/operator-keys', { label: 'second operator' }, 'opkey-1');
    expect(opKey.status).toBe(201);
    expect((await post(OPERATOR_KEY, '/v1/operator-keys', { label: 'second operator' }, 'opkey-1')).body.secret).toBeNull();

    const stored = JSON.stringify(await w.db('idempotent_requests').select('response_body'));
    expect(stored).not.toContain(created.body.api_key);
    expect(stored).not.toContain(opKey.body.secret);
    // The secrets themselves work (they were shown once, and stored hashed).
    expect((await request(app).get(`/v1/accounts/${created.body.id}`).set('Authorization', `Bearer ${created.body.api_key}`)).status).toBe(200);
    expect(JSON.stringify(await w.db('api_keys').select())).not.toContain(created.body.api_key);
  });

  it('an Idempotency-Key that is empty or longer than 255 characters is 400', async () => {
    const c = await w.newCustomer();
    for (const key of ['', 'k'.repeat(256)]) {
      const res = await post(c.key, `/v1/accounts/${c.id}/top-ups`, { amount: '1.00' }, key);
      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION.IDEMPOTENCY_KEY']);
    }
    expect(await cash(c.key, c.id)).toBe('0.00');
  });
});
