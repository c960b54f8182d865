import { homedir } from 'node:os';
import { join } from 'node:path';
import { DateTime, FixedOffsetZone } from 'luxon';
import { getStateQuery } from '../../workflows/subscription.messages';
import type { SubscriptionState } from '../../workflows/subscription.types';
import { DevServer, startDevServerProcess } from '../stack/dev-server';
import { Stack, startStack } from '../stack/stack';
import { waitFor } from '../stack/processes';
import { customer, moneyHolds, observe, Observer, report, untilAnswered } from './support/scenario';

// Issue #13, scenario 5: a subscription in grace with auto-renew on (R-S6: "a top-up in grace
// renews at once"); the Temporal server is down (SIGKILL) when the customer tops up. The top-up
// is a payment fact: the API takes the money and writes the signal to the outbox in the same
// transaction (store/outbox.store.ts); the worker's loop delivers it once Temporal is back.
// Promised: the top-up is answered 201 while Temporal is down, and once the server is back the
// grace renewal happens, once: the subscription active again, one renewal term, one paid order.
//
// Getting to grace: the dev server keeps real time, so the test does what continue-as-new does
// with a term a month ago: it takes the purchased workflow's state, moves its term back so that
// it expired a second ago, and starts the workflow's next run on it. The workflow then enters
// grace by its own rules (R-S6), and writes it to the read model as it always does.
const ROUNDS = Number(process.env.CHAOS_TOPUP_ROUNDS ?? 2);
const DOWN_AFTER_TOPUP_S = Number(process.env.CHAOS_TOPUP_DOWN_S ?? 5);

describe('scenario 5: a top-up while Temporal is down still renews a subscription in grace (issue #13)', () => {
  let server: DevServer;
  let stack: Stack;
  let o: Observer;
  beforeAll(async () => {
    const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');
    server = await startDevServerProcess({ runDir: process.env.QUOTAFLOW_STACK_RUN_DIR!, cacheDir, name: `temporal-topup-${process.pid}` });
    stack = await startStack({ workers: 1, temporal: { address: server.address, namespace: server.namespace } });
    o = await observe(stack);
  }, 240_000);
  afterAll(async () => {
    await o?.close();
    await stack?.stop();
    await server?.stop();
  }, 120_000);

  it(`${ROUNDS} top-ups while the server is down: each grace subscription renewed once and active`, async () => {
    const started = Date.now();
    const recovery: number[] = [];
    const topUpAnswers: number[] = [];
    const accounts: string[] = [];
    const subs: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      // host-security/basic, 5.00 a month, paid with exactly the cash there is: nothing left to renew with.
      const c = await customer(stack, { cash: '5.00', name: `grace ${round}` });
      accounts.push(c.id);
      const bought = await untilAnswered(() => stack.http.post('/v1/subscriptions', c.key, { account_id: c.id, product: 'host-security', edition: 'basic', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 }, auto_renew: true }, 'buy'));
      expect(bought.status).toBe(201);
      const sub = bought.body.id as string;
      subs.push(sub);
      await expireNow(`subscription-${sub}`);
      await waitFor('the subscription to enter grace', null, 60_000, async () => (await stack.http.get(`/v1/subscriptions/${sub}`, c.key)).body.status === 'grace');
      expect((await stack.http.get(`/v1/accounts/${c.id}`, c.key)).body.cash).toBe('0.00');

      await server.kill();
      const downAt = Date.now();
      const topUp = await untilAnswered(() => stack.http.post(`/v1/accounts/${c.id}/top-ups`, c.key, { amount: '5.00' }, `topup-${round}`), 30_000);
      topUpAnswers.push(topUp.status);
      expect(topUp.status).toBe(201);
      expect((await stack.http.get(`/v1/subscriptions/${sub}`, c.key)).body.status).toBe('grace');
      await sleep(downAt + DOWN_AFTER_TOPUP_S * 1000 - Date.now());
      const backAt = Date.now(); // the server starting again; its boot counts in the recovery
      await server.restart();
      await waitFor('the grace renewal after Temporal is back', null, 5 * 60_000, async () => {
        const s = (await stack.http.get(`/v1/subscriptions/${sub}`, c.key)).body;
        return s.status === 'active' && s.term_number === 2;
      });
      recovery.push(Date.now() - backAt);
      await moneyHolds(o, [c.id], 2 * 60_000);
      expect((await stack.http.get(`/v1/accounts/${c.id}`, c.key)).body.cash).toBe('0.00');
    }

    const terms = await o.db('subscription_terms').whereIn('subscription_id', subs).where({ kind: 'renewal' });
    const paid = await o.db('orders').whereIn('subscription_id', subs).where({ kind: 'subscription_renewal', status: 'paid' });
    const lost = subs.filter((s) => !terms.some((t: { subscription_id: string }) => t.subscription_id === s)).length;
    const twice = terms.length - (subs.length - lost) + (paid.length - terms.length);
    const rows = await o.db('subscriptions').whereIn('id', subs);
    // The signal took the outbox's way: refused while the server was down, delivered after.
    const signals = await o.db('workflow_signals').whereIn('workflow_id', subs.map((s) => `subscription-${s}`));
    recovery.sort((a, b) => a - b);
    report({ scenario: 'topup-while-temporal-down', rounds: ROUNDS, injected: ROUNDS, downAfterTopUpS: DOWN_AFTER_TOPUP_S, topUpAnswers, signalAttempts: signals.map((x: { attempts: number }) => x.attempts), renewed: subs.length - lost, lost, twice, recoveryMsMedian: recovery[Math.floor(recovery.length / 2)], recoveryMsMin: recovery[0], recoveryMsMax: recovery[recovery.length - 1], seconds: Math.round((Date.now() - started) / 1000) });
    expect({ lost, twice }).toEqual({ lost: 0, twice: 0 });
    expect(rows.map((r: { status: string }) => r.status)).toEqual(subs.map(() => 'active'));
    expect(signals.map((x: { status: string; attempts: number }) => [x.status, x.attempts > 1])).toEqual(subs.map(() => ['delivered', true]));
  }, 30 * 60_000);

  /** The workflow's next run on its own state, with its term moved back to have ended a second ago. */
  async function expireNow(workflowId: string): Promise<void> {
    const handle = o.temporal.workflow.getHandle(workflowId);
    const view = await handle.query(getStateQuery);
    const { forecast: _f, purchase: _p, ...state } = view as typeof view & { forecast?: unknown; purchase?: unknown };
    void _f;
    void _p;
    const zone = FixedOffsetZone.instance(state.settings.offsetMinutes);
    const expiresAt = Date.now() - 1_000;
    // A one-month term that ends now began a calendar month ago (R-T2), in billing local time.
    const startedAt = DateTime.fromMillis(expiresAt, { zone }).minus({ months: 1 }).toMillis();
    const moved: SubscriptionState = { ...(state as SubscriptionState), startedAt, anchorAt: startedAt, termStartedAt: startedAt, expiresAt };
    await handle.terminate('system test: the term moved back to end now (scenario 5)');
    await o.temporal.workflow.start('subscriptionWorkflow', { workflowId, taskQueue: stack.taskQueue, args: [{ state: moved }] });
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
