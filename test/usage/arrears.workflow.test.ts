import { startOfLocalHour } from '../../billing/calendar';
import { saveHistory } from '../support/subscriptions';
import { ApiWorld, createApiWorld } from '../support/api';
import { aServer, CST, DAY, envClock, HOUR, nextLocalTime } from './support';

// R-U5 end to end on the time-skipping server: a failed settlement → grace (still running, still
// billed) → frozen (stopped, not billed) → released; a top-up that pays everything restores.
// A month of hourly settlements takes about a minute of real time.
jest.setTimeout(300_000);

describe('pay-per-use arrears (R-U5)', () => {
  let world: ApiWorld;
  const clock = envClock();
  const started: string[] = [];

  beforeAll(async () => {
    world = await createApiWorld({ clock });
    await clock.sync(world.env);
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((id) => world.env.client.workflow.getHandle(`account-${id}`).terminate('test done').catch(() => undefined)));
  });
  afterAll(async () => { await world?.close(); });

  const advanceTo = (at: number) => clock.advanceTo(world.env, at);
  const envNow = () => world.env.currentTimeMs();
  type Customer = { id: string; key: string };

  /** A customer with no money and no card, paying for enterprise protection from 10:00:30. */
  async function inArrearsSoon(): Promise<{ c: Customer; protectionId: string; enabledAt: number }> {
    const c = await world.newCustomer();
    started.push(c.id);
    const server = await aServer(world.db, c.id, { at: await envNow() });
    const enabledAt = nextLocalTime(await envNow() + HOUR, 10, 0, 30);
    await advanceTo(enabledAt);
    const on = await world.as(c.key).post('/v1/pay-per-use', { account_id: c.id, server_id: server, product: 'host-security', edition: 'enterprise', quantity: 1 }, `enable-${c.id}`);
    expect(on.status).toBe(201);
    return { c, protectionId: on.body.id, enabledAt };
  }

  async function arrears(c: Customer, until?: (body: any) => boolean) {
    for (let i = 0; ; i++) {
      const res = await world.as(c.key).get(`/v1/accounts/${c.id}/arrears`);
      expect(res.status).toBe(200);
      if (!until || until(res.body) || i >= 100) return res.body;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const protection = async (c: Customer, id: string) => (await world.as(c.key).get(`/v1/pay-per-use/${id}`)).body;
  const templates = async (c: Customer) => world.db('notifications').where({ account_id: c.id, channel: 'email' }).orderBy('id').pluck('template');
  const ms = (iso: string) => Date.parse(iso);

  it('grace for 15 days (still billed), frozen for 15 (not billed), then released; reminders daily', async () => {
    const { c, protectionId, enabledAt } = await inArrearsSoon();
    const ten = startOfLocalHour(enabledAt, CST);
    const settledAt = ten + HOUR + 60_000; // 11:01: the 10:00 hour (3570 s → 0.04) fails: no money, no card

    await advanceTo(settledAt + 4 * 60_000);
    const grace = await arrears(c, (b) => b.arrears_status !== 'none');
    expect(grace).toMatchObject({ arrears_status: 'grace', outstanding: '0.04' });
    const since = ms(grace.arrears_since); // the failed settlement (11:01, on the workflow clock)
    expect(since - settledAt).toBeGreaterThanOrEqual(0);
    expect(since - settledAt).toBeLessThan(1000);
    expect(ms(grace.grace_ends_at)).toBe(since + 15 * DAY); // R-A4 standard
    expect(ms(grace.frozen_ends_at)).toBe(since + 30 * DAY);
    const [first] = (await world.as(c.key).get(`/v1/accounts/${c.id}/bills`)).body.data;
    expect(first).toMatchObject({ total: '0.04', status: 'failed', failure: { code: 'PAYMENT.INSUFFICIENT_FUNDS' } });
    // R-U5: no new pay-per-use while in arrears.
    const other = await aServer(world.db, c.id, { at: await envNow() });
    const refused = await world.as(c.key).post('/v1/pay-per-use', { account_id: c.id, server_id: other, product: 'host-security', edition: 'enterprise', quantity: 1 });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('ACCOUNT.IN_ARREARS');

    // Grace: still running and still billed, every hour.
    await advanceTo(settledAt + 15 * DAY - 30 * 60_000);
    expect(await arrears(c)).toMatchObject({ arrears_status: 'grace', outstanding: '14.40' }); // 360 hours × 0.04
    expect((await protection(c, protectionId)).status).toBe('active');

    // Frozen: stopped, not billed.
    await advanceTo(settledAt + 15 * DAY + 3 * HOUR);
    // The last hour of grace (10:00, settled at 11:01 just before the freeze) is billed too: 361 × 0.04.
    expect(await arrears(c, (b) => b.arrears_status === 'frozen')).toMatchObject({ arrears_status: 'frozen', outstanding: '14.44' });
    expect((await protection(c, protectionId)).status).toBe('frozen');
    const recent = (await world.as(c.key).get(`/v1/accounts/${c.id}/bills?limit=3`)).body.data;
    expect(recent.map((b: any) => [b.hour_start.slice(11, 19), b.total, b.status])).toEqual([
      ['11:00:00', '0.00', 'paid'], // 60 s before the freeze at 11:01
      ['10:00:00', '0.04', 'unpaid'], // billed in grace, owed
      ['09:00:00', '0.04', 'unpaid'],
    ]);

    // Released after retention: the protection is disabled; what is owed stays owed.
    await advanceTo(settledAt + 30 * DAY + 5 * 60_000);
    expect(await arrears(c, (b) => b.arrears_status === 'released')).toMatchObject({ arrears_status: 'released', outstanding: '14.44' });
    const released = await protection(c, protectionId);
    expect(released.status).toBe('released');
    expect(ms(released.disabled_at)).toBe(since + 30 * DAY);
    expect(await templates(c)).toEqual([
      'usage.arrears_grace',
      ...Array(14).fill('usage.arrears_reminder'),
      'usage.arrears_frozen',
      ...Array(14).fill('usage.arrears_reminder'),
      'usage.arrears_released',
    ]);
    const sa = Object.fromEntries((await world.env.client.workflow.getHandle(`account-${c.id}`).describe()).typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    expect(sa).toMatchObject({ BillingAccountId: c.id, ArrearsStatus: 'released' });
  });

  it('a top-up in grace that pays the whole outstanding amount restores; one that does not, does not', async () => {
    const { c } = await inArrearsSoon();
    const settledAt = startOfLocalHour(await envNow(), CST) + HOUR + 60_000;
    await advanceTo(settledAt + 2 * HOUR + 4 * 60_000); // three failed hours
    expect(await arrears(c, (b) => b.outstanding === '0.12')).toMatchObject({ arrears_status: 'grace', outstanding: '0.12' });

    expect((await world.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: '0.10' }, `t1-${c.id}`)).status).toBe(201);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await arrears(c)).toMatchObject({ arrears_status: 'grace', outstanding: '0.12' }); // all or nothing

    expect((await world.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: '5.00' }, `t2-${c.id}`)).status).toBe(201);
    expect(await arrears(c, (b) => b.arrears_status === 'none')).toMatchObject({ arrears_status: 'none', outstanding: '0.00', grace_ends_at: null });
    const bills = (await world.as(c.key).get(`/v1/accounts/${c.id}/bills`)).body.data;
    expect(bills.map((b: any) => b.status)).toEqual(['paid', 'paid', 'paid']);
    expect(new Set(bills.map((b: any) => b.order_id)).size).toBe(1); // one charge for the whole amount
    expect((await world.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe('4.98');

    // Billed and collected normally again.
    await advanceTo(settledAt + 3 * HOUR + 4 * 60_000);
    const [latest] = (await world.as(c.key).get(`/v1/accounts/${c.id}/bills?limit=1`)).body.data;
    expect(latest).toMatchObject({ total: '0.04', status: 'paid' });
    expect(await templates(c)).toEqual(['usage.arrears_grace', 'usage.arrears_restored']);
    await saveHistory(world, `account-${c.id}`, undefined, 'ru5-account-top-up-in-grace');
  });

  it('a top-up while frozen restores the protection, which is billed again from then on', async () => {
    const { c, protectionId } = await inArrearsSoon();
    const settledAt = startOfLocalHour(await envNow(), CST) + HOUR + 60_000;
    await advanceTo(settledAt + 15 * DAY + 2 * HOUR + 30 * 60_000); // frozen since 11:01, now 13:31
    expect(await arrears(c, (b) => b.arrears_status === 'frozen')).toMatchObject({ arrears_status: 'frozen', outstanding: '14.44' });

    expect((await world.as(c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: '20.00' }, `t-${c.id}`)).status).toBe(201);
    expect(await arrears(c, (b) => b.arrears_status === 'none')).toMatchObject({ arrears_status: 'none', outstanding: '0.00' });
    expect((await protection(c, protectionId)).status).toBe('active');
    // R-I4's example: grace 15 days → resource.freeze; a top-up paying the whole debt → resource.unfreeze.
    // (the restore's read-model write may land just after the workflow answers the query)
    const readChanges = () => world.db('status_change_events').where({ account_id: c.id }).orderBy([{ column: 'created_at' }, { column: 'type' }]);
    let changes = await readChanges();
    for (let i = 0; i < 100 && changes.length < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      changes = await readChanges();
    }
    expect(changes.map((e) => e.type)).toEqual(['arrears.grace', 'arrears.frozen', 'resource.freeze', 'arrears.restored', 'resource.unfreeze']);
    expect(changes[2].data).toMatchObject({ account_id: c.id, scope: 'pay_per_use', arrears_status: 'frozen', outstanding: '14.44' });

    await advanceTo(settledAt + 15 * DAY + 4 * HOUR + 4 * 60_000); // 15:05: the 13:00 and 14:00 hours are settled
    const [fourteen, thirteen, eleven] = (await world.as(c.key).get(`/v1/accounts/${c.id}/bills?limit=3`)).body.data;
    expect(eleven.hour_start.slice(11, 19)).toBe('11:00:00'); // no bill for 12:00: frozen, not billed
    expect(thirteen.hour_start.slice(11, 19)).toBe('13:00:00');
    const [line] = (await world.as(c.key).get(`/v1/accounts/${c.id}/bills/${thirteen.id}`)).body.lines;
    expect(Math.abs(line.seconds - 29 * 60)).toBeLessThanOrEqual(2); // restored at ~13:31
    expect(fourteen).toMatchObject({ total: '0.04', status: 'paid' });
    expect(thirteen).toMatchObject({ total: '0.02', status: 'paid' }); // ~1740 s × 0.04/3600 = 0.019…
    expect((await world.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe('5.50'); // 20.00 − 14.44 − 0.02 − 0.04
  });
});
