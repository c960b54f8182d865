import { ApiWorld, createApiWorld } from '../support/api';
import { aServer, envClock } from '../usage/support';

// The pay-per-use routes over HTTP (API.md): validation record by record, tenant isolation,
// catalog refusals, package purchase through the account workflow, pagination.
describe('pay-per-use API (R-U1, R-U3, R-U4, R-I1)', () => {
  let world: ApiWorld;
  const clock = envClock();
  const started: string[] = [];

  beforeAll(async () => {
    world = await createApiWorld({ clock });
    await clock.sync(world.env);
  });
  afterAll(async () => {
    await Promise.all(started.map((id) => world.env.client.workflow.getHandle(`account-${id}`).terminate('test done').catch(() => undefined)));
    await world?.close();
  });

  async function customer(cash?: string) {
    const c = await world.newCustomer(cash ? { cash } : {});
    started.push(c.id);
    return c;
  }
  const now = () => clock.now().getTime();
  const record = (accountId: string, id: string, over: Record<string, unknown> = {}) => ({
    id, account_id: accountId, resource_id: 'img_1', metric: 'image_scans', quantity: '1',
    period_start: new Date(now() - 120_000).toISOString(), period_end: new Date(now() - 60_000).toISOString(), ...over,
  });

  it('validates each record on its own and answers one result per record, in order', async () => {
    const c = await customer();
    const other = await customer();
    // One object sent twice: the clock moves between calls to record(), and a record id sent
    // again with different content is a conflict, not a duplicate (R-U3).
    const ok = record(c.id, 'ok-1');
    const res = await world.as(c.key).post('/v1/usage-records', { records: [
      ok,
      record(c.id, 'bad-qty', { quantity: '-1' }),
      record(c.id, 'extra', { colour: 'red' }),
      record(c.id, 'metric', { metric: 'cpu_hours' }),
      record(other.id, 'foreign'), // another tenant's account: not found
      record(c.id, 'order', { period_start: new Date(now()).toISOString(), period_end: new Date(now() - 60_000).toISOString() }),
      record(c.id, 'future', { period_end: new Date(now() + 3_600_000).toISOString() }),
      { nonsense: true },
      ok, // the same record twice in one batch
    ] });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: any) => [r.id, r.status, r.error?.code])).toEqual([
      ['ok-1', 'accepted', undefined],
      ['bad-qty', 'rejected', 'VALIDATION.RECORD'],
      ['extra', 'rejected', 'VALIDATION.RECORD'],
      ['metric', 'rejected', 'USAGE.UNKNOWN_METRIC'],
      ['foreign', 'rejected', 'NOT_FOUND'],
      ['order', 'rejected', 'USAGE.PERIOD_ORDER'],
      ['future', 'rejected', 'USAGE.IN_FUTURE'],
      [null, 'rejected', 'VALIDATION.RECORD'],
      ['ok-1', 'duplicate', undefined],
    ]);
    expect(await world.db('usage_records').where({ account_id: other.id })).toHaveLength(0);
  });

  it('refuses a batch over the limit or without records, and states the limit in the OpenAPI document', async () => {
    const c = await customer();
    const big = await world.as(c.key).post('/v1/usage-records', { records: Array.from({ length: 1001 }, (_, i) => record(c.id, `r${i}`)) });
    expect(big.status).toBe(400);
    expect(big.body.error.code).toBe('VALIDATION.BODY');
    expect((await world.as(c.key).post('/v1/usage-records', { records: [] })).status).toBe(400);
    const doc = (await world.op().get('/v1/openapi.json')).body;
    const op = doc.paths['/v1/usage-records'].post;
    expect(JSON.stringify(op.requestBody)).toContain('At most 1000 usage records');
    expect(doc.paths['/v1/pay-per-use/{id}'].delete).toBeDefined();
    expect(doc.paths['/v1/accounts/{id}/bills/{bill_id}'].get).toBeDefined();
  });

  it('enables pay-per-use only for editions the catalog offers it for, on the owner\'s own servers', async () => {
    const c = await customer();
    const other = await customer();
    const server = await aServer(world.db, c.id, { at: now() });
    const container = await aServer(world.db, c.id, { at: now(), kind: 'container' });
    const foreign = await aServer(world.db, other.id, { at: now() });
    const enable = (body: Record<string, unknown>, key = c.key) => world.as(key).post('/v1/pay-per-use', { account_id: c.id, server_id: server, product: 'host-security', edition: 'enterprise', quantity: 1, ...body });

    expect((await enable({ edition: 'basic' })).body.error.code).toBe('CATALOG.MODE_NOT_OFFERED'); // R-C1: no pay-per-use price
    expect((await enable({ product: 'workload-protection', edition: 'pro' })).status).toBe(422);
    expect((await enable({ edition: 'wtp', server_id: container })).body.error.code).toBe('PAY_PER_USE.SERVER_KIND');
    expect((await enable({ server_id: foreign })).status).toBe(404);
    expect((await enable({ quantity: 0 })).status).toBe(400);
    expect((await enable({}, other.key)).status).toBe(404); // another tenant's account

    const on = await enable({}, c.key);
    expect(on.status).toBe(201);
    expect((await enable({})).body.error.code).toBe('PAY_PER_USE.ALREADY_ENABLED');
    expect((await world.as(other.key).get(`/v1/pay-per-use/${on.body.id}`)).status).toBe(404);
    expect((await world.as(other.key).delete(`/v1/pay-per-use/${on.body.id}`)).status).toBe(404);
    const off = await world.as(c.key).delete(`/v1/pay-per-use/${on.body.id}`);
    expect(off.body.status).toBe('disabled');
    const again = await world.as(c.key).delete(`/v1/pay-per-use/${on.body.id}`);
    expect(again.body.disabled_at).toBe(off.body.disabled_at); // disabling twice changes nothing
    expect((await enable({})).status).toBe(201); // on again after off
  });

  it('R-U4: buys packages through the payment engine (402 and nothing bought when it fails); lists them with what is left', async () => {
    const poor = await customer();
    const body = (accountId: string, over: Record<string, unknown> = {}) => ({ account_id: accountId, metric: 'image_scans', content: '1000', count: 3, term: { unit: 'month', count: 1 }, reset: 'none', ...over });
    const refused = await world.as(poor.key).post('/v1/usage-packages', body(poor.id), `pk-${poor.id}`);
    expect(refused.status).toBe(402);
    expect(refused.body.error.code).toBe('PAYMENT.INSUFFICIENT_FUNDS');
    expect(await world.db('usage_packages').where({ account_id: poor.id })).toHaveLength(0);

    const c = await customer('500.00');
    expect((await world.as(c.key).post('/v1/usage-packages', body(c.id, { count: 31 }))).status).toBe(400); // R-U4: at most 30
    expect((await world.as(c.key).post('/v1/usage-packages', body(c.id, { reset: 'yearly' }))).status).toBe(400); // yearly needs whole years
    expect((await world.as(c.key).post('/v1/usage-packages', body(c.id, { metric: 'cpu_hours' }))).body.error.code).toBe('USAGE.UNKNOWN_METRIC');
    const bought = await world.as(c.key).post('/v1/usage-packages', body(c.id), `pk-${c.id}`);
    expect(bought.status).toBe(201);
    expect(bought.body).toMatchObject({ amount: '300.00' }); // 3 × 1000 scans × 0.10
    expect(bought.body.packages).toHaveLength(3);
    expect(bought.body.packages[0]).toMatchObject({ metric: 'image_scans', content: '1000', remaining: '1000', reset: 'none', status: 'active', next_reset_at: null });
    const replay = await world.as(c.key).post('/v1/usage-packages', body(c.id), `pk-${c.id}`);
    expect(replay.body.purchase_id).toBe(bought.body.purchase_id); // Idempotency-Key: paid once
    expect((await world.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe('200.00');

    const monthly = await world.as(c.key).post('/v1/usage-packages', body(c.id, { content: '10', count: 1, term: { unit: 'month', count: 3 }, reset: 'monthly' }), `pk2-${c.id}`);
    expect(monthly.body.amount).toBe('3.00');
    expect(monthly.body.packages[0].next_reset_at).not.toBeNull();

    const page1 = await world.as(c.key).get(`/v1/accounts/${c.id}/usage-packages?limit=2`);
    expect(page1.body.data).toHaveLength(2);
    const page2 = await world.as(c.key).get(`/v1/accounts/${c.id}/usage-packages?limit=2&cursor=${page1.body.next_cursor}`);
    expect(page2.body.data).toHaveLength(2);
    expect(page2.body.next_cursor).toBeNull();
    expect((await world.as(poor.key).get(`/v1/accounts/${c.id}/usage-packages`)).status).toBe(404);
    expect((await world.as(poor.key).get(`/v1/accounts/${c.id}/bills`)).status).toBe(404);
    expect((await world.as(c.key).get(`/v1/accounts/${c.id}/arrears`)).body).toMatchObject({ arrears_status: 'none', outstanding: '0.00' });
  });
});
