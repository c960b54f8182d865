import { recordSubscriptionState } from '../../store/subscriptions.store';
import type { SubscriptionState } from '../../workflows/subscription.types';
import { createTestDb } from '../support/db';

// The read model of a subscription is written by a local activity, inside a workflow task. When
// the worker dies before that task completes, the task runs again on another worker from the
// start, later on the workflow clock, and writes the same step (seq) again with what the
// workflow keeps from then on. Found by the system tier (issue #13, scenario 6): the first write
// won, and GET /v1/subscriptions/{id} showed an expiry and a term the workflow never had.
describe('the subscription read model follows the workflow task that completed', () => {
  let t: Awaited<ReturnType<typeof createTestDb>>;
  beforeAll(async () => { t = await createTestDb(); });
  afterAll(async () => { await t?.drop(); });

  const MONTH = 2_678_400_000;
  const purchased = (startedAt: number, seq = 1): SubscriptionState => ({
    subscriptionId: 'sub_rm1', accountId: 'acc_rm1', product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1,
    trial: false, status: 'active', startedAt, anchorAt: startedAt, monthsFromAnchor: 1, expiresAt: startedAt + MONTH, autoRenew: false,
    deductionDate: null, renewalPeriod: { unit: 'month', count: 1 }, termNumber: 1, termStartedAt: startedAt, termMonthsCount: 1, termOrderId: 'ord_rm1',
    attemptsThisTerm: 0, lastAttemptAt: null, autoRenewSince: null, retryNow: false, reminderSentForTerm: 0, graceEndsAt: null, frozenEndsAt: null,
    settings: { offsetMinutes: 480, graceDays: 15, retentionDays: 15, policy: 'grace_then_freeze' }, seq,
  });
  const write = (s: SubscriptionState, event = 'purchased') => recordSubscriptionState(t.db, { state: s, event, at: s.startedAt, details: { order_id: 'ord_rm1' }, notify: 'subscription.purchased' });

  it('the purchase written again by the retried task (10 s later) is what the subscription, its term and its timeline show', async () => {
    await t.db('accounts').insert({ id: 'acc_rm1', name: 'rm' });
    const lost = 1_800_000_000_000; // the task whose worker died after this write
    const kept = lost + 10_000; // the same task again, on the worker that completed it
    await write(purchased(lost));
    await write(purchased(kept));
    const row = await t.db('subscriptions').where({ id: 'sub_rm1' }).first();
    expect([new Date(row.started_at).getTime(), new Date(row.expires_at).getTime()]).toEqual([kept, kept + MONTH]);
    const terms = await t.db('subscription_terms').where({ subscription_id: 'sub_rm1' });
    expect(terms.map((x) => [x.term_number, new Date(x.starts_at).getTime(), new Date(x.ends_at).getTime()])).toEqual([[1, kept, kept + MONTH]]);
    const events = await t.db('subscription_events').where({ subscription_id: 'sub_rm1' });
    expect(events.map((e) => [e.seq, e.type, new Date(e.at).getTime()])).toEqual([[1, 'purchased', kept]]);
    // One notification per channel still: the step is one step.
    const perChannel = await t.db('notifications').where({ subscription_id: 'sub_rm1' }).groupBy('channel').select('channel').count({ n: '*' }).orderBy('channel');
    expect(perChannel).toEqual([{ channel: 'email', n: 1 }, { channel: 'in_app', n: 1 }, { channel: 'sms', n: 1 }]);
  });

  it('an older step written late never moves the subscription back', async () => {
    const kept = 1_800_000_010_000;
    await write({ ...purchased(kept, 2), status: 'unsubscribed' }, 'unsubscribed');
    await write(purchased(kept - 10_000, 1));
    expect(await t.db('subscriptions').where({ id: 'sub_rm1' }).first()).toMatchObject({ status: 'unsubscribed', seq: 2 });
  });

  // R-I4: the status change calls of a step are recorded once, however often the step is
  // written: a renewal out of frozen written again by its rerun task still unfreezes once.
  it('a step written twice records its status change calls once', async () => {
    await t.db('accounts').insert({ id: 'acc_rm3', name: 'rm3' });
    const base = { ...purchased(1_800_000_000_000), subscriptionId: 'sub_rm3', accountId: 'acc_rm3' };
    await write(base);
    await write({ ...base, seq: 2, status: 'frozen' }, 'frozen');
    const renewedAt = 1_800_100_000_000;
    await write({ ...base, seq: 3, status: 'active', termNumber: 2, termStartedAt: renewedAt, expiresAt: renewedAt + MONTH }, 'renewed');
    await write({ ...base, seq: 3, status: 'active', termNumber: 2, termStartedAt: renewedAt + 10_000, expiresAt: renewedAt + 10_000 + MONTH }, 'renewed');
    const calls = await t.db('status_change_events').where({ subscription_id: 'sub_rm3' }).orderBy('created_at').select('type');
    expect(calls.map((c) => c.type).sort()).toEqual(['resource.freeze', 'resource.unfreeze', 'subscription.active', 'subscription.renewed'].sort());
    expect(new Date((await t.db('subscriptions').where({ id: 'sub_rm3' }).first()).expires_at).getTime()).toBe(renewedAt + 10_000 + MONTH);
  });

  // Found by the system tier (issue #13, scenario 6, about 1 round in 40): two renewals reached a
  // workflow task whose worker was SIGKILLed after both were charged and written (9-4 as term 30,
  // 9-0 as term 31). The task ran again on the other worker with the two updates the other way
  // round. Its first write (seq 30) was refused as stale, because the lost task had reached seq
  // 31, so term 30 kept 9-4's order and term 31 took it too: 9-0 was paid with no term.
  it('the steps of a rerun task replace those of the lost task, even where the lost task had gone further', async () => {
    await t.db('accounts').insert({ id: 'acc_rm4', name: 'rm4' });
    const base = { ...purchased(1_800_000_000_000), subscriptionId: 'sub_rm4', accountId: 'acc_rm4' };
    const run = 1_799_000_000_000;
    await recordSubscriptionState(t.db, { state: base, event: 'purchased', at: base.startedAt, details: { order_id: 'ord_rm1' }, notify: null, position: { run, task: 3 } });
    const renewal = (seq: number, order: string, task: number) => recordSubscriptionState(t.db, {
      state: { ...base, seq, termNumber: seq, termOrderId: order, termStartedAt: base.startedAt + (seq - 1) * MONTH, expiresAt: base.startedAt + seq * MONTH },
      event: 'renewed_manually', at: base.startedAt, details: { order_id: order }, notify: null, position: { run, task },
    });
    await renewal(2, 'ord_b', 20); // the lost task (history length 20): b first…
    await renewal(3, 'ord_a', 20); // … then a
    await renewal(2, 'ord_a', 23); // its rerun (after the timeout: history length 23): a first…
    await renewal(3, 'ord_b', 23); // … then b
    const terms = await t.db('subscription_terms').where({ subscription_id: 'sub_rm4' }).orderBy('term_number');
    expect(terms.map((x) => [x.term_number, x.order_id])).toEqual([[1, 'ord_rm1'], [2, 'ord_a'], [3, 'ord_b']]);
    const events = await t.db('subscription_events').where({ subscription_id: 'sub_rm4' }).orderBy('seq');
    expect(events.map((e) => [e.seq, e.details.order_id])).toEqual([[1, 'ord_rm1'], [2, 'ord_a'], [3, 'ord_b']]);

    // A write from an earlier task (a local activity attempt that finished late) still changes nothing.
    await renewal(2, 'ord_late', 12);
    expect((await t.db('subscription_terms').where({ subscription_id: 'sub_rm4', term_number: 2 }).first()).order_id).toBe('ord_a');
    expect(await t.db('subscriptions').where({ id: 'sub_rm4' }).first()).toMatchObject({ seq: 3, term_number: 3 });
    // A new run (continue-as-new) starts its history again: its writes follow the last run's.
    await recordSubscriptionState(t.db, { state: { ...base, seq: 4, termNumber: 3, status: 'active', autoRenew: true }, event: 'auto_renew_changed', at: base.startedAt, details: {}, notify: null, position: { run: run + 1, task: 3 } });
    expect(await t.db('subscriptions').where({ id: 'sub_rm4' }).first()).toMatchObject({ seq: 4, auto_renew: true });
  });
});
