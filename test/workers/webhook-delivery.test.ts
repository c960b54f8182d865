import { recordSubscriptionState } from '../../store/subscriptions.store';
import { createEndpoint, deleteEndpoint } from '../../store/status-changes.store';
import { deliverStatusChanges } from '../../workers/webhook-sender';
import type { SubscriptionState } from '../../workflows/subscription.types';
import { createTestDb } from '../support/db';
import { startReceiver } from '../support/receivers';

// R-I4 / issue #15: status change calls against a real HTTP receiver on a local socket. The
// receiver verifies the signature as docs/notifications.md tells receivers to.

async function receiver(secret: string, answer: (n: number) => number) {
  const r = await startReceiver(secret, answer);
  return { got: r.calls, url: async () => r.url, close: r.close };
}

const SECRET = 'whsec_test_0123456789abcdef';

describe('R-I4 status change calls (issue #15)', () => {
  let t: Awaited<ReturnType<typeof createTestDb>>;
  beforeAll(async () => { t = await createTestDb(); });
  afterAll(async () => { await t?.drop(); });

  const state = (accountId: string, seq: number, status: SubscriptionState['status']): SubscriptionState => ({
    subscriptionId: `sub_${accountId}`, accountId, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1,
    trial: false, status, startedAt: 0, anchorAt: 0, monthsFromAnchor: 1, expiresAt: 2_678_400_000, autoRenew: false,
    deductionDate: null, renewalPeriod: { unit: 'month', count: 1 }, termNumber: 1, termStartedAt: 0, termMonthsCount: 1, termOrderId: null,
    attemptsThisTerm: 0, lastAttemptAt: null, autoRenewSince: null, retryNow: false, reminderSentForTerm: 0, graceEndsAt: null, frozenEndsAt: null,
    settings: { offsetMinutes: 480, graceDays: 15, retentionDays: 15, policy: 'grace_then_freeze' }, seq,
  });

  async function lifecycle(accountId: string) {
    await t.db('accounts').insert({ id: accountId, name: accountId });
    const steps: [string, SubscriptionState['status']][] = [['purchased', 'active'], ['grace_entered', 'grace'], ['frozen', 'frozen'], ['renewed', 'active'], ['grace_entered', 'grace'], ['frozen', 'frozen'], ['released', 'released']];
    for (const [i, [event, status]] of steps.entries()) {
      const input = { state: state(accountId, i + 1, status), event, at: 1_000 * (i + 1), details: {}, notify: null };
      await recordSubscriptionState(t.db, input);
      await recordSubscriptionState(t.db, input); // an activity retry writes nothing twice
    }
  }

  async function drain(opts: { backoffBaseMs?: number } = {}, until: () => boolean = () => false) {
    for (let i = 0; i < 200 && !until(); i++) {
      const r = await deliverStatusChanges(t.db, { backoffBaseMs: opts.backoffBaseMs ?? 5 });
      if (r.delivered + r.retried + r.failed === 0) await new Promise((res) => setTimeout(res, 10));
    }
  }

  it('a lifecycle that freezes, renews and releases reaches the receiver signed, once per event, in order', async () => {
    const rx = await receiver(SECRET, () => 200);
    await createEndpoint(t.db, { url: await rx.url(), events: ['resource.freeze', 'resource.unfreeze', 'resource.release', 'subscription.grace'], secret: SECRET });
    await lifecycle('acc_w1');
    await drain({}, () => rx.got.length >= 6);
    await rx.close();
    expect(rx.got.map((g) => g.type)).toEqual(['subscription.grace', 'resource.freeze', 'resource.unfreeze', 'subscription.grace', 'resource.freeze', 'resource.release']);
    expect(rx.got.every((g) => g.signed)).toBe(true);
    const release = rx.got[5];
    expect(release.body).toMatchObject({ id: release.eventId, type: 'resource.release', data: { subscription_id: 'sub_acc_w1', account_id: 'acc_w1', status: 'released', reason: 'released' } });
    expect(new Set(rx.got.map((g) => g.eventId)).size).toBe(6);
    const events = await t.db('status_change_events').where({ account_id: 'acc_w1' });
    expect(events.map((e) => e.type).sort()).toEqual(['resource.freeze', 'resource.freeze', 'resource.release', 'resource.unfreeze', 'subscription.active', 'subscription.grace', 'subscription.grace', 'subscription.renewed'].sort());
    // Wanted by the endpoint and answered 2xx: acknowledged. Not wanted by any endpoint: not.
    expect(events.filter((e) => e.acknowledged_at !== null).map((e) => e.type).sort()).toEqual(['resource.freeze', 'resource.freeze', 'resource.release', 'resource.unfreeze', 'subscription.grace', 'subscription.grace']);
  });

  it('a receiver that fails twice and then recovers: delivered on the third attempt, every attempt logged, the same event id each time', async () => {
    const rx = await receiver(SECRET, (n) => (n <= 2 ? 500 : 200));
    const ep = await createEndpoint(t.db, { url: await rx.url(), events: ['resource.release'], secret: SECRET });
    await lifecycle('acc_w2');
    await drain({ backoffBaseMs: 20 }, () => rx.got.length >= 3);
    await rx.close();
    expect(rx.got.map((g) => [g.type, g.attempt, g.signed])).toEqual([['resource.release', '1', true], ['resource.release', '2', true], ['resource.release', '3', true]]);
    expect(new Set(rx.got.map((g) => g.eventId)).size).toBe(1);
    const d = await t.db('webhook_deliveries').where({ endpoint_id: ep.id }).first();
    expect(d).toMatchObject({ status: 'delivered', attempts: 3, last_status_code: 200, last_error: null });
    const attempts = await t.db('webhook_attempts').where({ delivery_id: d.id }).orderBy('id');
    expect(attempts.map((a) => [a.attempt, a.status_code, a.error])).toEqual([[1, 500, 'HTTP 500'], [2, 500, 'HTTP 500'], [3, 200, null]]);
    // backoff: the second retry waited at least twice the base
    expect(new Date(attempts[2].at).getTime() - new Date(attempts[1].at).getTime()).toBeGreaterThanOrEqual(35);
  });

  it('gives up when the 3-day window has passed (failed, still unacknowledged); a refused connection is an attempt too', async () => {
    const rx = await receiver(SECRET, () => 200);
    const url = await rx.url();
    await rx.close(); // nobody listens there now
    const ep = await createEndpoint(t.db, { url, events: ['resource.release'], secret: SECRET });
    await lifecycle('acc_w3');
    await deliverStatusChanges(t.db, { backoffBaseMs: 60_000 });
    let d = await t.db('webhook_deliveries').where({ endpoint_id: ep.id }).first();
    expect(d).toMatchObject({ status: 'pending', attempts: 1, last_status_code: null });
    expect(d.last_error).toMatch(/ECONNREFUSED/);
    expect(new Date(d.next_attempt_at).getTime()).toBeGreaterThan(Date.now() + 50_000); // the first retry waits the base
    await t.db('webhook_deliveries').where({ id: d.id }).update({ give_up_at: new Date(Date.now() - 1), next_attempt_at: new Date(Date.now() - 1) });
    await deliverStatusChanges(t.db, { backoffBaseMs: 5 });
    d = await t.db('webhook_deliveries').where({ endpoint_id: ep.id }).first();
    expect(d).toMatchObject({ status: 'failed', attempts: 2 });
    const release = await t.db('status_change_events').where({ account_id: 'acc_w3', type: 'resource.release' }).first();
    expect(release.acknowledged_at).toBeNull();
  });

  it('deleting the endpoint that never answered leaves the event acknowledged by the others; deleting the only one leaves it unacknowledged', async () => {
    await t.db('webhook_endpoints').update({ deleted_at: t.db.fn.now() }); // a clean slate for this case
    const good = await receiver(SECRET, () => 200);
    const goodEp = await createEndpoint(t.db, { url: await good.url(), events: ['resource.release'], secret: SECRET });
    const deadEp = await createEndpoint(t.db, { url: 'http://127.0.0.1:1/nobody', events: ['resource.release'], secret: SECRET });
    await lifecycle('acc_w5');
    await deliverStatusChanges(t.db, { backoffBaseMs: 60_000 });
    await good.close();
    const release = () => t.db('status_change_events').where({ account_id: 'acc_w5', type: 'resource.release' }).first();
    expect((await release()).acknowledged_at).toBeNull();
    expect(await deleteEndpoint(t.db, deadEp.id)).toBe(true);
    expect((await release()).acknowledged_at).not.toBeNull();

    await lifecycle('acc_w6');
    await deleteEndpoint(t.db, goodEp.id);
    const lone = await t.db('status_change_events').where({ account_id: 'acc_w6', type: 'resource.release' }).first();
    expect(lone.acknowledged_at).toBeNull();
    expect(await deleteEndpoint(t.db, goodEp.id)).toBe(false);
  });

  it('two workers sending at once never send one delivery twice', async () => {
    const rx = await receiver(SECRET, () => 200);
    await createEndpoint(t.db, { url: await rx.url(), events: ['*'], secret: SECRET });
    for (let i = 0; i < 4; i++) await lifecycle(`acc_w4_${i}`);
    const due = Number((await t.db('webhook_deliveries').where({ status: 'pending' }).count({ n: '*' }))[0].n);
    await Promise.all([1, 2, 3].map(() => deliverStatusChanges(t.db, { limit: 200 })));
    await rx.close();
    const mine = rx.got.filter((g) => g.body.data.account_id.startsWith('acc_w4_'));
    expect(mine.length).toBe(32); // 8 events per lifecycle, each once
    expect(new Set(mine.map((g) => g.eventId)).size).toBe(32);
    expect(due).toBeGreaterThanOrEqual(32);
  });
});
