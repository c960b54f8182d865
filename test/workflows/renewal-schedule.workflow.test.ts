import { setAutoRenewUpdate } from '../../workflows/subscription.messages';
import { advanceTo, buy, events, fmt, local, nextLocal, saveHistory } from '../support/subscriptions';
import { anAccount, createWorld, World } from '../support/world';

// R-S3 / R-S4 / R-S6…S8 / R-T2 through the real workflow on the time-skipping server. Each
// scenario starts at the next occurrence of the SPEC's calendar date, whatever day it is now.
describe('auto-renewal schedule (R-S3)', () => {
  let world: World;
  beforeAll(async () => { world = await createWorld(); });
  afterAll(async () => { await world?.close(); });

  async function declinedCardAccount(level: 'standard' | 'key_account' = 'standard'): Promise<string> {
    const accountId = await anAccount(world, { cash: '25.00', level });
    await world.payments.bindCard({ accountId, token: 'tok_chargeDeclined' });
    return accountId;
  }

  it('R-S3 example: expiry 03-20 15:00, card declining → 8 attempts at 03:00 on the 13th…20th, grace at 15:00, frozen +15 d, released +15 d', async () => {
    const accountId = await declinedCardAccount();
    const purchaseAt = nextLocal(await world.env.currentTimeMs(), 2, 20, 15, 0);
    const year = local(purchaseAt).year;
    await advanceTo(world, purchaseAt);
    const sub = await buy(world, { accountId, autoRenew: true });
    expect(sub.outcome.ok).toBe(true); // paid 25.00 from cash

    const before = await sub.state();
    expect(fmt(before.expiresAt)).toBe(`${year}-03-20 15:00`);
    // The forecast, asserted before any time passes…
    const attempts = Array.from({ length: 8 }, (_, i) => `${year}-03-${13 + i} 03:00`);
    expect(before.forecast.deductionAttempts.map(fmt)).toEqual(attempts);
    expect(fmt(before.forecast.graceEndsAt!)).toBe(`${year}-04-04 15:00`);
    expect(fmt(before.forecast.frozenEndsAt!)).toBe(`${year}-04-19 15:00`);

    // …is what then happens.
    await advanceTo(world, before.forecast.frozenEndsAt! + 60_000);
    expect(await sub.handle.result()).toEqual({ subscriptionId: sub.id, status: 'released' });
    expect(await events(world, sub.id, ['deduction_failed', 'grace_entered', 'frozen', 'released'])).toEqual([
      ...attempts.map((a) => ['deduction_failed', a]),
      ['grace_entered', `${year}-03-20 15:00`],
      ['frozen', `${year}-04-04 15:00`],
      ['released', `${year}-04-19 15:00`],
    ]);
    const declined = world.gateway.charges.filter((c) => c.idempotencyKey.startsWith(`charge:${sub.id}:`));
    expect(declined).toHaveLength(8);
    expect(declined.every((c) => c.status === 'declined' && c.amount === '25.00')).toBe(true);
    // R-S10: a notification per failed deduction, and nothing was taken.
    const failedNotes = await world.db('notifications').where({ subscription_id: sub.id, channel: 'email', template: 'subscription.deduction_failed' }).count({ n: '*' });
    expect(Number(failedNotes[0].n)).toBe(8);
    expect((await world.payments.getBalances(accountId)).cash).toBe('0.00');
    await saveHistory(world, `subscription-${sub.id}`, undefined, 'rs3-declined-grace-frozen-released');
  });

  it('R-S3 / R-A4: the same for key_account with 30 days of grace and 30 of retention', async () => {
    const accountId = await declinedCardAccount('key_account');
    const purchaseAt = nextLocal(await world.env.currentTimeMs(), 2, 20, 15, 0);
    const year = local(purchaseAt).year;
    await advanceTo(world, purchaseAt);
    const sub = await buy(world, { accountId, autoRenew: true, level: 'key_account' });
    const before = await sub.state();
    await advanceTo(world, before.forecast.frozenEndsAt! + 60_000);
    await sub.handle.result();
    const timeline = await events(world, sub.id, ['deduction_failed', 'grace_entered', 'frozen', 'released']);
    expect(timeline.filter(([t]) => t === 'deduction_failed')).toHaveLength(8);
    expect(timeline.slice(-3)).toEqual([
      ['grace_entered', `${year}-03-20 15:00`],
      ['frozen', `${year}-04-19 15:00`],
      ['released', `${year}-05-19 15:00`],
    ]);
  });

  it('R-S3 / R-S4: success on the 3rd attempt extends from the old expiry and the next schedule follows the new expiry', async () => {
    const accountId = await anAccount(world, { cash: '25.00' }); // no card: attempts fail until a top-up
    const purchaseAt = nextLocal(await world.env.currentTimeMs(), 2, 20, 15, 0);
    const year = local(purchaseAt).year;
    await advanceTo(world, purchaseAt);
    const sub = await buy(world, { accountId, autoRenew: true });
    const expiry = (await sub.state()).expiresAt;

    await advanceTo(world, nextLocal(purchaseAt, 3, 14, 12, 0)); // after the 2nd attempt (14th 03:00)
    expect(await events(world, sub.id, ['deduction_failed'])).toEqual([
      ['deduction_failed', `${year}-03-13 03:00`],
      ['deduction_failed', `${year}-03-14 03:00`],
    ]);
    await world.payments.topUp({ accountId, amount: '25.00', idempotencyKey: `topup:${sub.id}` });
    await advanceTo(world, nextLocal(purchaseAt, 3, 15, 12, 0));

    const renewed = await sub.state();
    expect(renewed.status).toBe('active');
    expect(renewed.termNumber).toBe(2);
    expect(fmt(renewed.expiresAt)).toBe(`${year}-04-20 15:00`); // from the old expiry, not from 03-15
    expect(renewed.termStartedAt).toBe(expiry);
    expect(renewed.forecast.deductionAttempts.map(fmt)).toEqual(Array.from({ length: 8 }, (_, i) => `${year}-04-${13 + i} 03:00`));
    const [renewal] = (await world.db('subscription_events').where({ subscription_id: sub.id, type: 'renewed' }));
    expect(fmt(new Date(renewal.at).getTime())).toBe(`${year}-03-15 03:00`);
    expect(renewal.details).toMatchObject({ attempt: 3, amount: '25.00' });
    expect((await world.payments.getBalances(accountId)).cash).toBe('0.00');
    await saveHistory(world, `subscription-${sub.id}`, sub.handle.firstExecutionRunId, 'rs3-renewed-on-third-attempt');
  });

  it('R-T2: a Jan 31 monthly anchor renews to Feb 28 (or 29), Mar 31, Apr 30', async () => {
    const accountId = await anAccount(world, { cash: '100.00' });
    const purchaseAt = nextLocal(await world.env.currentTimeMs(), 1, 31, 10, 0);
    const year = local(purchaseAt).year;
    const feb = local(purchaseAt).set({ month: 2 }).daysInMonth;
    await advanceTo(world, purchaseAt);
    const sub = await buy(world, { accountId, autoRenew: true });
    expect(fmt((await sub.state()).expiresAt)).toBe(`${year}-02-${feb} 10:00`);
    await advanceTo(world, nextLocal(purchaseAt, 4, 25, 12, 0)); // three renewals later
    const renewals = await world.db('subscription_events').where({ subscription_id: sub.id, type: 'renewed' }).orderBy('seq');
    // Counted from the anchor day (31), not from the clamped Feb date: Mar 31, not Mar 28.
    expect(renewals.map((r) => fmt(r.details.expires_at))).toEqual([`${year}-03-31 10:00`, `${year}-04-30 10:00`, `${year}-05-31 10:00`]);
  });

  it('R-S3 late switch-on: at 01:00 for an expiry at 02:30 the same day, the attempt is made at once', async () => {
    const accountId = await anAccount(world, { cash: '50.00' });
    const purchaseAt = nextLocal(await world.env.currentTimeMs(), 5, 10, 2, 30);
    const year = local(purchaseAt).year;
    await advanceTo(world, purchaseAt);
    const sub = await buy(world, { accountId, autoRenew: false });
    await advanceTo(world, nextLocal(purchaseAt, 6, 10, 1, 0));
    const view = await sub.handle.executeUpdate(setAutoRenewUpdate, { args: [{ enabled: true }] });
    expect(view.forecast.deductionAttempts).toHaveLength(1); // the immediate one
    await world.env.sleep(60_000);
    const renewed = await world.db('subscription_events').where({ subscription_id: sub.id, type: 'renewed' }).first();
    expect(renewed.details).toMatchObject({ trigger: 'immediate', attempt: 1 });
    await saveHistory(world, `subscription-${sub.id}`, sub.handle.firstExecutionRunId, 'rs3-late-switch-on-immediate');
    expect(fmt(new Date(renewed.at).getTime())).toBe(`${year}-06-10 01:00`);
    expect(fmt((await sub.state()).expiresAt)).toBe(`${year}-07-10 02:30`);
  });

  it('R-S3 late switch-on: at 10:00 for an expiry at 02:00 the next day, the attempt is made at once', async () => {
    const accountId = await anAccount(world, { cash: '50.00' });
    const purchaseAt = nextLocal(await world.env.currentTimeMs(), 8, 11, 2, 0);
    const year = local(purchaseAt).year;
    await advanceTo(world, purchaseAt);
    const sub = await buy(world, { accountId, autoRenew: false });
    await advanceTo(world, nextLocal(purchaseAt, 9, 10, 10, 0));
    await sub.handle.executeUpdate(setAutoRenewUpdate, { args: [{ enabled: true }] });
    await world.env.sleep(60_000);
    const renewed = await world.db('subscription_events').where({ subscription_id: sub.id, type: 'renewed' }).first();
    expect(renewed.details).toMatchObject({ trigger: 'immediate' });
    expect(fmt(new Date(renewed.at).getTime())).toBe(`${year}-09-10 10:00`);
    expect(fmt((await sub.state()).expiresAt)).toBe(`${year}-10-11 02:00`);
  });

  it('R-S3 late switch-on after the first attempt passed: the next 03:00 before expiry', async () => {
    const accountId = await anAccount(world, { cash: '50.00' });
    const purchaseAt = nextLocal(await world.env.currentTimeMs(), 8, 11, 2, 0);
    const year = local(purchaseAt).year;
    await advanceTo(world, purchaseAt);
    const sub = await buy(world, { accountId, autoRenew: false });
    await advanceTo(world, nextLocal(purchaseAt, 9, 6, 10, 0)); // first attempt would have been 09-04 03:00
    const view = await sub.handle.executeUpdate(setAutoRenewUpdate, { args: [{ enabled: true }] });
    expect(view.forecast.deductionAttempts.map(fmt)).toEqual([`${year}-09-07 03:00`, `${year}-09-08 03:00`, `${year}-09-09 03:00`, `${year}-09-10 03:00`]);
    await advanceTo(world, nextLocal(purchaseAt, 9, 7, 4, 0));
    const renewed = await world.db('subscription_events').where({ subscription_id: sub.id, type: 'renewed' }).first();
    expect(fmt(new Date(renewed.at).getTime())).toBe(`${year}-09-07 03:00`);
  });

  it('a year of monthly renewals runs in seconds, continuing as new each term with a small history', async () => {
    const accountId = await anAccount(world, { cash: '300.00' });
    const sub = await buy(world, { accountId, autoRenew: true });
    const start = (await sub.state()).startedAt;
    await advanceTo(world, local(start).plus({ months: 12, days: -8 }).toMillis());
    const state = await sub.state();
    expect(state.termNumber).toBe(12);
    expect(state.expiresAt).toBe(local(start).plus({ months: 12 }).toMillis());
    expect((await world.payments.getBalances(accountId)).cash).toBe('0.00'); // 12 × 25.00
    const desc = await world.env.client.workflow.getHandle(`subscription-${sub.id}`).describe();
    const history = await world.env.client.workflow.getHandle(`subscription-${sub.id}`, desc.runId).fetchHistory();
    // One run per term: the reminder, one successful attempt and the continue-as-new.
    expect(history.events!.length).toBeLessThan(60);
    process.stdout.write(`events in one renewed term's run: ${history.events!.length}\n`);
  });
});

