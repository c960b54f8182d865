import { deliverPendingNotifications, MAX_DELIVERY_ATTEMPTS, NotificationChannel, OutboxNotification } from '../../workers/notification-dispatcher';
import { recordSubscriptionState } from '../../store/subscriptions.store';
import type { SubscriptionState } from '../../workflows/subscription.types';
import { createTestDb } from '../support/db';

describe('R-S10 notification outbox delivery', () => {
  let t: Awaited<ReturnType<typeof createTestDb>>;
  beforeAll(async () => { t = await createTestDb(); });
  afterAll(async () => { await t?.drop(); });

  const state = (accountId: string, seq: number): SubscriptionState => ({
    subscriptionId: `sub_n${accountId}`, accountId, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1,
    trial: false, status: 'active', startedAt: 0, anchorAt: 0, monthsFromAnchor: 1, expiresAt: 2_678_400_000, autoRenew: false,
    deductionDate: null, renewalPeriod: { unit: 'month', count: 1 }, termNumber: 1, termStartedAt: 0, termMonthsCount: 1, termOrderId: null,
    attemptsThisTerm: 0, lastAttemptAt: null, autoRenewSince: null, retryNow: false, reminderSentForTerm: 0, graceEndsAt: null, frozenEndsAt: null,
    settings: { offsetMinutes: 480, graceDays: 15, retentionDays: 15, policy: 'grace_then_freeze' }, seq,
  });

  it('writes each notification once per channel with the state change, even when the write is retried', async () => {
    await t.db('accounts').insert({ id: 'acc_n1', name: 'n' });
    const input = { state: state('acc_n1', 1), event: 'purchased', at: 1000, details: {}, notify: 'subscription.purchased' };
    await recordSubscriptionState(t.db, input);
    await recordSubscriptionState(t.db, input); // an activity retry
    const rows = await t.db('notifications').where({ account_id: 'acc_n1' }).orderBy('channel');
    expect(rows.map((r) => [r.channel, r.template, r.status])).toEqual([
      ['email', 'subscription.purchased', 'pending'],
      ['in_app', 'subscription.purchased', 'pending'],
      ['sms', 'subscription.purchased', 'pending'],
    ]);
  });

  it('delivers through the channels, marks sent, and retries a failing channel with backoff until it gives up', async () => {
    const delivered: OutboxNotification[] = [];
    const good: NotificationChannel = { send: async (n) => { delivered.push(n); } };
    const broken: NotificationChannel = { send: async () => { throw new Error('smtp down'); } };
    const first = await deliverPendingNotifications(t.db, { email: broken, in_app: good, sms: good });
    expect(first).toEqual({ sent: 2, failed: 0, retried: 1, skipped: 0 });
    expect(delivered.map((n) => n.channel).sort()).toEqual(['in_app', 'sms']);
    let email = await t.db('notifications').where({ account_id: 'acc_n1', channel: 'email' }).first();
    expect(email).toMatchObject({ status: 'pending', attempts: 1, last_error: 'smtp down' });

    // It waits before the next try (30 s, doubling): a second round at once does not send it.
    expect(new Date(email.next_attempt_at).getTime()).toBeGreaterThan(Date.now() + 20_000);
    expect(await deliverPendingNotifications(t.db, { email: broken, in_app: good, sms: good })).toEqual({ sent: 0, failed: 0, retried: 0, skipped: 0 });
    await t.db('notifications').where({ id: email.id }).update({ next_attempt_at: t.db.fn.now() });
    for (let i = 1; i < MAX_DELIVERY_ATTEMPTS; i++) await deliverPendingNotifications(t.db, { email: broken, in_app: good, sms: good }, { retryBaseMs: 0 });
    email = await t.db('notifications').where({ account_id: 'acc_n1', channel: 'email' }).first();
    expect(email).toMatchObject({ status: 'failed', attempts: MAX_DELIVERY_ATTEMPTS });
    expect(await deliverPendingNotifications(t.db, { email: good, in_app: good, sms: good })).toEqual({ sent: 0, failed: 0, retried: 0, skipped: 0 });
  });

  it('never sends one notification twice when two dispatchers run at once', async () => {
    await t.db('accounts').insert({ id: 'acc_n2', name: 'n2' });
    for (let seq = 1; seq <= 20; seq++) {
      await recordSubscriptionState(t.db, { state: state('acc_n2', seq), event: `e${seq}`, at: seq, details: {}, notify: 'subscription.deduction_failed' });
    }
    const sent: number[] = [];
    const channel: NotificationChannel = { send: async (n) => { sent.push(n.id); await new Promise((r) => setTimeout(r, 2)); } };
    await Promise.all([1, 2, 3].map(() => deliverPendingNotifications(t.db, { email: channel, in_app: channel, sms: channel }, { limit: 15 })));
    await deliverPendingNotifications(t.db, { email: channel, in_app: channel, sms: channel });
    expect(sent).toHaveLength(60);
    expect(new Set(sent).size).toBe(60);
  });
});
