import { Context } from '@temporalio/activity';
import { renewUpdate, setAutoRenewUpdate, topUpSignal, unsubscribeUpdate } from '../../workflows/subscription.messages';
import { checkMoneyInvariants } from '../model/money-model';
import { waitFor } from '../stack/processes';
import { LOST_TASK } from '../support/lost-task.interceptor';
import { advanceTo, advanceToLocalHour, buy, DAY, local } from '../support/subscriptions';
import { anAccount, createWorld, World } from '../support/world';

// Issue #13 (left open by stop 18): a worker can die after a step moved money and before its
// workflow task completed. The task runs again, and updates that arrived meanwhile run first
// (the SDK's job order), so the rerun may take another path than the lost task did. Money must
// still follow the path history records.
//
// The fault: while an activity name is in `dying`, each run of it does its work and then "dies":
// as a local activity its whole workflow task is lost (the interceptor fails the task); as a
// regular activity its attempt is lost and retried (Temporal's answer to a worker dying mid-activity).
describe('a worker dies after a step moved money, before its workflow task completed', () => {
  const dying = new Set<string>();
  const slow = new Map<string, number>(); // activity → ms it takes before its real work
  const runs = new Map<string, number>(); // activity → how many times it ran
  let world: World;
  beforeAll(async () => {
    world = await createWorld({
      workflowInterceptorModules: [require.resolve('../support/lost-task.interceptor')],
      wrapActivities: (real) => Object.fromEntries(Object.entries(real).map(([name, fn]) => [name, async (...args: unknown[]) => {
        runs.set(name, (runs.get(name) ?? 0) + 1);
        if (slow.has(name)) await new Promise((r) => setTimeout(r, slow.get(name)));
        const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        if (!dying.has(name)) return result;
        if (Context.current().info.isLocal) return { ...(result as object), [LOST_TASK]: true };
        throw new Error(`test fault: the worker died after ${name} ran`);
      }])) as typeof real,
    });
  });
  afterAll(async () => { await world?.close(); });
  afterEach(() => { dying.clear(); slow.clear(); runs.clear(); });

  /** Polls `probe` (the stack's waitFor) until it finds something, and returns it. */
  async function found<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
    let value: T | undefined;
    await waitFor(what, null, 30_000, async () => (value = await probe()) !== undefined);
    return value as T;
  }

  it('the 03:00 renewal charged, then an unsubscribe came in: the refund pays back the renewed term in full', async () => {
    const accountId = await anAccount(world, { cash: '500.00' });
    const sub = await buy(world, { accountId, autoRenew: true }); // host-security/enterprise, 1 month: 25.00
    expect(sub.outcome.ok).toBe(true);
    const [firstAttempt] = (await sub.state()).forecast.deductionAttempts;

    dying.add('renewTerm');
    await advanceTo(world, firstAttempt + 1_000);
    const renewal = await found('the renewal charge', async () =>
      (await world.db('orders').where({ subscription_id: sub.id, kind: 'subscription_renewal', status: 'paid' }).first()) ?? undefined);
    expect(renewal.due).toBe('25.00');

    // The customer unsubscribes while the renewal's step has not been recorded.
    const unsubscribed = sub.handle.executeUpdate(unsubscribeUpdate, { args: [{ requestKey: 'unsub-1' }] });
    await new Promise((r) => setTimeout(r, 1_500));
    dying.clear();
    const { refund } = await unsubscribed;

    // The renewal happened (its money moved), so the subscription had two paid terms when it
    // ended: term 2 had not started and comes back whole (R-S11), term 1 its unused part.
    const terms = await world.db('subscription_terms').where({ subscription_id: sub.id }).orderBy('term_number');
    expect(terms.map((t) => [t.term_number, t.order_id])).toEqual([[1, sub.outcome.orderId], [2, renewal.id]]);
    expect((await world.db('orders').where({ id: renewal.id }).first()).refunded).toBe('25.00');
    const refundOfTerm1 = (await world.db('orders').where({ id: sub.outcome.orderId }).first()).refunded as string;
    expect(Number(refund)).toBeCloseTo(25 + Number(refundOfTerm1), 2);
    expect((await sub.state()).status).toBe('unsubscribed');
    // 500 − 25 − 25 + the refund: nothing paid without service, nothing locked, the ledger balanced.
    expect((await world.payments.getBalances(accountId)).cash).toBe((450 + Number(refund)).toFixed(2));
    await checkMoneyInvariants(world.db, [accountId]);
  });

  it('the 03:00 renewal charged, then auto-renew was switched off: the paid renewal is served, and nothing is charged after', async () => {
    const accountId = await anAccount(world, { cash: '500.00' });
    const sub = await buy(world, { accountId, autoRenew: true });
    const { expiresAt, forecast } = await sub.state();

    dying.add('renewTerm');
    await advanceTo(world, forecast.deductionAttempts[0] + 1_000);
    const renewal = await found('the renewal charge', async () =>
      (await world.db('orders').where({ subscription_id: sub.id, kind: 'subscription_renewal', status: 'paid' }).first()) ?? undefined);
    const switchedOff = sub.handle.executeUpdate(setAutoRenewUpdate, { args: [{ enabled: false }] });
    await new Promise((r) => setTimeout(r, 1_500));
    dying.clear();
    const answer = await switchedOff;

    // The renewal was decided and paid before the switch: its term is served (R-S3), the switch
    // answered once it had landed, and with auto-renew now off nothing more is taken.
    expect([answer.autoRenew, answer.expiresAt]).toEqual([false, local(expiresAt).plus({ months: 1 }).toMillis()]);
    const state = await sub.state();
    expect(state.autoRenew).toBe(false);
    expect(state.expiresAt).toBe(local(expiresAt).plus({ months: 1 }).toMillis());
    await advanceTo(world, state.expiresAt - 60_000);
    const orders = await world.db('orders').where({ subscription_id: sub.id }).whereNot({ status: 'failed' }).orderBy('created_at').pluck('id');
    expect(orders).toEqual([sub.outcome.orderId, renewal.id]);
    expect((await world.payments.getBalances(accountId)).cash).toBe('450.00'); // 500 − 2 × 25.00
    await checkMoneyInvariants(world.db, [accountId]);
  });

  it('a second top-up came in while the first one\'s attempt was failing: it still renews at once (R-S6)', async () => {
    await advanceToLocalHour(world, 10);
    const accountId = await anAccount(world, { cash: '25.00' });
    const sub = await buy(world, { accountId, autoRenew: true });
    const { expiresAt } = await sub.state();
    await advanceTo(world, expiresAt + DAY);
    expect((await sub.state()).status).toBe('grace'); // 8 failed attempts, no money left
    const failedSoFar = async () => Number((await world.db('subscription_events').where({ subscription_id: sub.id, type: 'deduction_failed' }).count({ n: '*' }))[0].n);
    const before = await failedSoFar();

    // 10.00 is not enough: the attempt it triggers fails, and its worker dies after it. The
    // second top-up and its signal land while that attempt is retried.
    dying.add('renewTerm');
    await world.payments.topUp({ accountId, amount: '10.00', idempotencyKey: `t1:${sub.id}` });
    await sub.handle.signal(topUpSignal, { amount: '10.00' });
    await waitFor('the failed attempt', null, 30_000, async () => (await failedSoFar()) > before);
    await world.payments.topUp({ accountId, amount: '20.00', idempotencyKey: `t2:${sub.id}` });
    await sub.handle.signal(topUpSignal, { amount: '20.00' });
    await new Promise((r) => setTimeout(r, 1_500));
    dying.clear();

    // Without moving the clock: renewed for the second top-up, 30.00 − 25.00 left.
    const renewed = await found('the renewal', async () =>
      (await world.db('subscription_events').where({ subscription_id: sub.id, type: 'renewed' }).first()) ?? undefined);
    expect(renewed.details).toMatchObject({ trigger: 'top_up' });
    const after = await sub.state();
    expect([after.status, after.expiresAt]).toEqual(['active', local(expiresAt).plus({ months: 1 }).toMillis()]);
    expect((await world.payments.getBalances(accountId)).cash).toBe('5.00');
    await checkMoneyInvariants(world.db, [accountId]);
  });

  it('a money step slower than its 5 s heartbeat timeout (a slow card gateway) runs once: the worker heartbeats it', async () => {
    const accountId = await anAccount(world, { cash: '500.00' });
    const sub = await buy(world, { accountId });
    const { expiresAt } = await sub.state();
    runs.clear(); // the purchase's charge ran once already
    slow.set('chargeSubscriptionTerm', 7_000);
    const answer = await sub.handle.executeUpdate(renewUpdate, { args: [{ term: { unit: 'month', count: 1 }, requestKey: 'slow-1' }] });
    expect(answer.ok).toBe(true);
    expect(runs.get('chargeSubscriptionTerm')).toBe(1); // not timed out and run again
    expect(answer.view.expiresAt).toBe(local(expiresAt).plus({ months: 1 }).toMillis());
    expect((await world.payments.getBalances(accountId)).cash).toBe('450.00');
    await checkMoneyInvariants(world.db, [accountId]);
  });
});
