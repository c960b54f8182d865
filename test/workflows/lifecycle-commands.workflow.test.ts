import { WorkflowUpdateFailedError } from '@temporalio/client';
import { newId } from '../../common/ids';
import { renewUpdate, topUpSignal, unsubscribeUpdate, upgradeUpdate } from '../../workflows/subscription.messages';
import { advanceTo, advanceToLocalHour, buy, DAY, events, fmt, local, saveHistory } from '../support/subscriptions';
import { anAccount, createWorld, World } from '../support/world';

// R-S5, R-S6, R-S7, R-S9, R-S11, R-S12, R-S2 through the real workflow (time-skipping server).
describe('subscription commands (R-S2, R-S5, R-S6, R-S9, R-S11, R-S12)', () => {
  let world: World;
  beforeAll(async () => { world = await createWorld(); });
  afterAll(async () => { await world?.close(); });

  const month = { unit: 'month' as const, count: 1 };

  /** A server bound to the subscription, to watch R-Q4 unbind/restore/delete. */
  async function bindServer(accountId: string, subscriptionId: string): Promise<string> {
    const serverId = newId('srv');
    await world.db('servers').insert({ id: serverId, account_id: accountId, region: 'cn-hangzhou', kind: 'host', agent: 'online', power: 'running' });
    const id = newId('bnd');
    await world.db('bindings').insert({ id, subscription_id: subscriptionId, server_id: serverId });
    return id;
  }
  const binding = (id: string) => world.db('bindings').where({ id }).first();

  it('R-S5 / R-S7 / R-Q4: manual renewal in grace and in frozen returns to active, restoring the binding; refused once released', async () => {
    const accountId = await anAccount(world, { cash: '25.00' });
    const sub = await buy(world, { accountId });
    const bindingId = await bindServer(accountId, sub.id);
    const { expiresAt } = await sub.state();

    // In grace: renew one month → active, expiry extended from the old expiry (R-S4).
    await advanceTo(world, expiresAt + DAY);
    expect((await sub.state()).status).toBe('grace');
    await world.payments.topUp({ accountId, amount: '25.00', idempotencyKey: `t1:${sub.id}` });
    const r1 = await sub.handle.executeUpdate(renewUpdate, { args: [{ term: month, requestKey: 'r1' }] });
    expect(r1.ok).toBe(true);
    expect(r1.view.status).toBe('active');
    expect(r1.view.expiresAt).toBe(local(expiresAt).plus({ months: 1 }).toMillis());

    // Let it lapse again into frozen: protection stops, the binding is remembered.
    await advanceTo(world, r1.view.expiresAt + 16 * DAY);
    expect((await sub.state()).status).toBe('frozen');
    expect((await binding(bindingId)).suspended_at).not.toBeNull();
    await world.payments.topUp({ accountId, amount: '25.00', idempotencyKey: `t2:${sub.id}` });
    const r2 = await sub.handle.executeUpdate(renewUpdate, { args: [{ term: month, requestKey: 'r2' }] });
    expect(r2.view.status).toBe('active');
    expect(r2.view.expiresAt).toBe(local(expiresAt).plus({ months: 2 }).toMillis());
    expect((await binding(bindingId)).suspended_at).toBeNull(); // R-Q4 restored, same server

    // The same request key again pays nothing more (R-P5).
    const again = await sub.handle.executeUpdate(renewUpdate, { args: [{ term: month, requestKey: 'r2' }] });
    expect(again.ok).toBe(true);
    expect((await world.payments.getBalances(accountId)).cash).toBe('0.00');

    // Released: renewal refused, binding deleted (R-S8).
    const end = (await sub.state()).expiresAt;
    await advanceTo(world, end + 31 * DAY);
    expect((await sub.handle.result()).status).toBe('released');
    expect((await binding(bindingId)).deleted_at).not.toBeNull();
    await expect(sub.handle.executeUpdate(renewUpdate, { args: [{ term: month, requestKey: 'r3' }] })).rejects.toThrow();
    await saveHistory(world, `subscription-${sub.id}`, undefined, 'rs5-manual-renewal-grace-frozen-released');
  });

  it('R-S6: a top-up during grace with auto-renew on renews at once', async () => {
    await advanceToLocalHour(world, 10); // 8 attempts: bought after that day's 03:00
    const accountId = await anAccount(world, { cash: '25.00' });
    const sub = await buy(world, { accountId, autoRenew: true });
    const { expiresAt } = await sub.state();
    await advanceTo(world, expiresAt + 3 * DAY);
    const grace = await sub.state();
    expect(grace.status).toBe('grace');
    expect(grace.attemptsThisTerm).toBe(8); // the daily attempts all failed (no money, no card)

    await world.payments.topUp({ accountId, amount: '30.00', idempotencyKey: `t:${sub.id}` });
    const topUpAt = await world.env.currentTimeMs();
    await sub.handle.signal(topUpSignal, { amount: '30.00' });
    await world.env.sleep(1000);
    const after = await sub.state();
    expect(after.status).toBe('active');
    expect(after.expiresAt).toBe(local(expiresAt).plus({ months: 1 }).toMillis());
    const renewed = await world.db('subscription_events').where({ subscription_id: sub.id, type: 'renewed' }).first();
    expect(renewed.details).toMatchObject({ trigger: 'top_up' });
    await saveHistory(world, `subscription-${sub.id}`, sub.handle.firstExecutionRunId, 'rs6-top-up-in-grace');
    expect(Math.abs(new Date(renewed.at).getTime() - topUpAt)).toBeLessThan(5000);
    expect((await world.payments.getBalances(accountId)).cash).toBe('5.00');
  });

  it('R-S9 isolate policy: a failed deduction at expiry unbinds at once, isolates 30 days, then terminates', async () => {
    const accountId = await anAccount(world, { cash: '12.00' });
    const sub = await buy(world, { accountId, product: 'workload-protection', edition: 'pro', autoRenew: true });
    expect(sub.outcome.ok).toBe(true);
    const bindingId = await bindServer(accountId, sub.id);
    const { expiresAt, forecast } = await sub.state();
    expect(forecast.frozenEndsAt).toBe(expiresAt + 30 * DAY);

    await advanceTo(world, expiresAt + 1000);
    const isolated = await sub.state();
    expect(isolated.status).toBe('isolated');
    expect((await binding(bindingId)).suspended_at).not.toBeNull(); // protection stopped at once
    await advanceTo(world, expiresAt + 30 * DAY + 1000);
    expect(await sub.handle.result()).toEqual({ subscriptionId: sub.id, status: 'released' });
    expect(await events(world, sub.id, ['isolated', 'released'])).toEqual([
      ['isolated', fmt(expiresAt)],
      ['released', fmt(expiresAt + 30 * DAY)],
    ]);
    expect((await binding(bindingId)).deleted_at).not.toBeNull();
    await saveHistory(world, `subscription-${sub.id}`, undefined, 'rs9-isolated-released');
  });

  it('R-S9: renewal during isolation restores the license', async () => {
    const accountId = await anAccount(world, { cash: '12.00' });
    const sub = await buy(world, { accountId, product: 'workload-protection', edition: 'pro', autoRenew: true });
    const bindingId = await bindServer(accountId, sub.id);
    const { expiresAt } = await sub.state();
    await advanceTo(world, expiresAt + 5 * DAY);
    await world.payments.topUp({ accountId, amount: '12.00', idempotencyKey: `t:${sub.id}` });
    await sub.handle.signal(topUpSignal, { amount: '12.00' }); // auto-renew on → immediate attempt
    await world.env.sleep(1000);
    expect((await sub.state()).status).toBe('active');
    expect((await binding(bindingId)).suspended_at).toBeNull();
  });

  it('R-S11 example: 2 pro licenses × 12 months, paid 259.20 after 10% off, unsubscribed after exactly 3 months → 187.20 back to cash', async () => {
    const accountId = await anAccount(world, { cash: '259.20' });
    const now = await world.env.currentTimeMs();
    await world.payments.issueDiscount({ accountId, kind: 'commercial', percentOff: '10', effectiveAt: new Date(now - DAY), expiresAt: new Date(now + 400 * DAY) });
    const sub = await buy(world, { accountId, product: 'workload-protection', edition: 'pro', quantity: 2, term: { unit: 'month', count: 12 } });
    expect(sub.outcome.ok).toBe(true);
    const order = await world.db('orders').where({ id: sub.outcome.orderId }).first();
    expect([order.list_amount, order.due]).toEqual(['288.00', '259.20']);
    expect((await world.payments.getBalances(accountId)).cash).toBe('0.00');

    const { startedAt } = await sub.state();
    await advanceTo(world, local(startedAt).plus({ months: 3 }).toMillis());
    const result = await sub.handle.executeUpdate(unsubscribeUpdate, { args: [{ requestKey: 'u1' }] });
    expect(result.refund).toBe('187.20');
    expect(result.view.status).toBe('unsubscribed');
    expect((await world.payments.getBalances(accountId)).cash).toBe('187.20');
    expect(await sub.handle.result()).toEqual({ subscriptionId: sub.id, status: 'unsubscribed' });
    const notes = await world.db('notifications').where({ subscription_id: sub.id, channel: 'email' }).pluck('template');
    expect(notes).toContain('subscription.refund');
    await saveHistory(world, `subscription-${sub.id}`, undefined, 'rs11-unsubscribe-refund');
  });

  it('R-S2: a second trial for the same account is refused', async () => {
    const accountId = await anAccount(world);
    const first = await buy(world, { accountId, product: 'host-security', edition: 'basic', trial: true });
    expect(first.outcome.ok).toBe(true);
    const trial = await first.state();
    expect(trial.status).toBe('trial');
    expect(trial.expiresAt - trial.startedAt).toBe(30 * DAY);
    const second = await buy(world, { accountId, product: 'host-security', edition: 'basic', trial: true });
    expect(second.outcome).toMatchObject({ ok: false, code: 'SUBSCRIPTION.TRIAL_USED' });
    expect(await world.db('subscriptions').where({ id: second.id })).toHaveLength(0);
  });

  it('R-S2: at trial end it is handled like an expiry (no auto-renew → grace)', async () => {
    const accountId = await anAccount(world);
    const sub = await buy(world, { accountId, product: 'host-security', edition: 'basic', trial: true });
    const { expiresAt } = await sub.state();
    await advanceTo(world, expiresAt + 1000);
    expect((await sub.state()).status).toBe('grace');
  });

  it('R-S12: pro → ultimate pays the pro-rata difference; ultimate → pro is refused', async () => {
    const accountId = await anAccount(world, { cash: '500.00' });
    const sub = await buy(world, { accountId, product: 'workload-protection', edition: 'pro', quantity: 1, term: { unit: 'month', count: 12 } });
    const { startedAt } = await sub.state();
    await advanceTo(world, local(startedAt).plus({ months: 6 }).toMillis());
    const up = await sub.handle.executeUpdate(upgradeUpdate, { args: [{ edition: 'ultimate', requestKey: 'up1' }] });
    // (27.00 − 12.00) × 12 months × 6/12 remaining = 90.00
    expect(up).toMatchObject({ ok: true, charged: '90.00' });
    expect(up.view.edition).toBe('ultimate');
    expect((await world.payments.getBalances(accountId)).cash).toBe('266.00'); // 500 − 144 − 90

    const down = await sub.handle.executeUpdate(upgradeUpdate, { args: [{ edition: 'pro', requestKey: 'down1' }] });
    expect(down).toMatchObject({ ok: false, code: 'SUBSCRIPTION.DOWNGRADE_REFUSED' });
    expect(down.view.edition).toBe('ultimate');
    expect((await world.payments.getBalances(accountId)).cash).toBe('266.00');
    await saveHistory(world, `subscription-${sub.id}`, undefined, 'rs12-upgrade-and-refused-downgrade');
  });

  it('R-S11: unsubscribing anything but an active subscription is refused by the workflow', async () => {
    const accountId = await anAccount(world, { cash: '25.00' });
    const sub = await buy(world, { accountId });
    const { expiresAt } = await sub.state();
    await advanceTo(world, expiresAt + DAY);
    const err = await sub.handle.executeUpdate(unsubscribeUpdate, { args: [{ requestKey: 'u' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((err as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'STATE.NOT_ACTIVE' });
  });
});

// Found by the system tier (issue #13): an update and its retry delivered in one workflow task
// both passed the old `exclusive` check and both renewed. The commands are serialized now.
describe('concurrent money-moving updates (issue #13)', () => {
  let world: World;
  beforeAll(async () => { world = await createWorld(); });
  afterAll(async () => { await world?.close(); });
  const month = { unit: 'month' as const, count: 1 };

  // Three at once: the first holds the step while its charge runs; the other two wait, and
  // both wake in the same activation when it ends. Only a real mutex lets one through.
  it('the same renewal sent twice while another runs renews once; three different renewals at once renew three times, one after the other', async () => {
    const accountId = await anAccount(world, { cash: '150.00' });
    const sub = await buy(world, { accountId });
    const { expiresAt } = await sub.state();
    const renew = (requestKey: string) => sub.handle.executeUpdate(renewUpdate, { args: [{ term: month, requestKey }] });
    const first = await Promise.all([renew('first'), renew('same'), renew('same')]);
    expect(first.map((r) => r.ok)).toEqual([true, true, true]);
    expect((await sub.state()).expiresAt).toBe(local(expiresAt).plus({ months: 2 }).toMillis());
    expect(await world.db('subscription_terms').where({ subscription_id: sub.id, kind: 'manual_renewal' })).toHaveLength(2);

    await Promise.all([renew('one'), renew('two'), renew('three')]);
    expect((await sub.state()).expiresAt).toBe(local(expiresAt).plus({ months: 5 }).toMillis());
    const terms = await world.db('subscription_terms').where({ subscription_id: sub.id }).orderBy('term_number');
    expect(terms.map((t) => t.term_number)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(terms.map((t) => t.order_id)).size).toBe(6);
    expect((await world.payments.getBalances(accountId)).cash).toBe('0.00'); // 6 × 25.00
  });

  // A command waiting its turn was validated against the state before the one ahead of it ran.
  // An upgrade or a renewal queued behind an unsubscribe must be refused, not charged for a
  // subscription that no longer exists (R-S11, R-S12, R-S5: no paid order without service).
  it('an unsubscribe and an upgrade sent at once: whichever runs first, the customer ends where either order leaves them', async () => {
    const accountId = await anAccount(world, { cash: '500.00' });
    const sub = await buy(world, { accountId, product: 'workload-protection', edition: 'pro', quantity: 1, term: { unit: 'month', count: 12 } });
    const { startedAt } = await sub.state();
    await advanceTo(world, local(startedAt).plus({ months: 6 }).toMillis());
    const [unsub, up] = await Promise.allSettled([
      sub.handle.executeUpdate(unsubscribeUpdate, { args: [{ requestKey: 'u' }] }),
      sub.handle.executeUpdate(upgradeUpdate, { args: [{ edition: 'ultimate', requestKey: 'up' }] }),
    ]);
    expect(unsub.status).toBe('fulfilled');
    expect((await sub.state()).status).toBe('unsubscribed');
    // Upgrade first: 144.00 paid, 90.00 for the upgrade, 72.00 + 90.00 back. Unsubscribe first:
    // 72.00 back and the upgrade refused. Either way 500 − 144 + 72 = 428.00.
    expect((await world.payments.getBalances(accountId)).cash).toBe('428.00');
    if (up.status === 'rejected') expect((up.reason as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'STATE.NOT_ACTIVE' });
    else expect(up.value.ok === false || up.value.charged === '90.00').toBe(true);
    // An upgrade order exists (paid, then refunded by the unsubscribe) only if the upgrade ran.
    const upgrades = await world.db('orders').where({ account_id: accountId, kind: 'subscription_upgrade' }).whereNot({ status: 'failed' });
    expect(upgrades).toHaveLength(up.status === 'fulfilled' && up.value.ok ? 1 : 0);
    await saveHistory(world, `subscription-${sub.id}`, undefined, 'concurrent-unsubscribe-and-upgrade');
  });

  it('an unsubscribe and a manual renewal sent at once: no renewal is paid for an unsubscribed subscription', async () => {
    const accountId = await anAccount(world, { cash: '50.00' });
    const sub = await buy(world, { accountId }); // 25.00, one month
    const [unsub, renew] = await Promise.allSettled([
      sub.handle.executeUpdate(unsubscribeUpdate, { args: [{ requestKey: 'u' }] }),
      sub.handle.executeUpdate(renewUpdate, { args: [{ term: month, requestKey: 'r' }] }),
    ]);
    expect(unsub.status).toBe('fulfilled');
    const state = await sub.state();
    expect(state.status).toBe('unsubscribed');
    // Unsubscribed at once: everything paid comes back, whichever ran first (25.00, or 50.00).
    expect((await world.payments.getBalances(accountId)).cash).toBe('50.00');
    if (renew.status === 'rejected') expect((renew.reason as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'STATE.NOT_RENEWABLE' });
    await saveHistory(world, `subscription-${sub.id}`, undefined, 'concurrent-unsubscribe-and-renewal');
  });
});
