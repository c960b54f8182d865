import { startOfLocalHour } from '../../billing/calendar';
import { getAccountStateQuery } from '../../workflows/account.messages';
import { ApiWorld, createApiWorld } from '../support/api';
import { aServer, CST, envClock, fmt, HOUR, nextLocalTime, setPower } from './support';
import { saveHistory } from '../support/subscriptions';

// The account workflow end to end: the API writes the facts, the workflow settles every hour on
// the time-skipping server (R-U1, R-U2, R-U3), with the API's clock following the server's.
describe('account workflow: hourly pay-per-use settlement', () => {
  let world: ApiWorld;
  const clock = envClock();
  const started: string[] = [];

  beforeAll(async () => {
    world = await createApiWorld({ clock });
    await clock.sync(world.env);
  });
  afterEach(async () => {
    // A settled test's account keeps settling every hour; stop it so later skips stay fast.
    await Promise.all(started.splice(0).map((id) => world.env.client.workflow.getHandle(`account-${id}`).terminate('test done').catch(() => undefined)));
  });
  afterAll(async () => { await world?.close(); });

  const advanceTo = (at: number) => clock.advanceTo(world.env, at);
  const envNow = () => world.env.currentTimeMs();

  async function customer(cash?: string) {
    const c = await world.newCustomer(cash ? { cash } : {});
    started.push(c.id);
    return c;
  }

  /** The account's bills once the settlement of `hourStart` is done (polls: activities run in real time). */
  async function billsAfter(c: { id: string; key: string }, hourStart: number) {
    for (let i = 0; i < 100; i++) {
      const state = await world.env.client.workflow.getHandle(`account-${c.id}`).query(getAccountStateQuery);
      if (state.nextHour > hourStart) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const res = await world.as(c.key).get(`/v1/accounts/${c.id}/bills`);
    expect(res.status).toBe(200);
    return res.body.data as any[];
  }
  const lines = async (c: { id: string; key: string }, billId: string) => (await world.as(c.key).get(`/v1/accounts/${c.id}/bills/${billId}`)).body.lines as any[];

  it('R-U1 example: enabled 09:59:30, disabled 10:45:46 → two bills, 30 s and 2746 s at enterprise 0.040000/h: 0.00 and 0.03', async () => {
    const c = await customer('10.00');
    const enableAt = nextLocalTime(await envNow() + 3 * HOUR, 9, 59, 30);
    const disableAt = enableAt + 46 * 60_000 + 16_000; // 10:45:46
    const server = await aServer(world.db, c.id, { at: await envNow() });

    await advanceTo(enableAt);
    const on = await world.as(c.key).post('/v1/pay-per-use', { account_id: c.id, server_id: server, product: 'host-security', edition: 'enterprise', quantity: 1 }, `enable-${c.id}`);
    expect(on.status).toBe(201);
    expect(on.body).toMatchObject({ server_id: server, edition: 'enterprise', billing_mode: 'pay_per_use', hourly_price: '0.040000', status: 'active', disabled_at: null });
    expect(on.body.enabled_at).toMatch(/T09:59:30\.\d{3}\+08:00$/);

    await advanceTo(disableAt);
    const off = await world.as(c.key).delete(`/v1/pay-per-use/${on.body.id}`);
    expect(off.status).toBe(200);
    expect(off.body.disabled_at).toMatch(/T10:45:46\.\d{3}\+08:00$/);

    const nine = startOfLocalHour(enableAt, CST);
    await advanceTo(nine + 2 * HOUR + 5 * 60_000); // 11:05: both hours settled (R-U2)
    const bills = await billsAfter(c, nine + HOUR);
    expect(bills.map((b) => [b.hour_start.slice(11, 19), b.total, b.status])).toEqual([
      ['10:00:00', '0.03', 'paid'],
      ['09:00:00', '0.00', 'paid'], // 0.000333… rounds to 0.00: nothing to collect
    ]);
    const [ten, nineBill] = bills;
    expect((await lines(c, nineBill.id)).map((l) => [l.kind, l.resource_id, l.seconds, l.unit_price, l.quantity, l.amount])).toEqual([['protection', server, 30, '0.040000', '1', '0.000333']]);
    expect((await lines(c, ten.id)).map((l) => [l.kind, l.resource_id, l.seconds, l.unit_price, l.quantity, l.amount])).toEqual([['protection', server, 2746, '0.040000', '1', '0.030511']]);
    expect(nineBill.order_id).toBeNull();
    expect((await world.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe('9.97');
    // R-U2: collected without coupons, under the hour's business key (R-P5).
    const order = (await world.as(c.key).get(`/v1/orders/${ten.order_id}`)).body;
    expect(order).toMatchObject({ kind: 'usage_settlement', due: '0.03', coupon: '0.00', cash: '0.03', idempotency_key: `account:${c.id}:hour:${nine + HOUR}` });

    // R-I2: ops find the workflow by account id and arrears status.
    const desc = await world.env.client.workflow.getHandle(`account-${c.id}`).describe();
    const sa = Object.fromEntries(desc.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    expect(sa).toMatchObject({ BillingAccountId: c.id, ArrearsStatus: 'none' });
    await saveHistory(world, `account-${c.id}`, undefined, 'ru1-account-settles-two-hours');
  });

  it('R-U4 "720 quota-hours": the R-U1 example is drawn from an enterprise quota-hour package over HTTP; nothing more is charged', async () => {
    const c = await customer('50.00');
    const metric = 'quota_hours.host-security.enterprise';
    const refused = await world.as(c.key).post('/v1/usage-packages', { account_id: c.id, metric: 'quota_hours.host-security.basic', content: '720', count: 1, term: { unit: 'month', count: 1 }, reset: 'none' });
    expect(refused.status).toBe(422); // basic has no pay-per-use price (R-C1): no quota-hours either
    expect(refused.body.error).toMatchObject({ code: 'USAGE.UNKNOWN_METRIC', details: { metrics: expect.arrayContaining(['image_scans', metric]) } });
    const asRecord = await world.as(c.key).post('/v1/usage-records', { records: [{ id: 'qh-1', account_id: c.id, resource_id: 'srv', metric, quantity: '1', period_start: new Date(await envNow() - 120_000).toISOString(), period_end: new Date(await envNow() - 60_000).toISOString() }] });
    expect(asRecord.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'USAGE.UNKNOWN_METRIC' } }); // protection accrues by the second (R-U1), not from records

    const bought = await world.as(c.key).post('/v1/usage-packages', { account_id: c.id, metric, content: '720', count: 1, term: { unit: 'month', count: 1 }, reset: 'none' }, `qh-${c.id}`);
    expect(bought.status).toBe(201);
    expect(bought.body.amount).toBe('28.80'); // 720 quota-hours × 0.040000
    expect(bought.body.packages[0]).toMatchObject({ metric, content: '720', remaining: '720' });

    const enableAt = nextLocalTime(await envNow() + 3 * HOUR, 9, 59, 30);
    const server = await aServer(world.db, c.id, { at: await envNow() });
    await advanceTo(enableAt);
    const on = await world.as(c.key).post('/v1/pay-per-use', { account_id: c.id, server_id: server, product: 'host-security', edition: 'enterprise', quantity: 1 }, `enable-${c.id}`);
    expect(on.status).toBe(201);
    await advanceTo(enableAt + 46 * 60_000 + 16_000); // 10:45:46
    expect((await world.as(c.key).delete(`/v1/pay-per-use/${on.body.id}`)).status).toBe(200);

    const nine = startOfLocalHour(enableAt, CST);
    await advanceTo(nine + 2 * HOUR + 5 * 60_000);
    const bills = await billsAfter(c, nine + HOUR);
    expect(bills.map((b) => [b.hour_start.slice(11, 19), b.total, b.status])).toEqual([['10:00:00', '0.00', 'paid'], ['09:00:00', '0.00', 'paid']]);
    expect((await lines(c, bills[0].id)).map((l) => [l.seconds, l.covered, l.amount])).toEqual([[2746, '2746', '0.000000']]); // quota-seconds
    const left = (await world.as(c.key).get(`/v1/accounts/${c.id}/usage-packages`)).body.data[0];
    expect(left.remaining).toBe('719.228889'); // 720 h − 2776 s, shown in quota-hours
    expect((await world.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe('21.20'); // only the package was paid
  });

  it('R-U1: a stop between enable and disable is not billed', async () => {
    const c = await customer('10.00');
    const server = await aServer(world.db, c.id, { at: await envNow() });
    const t0 = nextLocalTime(await envNow() + HOUR, 14, 10); // 14:10
    await advanceTo(t0);
    const on = await world.as(c.key).post('/v1/pay-per-use', { account_id: c.id, server_id: server, product: 'host-security', edition: 'premium', quantity: 2 }, `enable-${c.id}`);
    expect(on.status).toBe(201);
    await advanceTo(t0 + 10 * 60_000); // 14:20 stopped
    await setPower(world.db, server, 'stopped', clock.now().getTime());
    await advanceTo(t0 + 30 * 60_000); // 14:40 running again
    await setPower(world.db, server, 'running', clock.now().getTime());
    await advanceTo(t0 + 40 * 60_000); // 14:50 disabled
    expect((await world.as(c.key).delete(`/v1/pay-per-use/${on.body.id}`)).status).toBe(200);
    const hour = startOfLocalHour(t0, CST);
    await advanceTo(hour + HOUR + 5 * 60_000);
    const [bill] = await billsAfter(c, hour);
    // 14:10–14:20 and 14:40–14:50 = 1200 s (± the sub-second of each API call, R-U1 truncates to whole seconds)
    const [line] = await lines(c, bill.id);
    expect(line.quantity).toBe('2');
    expect(Math.abs(line.seconds - 1200)).toBeLessThanOrEqual(1);
    expect(bill.total).toBe('0.04'); // 1200 s × 2 × 0.06/3600
  });

  it('R-U2 at rest: an idle account settles no empty hours; enabling pay-per-use wakes it and the new hours are billed', async () => {
    const c = await customer('10.00');
    const server = await aServer(world.db, c.id, { at: await envNow() });
    const enableAt = nextLocalTime(await envNow() + HOUR, 9, 10);
    await advanceTo(enableAt);
    const on = await world.as(c.key).post('/v1/pay-per-use', { account_id: c.id, server_id: server, product: 'host-security', edition: 'enterprise', quantity: 1 }, `on1-${c.id}`);
    await advanceTo(enableAt + 30 * 60_000); // 09:40
    await world.as(c.key).delete(`/v1/pay-per-use/${on.body.id}`);

    const nine = startOfLocalHour(enableAt, CST);
    await advanceTo(nine + 12 * HOUR + 30 * 60_000); // 21:30: twelve hours later
    const handle = world.env.client.workflow.getHandle(`account-${c.id}`);
    const state = await handle.query(getAccountStateQuery);
    expect(state).toMatchObject({ resting: true, nextSettlementAt: null, nextHour: nine + HOUR });
    const settlements = async () => (await handle.fetchHistory()).events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'settleUsageHour').length;
    // 07:00, 08:00 (R-U3 starts 2 h back) and 09:00 at most (the first may find the account idle
    // before the enable commits: it rests at once and the enable wakes it); none while at rest.
    const before = await settlements();
    expect(before).toBeLessThanOrEqual(3);
    expect((await world.as(c.key).get(`/v1/accounts/${c.id}/arrears`)).body.next_settlement_at).toBeNull();

    const again = await world.as(c.key).post('/v1/pay-per-use', { account_id: c.id, server_id: server, product: 'host-security', edition: 'enterprise', quantity: 1 }, `on2-${c.id}`);
    expect(again.status).toBe(201);
    const nineteen = nine + 12 * HOUR; // 21:00 local
    await advanceTo(nineteen + HOUR + 5 * 60_000); // 22:05: the 21:00 hour is settled
    const bills = await billsAfter(c, nineteen);
    expect(bills.map((b) => [b.hour_start.slice(11, 19), b.total])).toEqual([['21:00:00', '0.02'], ['09:00:00', '0.02']]); // 1800 s each at 0.04/h
    expect(await settlements()).toBe(before + 1); // woken: only the 21:00 hour
    expect((await handle.query(getAccountStateQuery)).resting).toBe(false); // protection still on
    await saveHistory(world, `account-${c.id}`, undefined, 'ru2-account-rests-and-wakes');
  });

  it('R-U3: a record 2 h 1 min late is refused, one 1 h 59 min late is accepted and billed in the next settlement; a re-sent batch changes no total', async () => {
    const c = await customer('10.00');
    const t0 = nextLocalTime(await envNow() + HOUR, 8, 5); // 08:05
    await advanceTo(t0);
    const onTime = { id: 'scan-0001', account_id: c.id, resource_id: 'img_web', metric: 'image_scans', quantity: '2', period_start: new Date(t0 - 120_000).toISOString(), period_end: new Date(t0 - 60_000).toISOString() };
    const first = await world.as(c.key).post('/v1/usage-records', { records: [onTime] });
    expect(first.status).toBe(200);
    expect(first.body.results).toEqual([{ id: 'scan-0001', status: 'accepted' }]);

    const x = t0 + 3 * HOUR + 25 * 60_000; // 11:30: the hours up to 10:00 are settled
    await advanceTo(x);
    const record = (id: string, endsBefore: number) => ({ id, account_id: c.id, resource_id: 'img_api', metric: 'image_scans', quantity: '3', period_start: new Date(x - endsBefore - 60_000).toISOString(), period_end: new Date(x - endsBefore).toISOString() });
    const batch = { records: [record('scan-late-121', 121 * 60_000), record('scan-late-119', 119 * 60_000), onTime] };
    const late = await world.as(c.key).post('/v1/usage-records', batch);
    expect(late.status).toBe(200);
    expect(late.body.results).toEqual([
      { id: 'scan-late-121', status: 'rejected', error: { code: 'USAGE.TOO_LATE', message: expect.stringContaining('2 hours') } },
      { id: 'scan-late-119', status: 'accepted' },
      { id: 'scan-0001', status: 'duplicate' },
    ]);
    const stored = await world.db('usage_records').where({ account_id: c.id, id: 'scan-late-119' }).first();
    expect(fmt(stored.settlement_hour.getTime()).slice(11)).toBe('11:00:00'); // its 09:00 hour was settled at 10:01

    const again = await world.as(c.key).post('/v1/usage-records', batch); // re-sent
    expect(again.body.results.map((r: any) => r.status)).toEqual(['rejected', 'duplicate', 'duplicate']);

    const eleven = startOfLocalHour(x, CST);
    await advanceTo(eleven + HOUR + 5 * 60_000);
    const bills = await billsAfter(c, eleven);
    expect(bills.map((b) => [b.hour_start.slice(11, 19), b.total])).toEqual([['11:00:00', '0.30'], ['08:00:00', '0.20']]);
    expect((await lines(c, bills[0].id)).map((l) => [l.kind, l.resource_id, l.metric, l.quantity, l.unit_price, l.amount])).toEqual([['usage', 'img_api', 'image_scans', '3', '0.100000', '0.300000']]);
    expect((await world.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe('9.50');
  });
});
