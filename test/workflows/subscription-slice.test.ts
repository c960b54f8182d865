import { WorkflowHandle } from '@temporalio/client';
import { DateTime } from 'luxon';
import { getStateQuery } from '../../workflows/subscription.messages';
import { buy } from '../support/subscriptions';
import { anAccount, createWorld, World } from '../support/world';

const DAY = 86_400_000;

describe('subscription lifecycle without renewal (R-S1, R-S6…S8, R-A4)', () => {
  let world: World;
  beforeAll(async () => { world = await createWorld(); });
  afterAll(async () => { await world?.close(); });

  async function statusAt(handle: WorkflowHandle, ms: number) {
    await world.env.sleep(ms);
    return (await handle.query(getStateQuery)).status;
  }

  it('buys a monthly enterprise quota from cash, then goes grace → frozen → released on the default periods', async () => {
    const accountId = await anAccount(world, { cash: '100.00' });
    await world.run(async () => {
      const start = await world.env.currentTimeMs();
      const { id: subscriptionId, handle, outcome } = await buy(world, { accountId });
      expect(outcome.ok).toBe(true);

      // R-S1: active from now until now + 1 month (R-T2, calendar month in +08:00).
      const state = await handle.query(getStateQuery);
      expect(state.status).toBe('active');
      const startedAt = state.startedAt;
      expect(Math.abs(startedAt - start)).toBeLessThan(60_000);
      const expected = DateTime.fromMillis(startedAt, { zone: 'UTC+8' }).plus({ months: 1 }).toMillis();
      expect(state.expiresAt).toBe(expected);

      const row = await world.db('subscriptions').where({ id: subscriptionId }).first();
      expect(row.status).toBe('active');
      expect(new Date(row.expires_at).getTime()).toBe(expected);
      expect((await world.payments.getBalances(accountId)).cash).toBe('75.00'); // 25.00 × 1 × 1 month

      // Search attributes for ops (R-I2).
      const desc = await handle.describe();
      const sa = Object.fromEntries(desc.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
      expect(sa).toMatchObject({ BillingAccountId: accountId, SubscriptionStatus: 'active', Product: 'host-security', Edition: 'enterprise' });
      expect((sa.ExpiresAt as Date).getTime()).toBe(expected);

      // R-S6: grace at expiry, 15 days for a standard customer (R-A4).
      const now = await world.env.currentTimeMs();
      expect(await statusAt(handle, expected - now - 1000)).toBe('active');
      expect(await statusAt(handle, 2000)).toBe('grace');
      // R-S7: frozen after 15 days of grace; R-S8: released after 15 days of retention.
      expect(await statusAt(handle, 15 * DAY - 2000)).toBe('grace');
      expect(await statusAt(handle, 2000)).toBe('frozen');
      await world.env.sleep(15 * DAY);
      expect(await handle.result()).toEqual({ subscriptionId, status: 'released' });

      const events = await world.db('subscription_events').where({ subscription_id: subscriptionId }).orderBy('seq');
      expect(events.map((e) => [e.type, e.status, new Date(e.at).getTime()])).toEqual([
        ['purchased', 'active', startedAt],
        ['expiry_reminder', 'active', expected - 7 * DAY], // R-S10
        ['grace_entered', 'grace', expected],
        ['grace_reminder', 'grace', expected + 7 * DAY], // R-S6: reminders during grace (issue #15)
        ['grace_reminder', 'grace', expected + 14 * DAY], // the day before protection stops
        ['frozen', 'frozen', expected + 15 * DAY],
        ['released', 'released', expected + 30 * DAY],
      ]);
      const final = await world.db('subscriptions').where({ id: subscriptionId }).first();
      expect(final.status).toBe('released');
      const notes = await world.db('notifications').where({ subscription_id: subscriptionId, channel: 'email' }).orderBy('id').pluck('template');
      expect(notes).toEqual(['subscription.purchased', 'subscription.expiry_reminder', 'subscription.grace', 'subscription.grace_reminder', 'subscription.grace_reminder', 'subscription.frozen', 'subscription.released']);
    });
  });

  it('uses the key_account periods, 30 days of grace and 30 of retention (R-A4)', async () => {
    const accountId = await anAccount(world, { cash: '25.00', level: 'key_account' });
    await world.run(async () => {
      const { handle, outcome } = await buy(world, { accountId, level: 'key_account' });
      expect(outcome.ok).toBe(true);
      const { expiresAt } = await handle.query(getStateQuery);
      await world.env.sleep(expiresAt - (await world.env.currentTimeMs()) + 1000);
      const grace = await handle.query(getStateQuery);
      expect(grace.status).toBe('grace');
      expect(grace.graceEndsAt).toBe(expiresAt + 30 * DAY);
      expect(grace.frozenEndsAt).toBe(expiresAt + 60 * DAY);
      await world.env.sleep(60 * DAY);
      expect((await handle.result()).status).toBe('released');
    });
  });

  it('creates nothing when the payment fails (R-S1)', async () => {
    const accountId = await anAccount(world, { cash: '10.00' });
    await world.run(async () => {
      const { id: subscriptionId, outcome } = await buy(world, { accountId });
      expect(outcome).toMatchObject({ ok: false, code: 'PAYMENT.INSUFFICIENT_FUNDS' });
      expect(await world.db('subscriptions').where({ id: subscriptionId })).toHaveLength(0);
      expect((await world.payments.getBalances(accountId)).cash).toBe('10.00');
    });
  });
});

