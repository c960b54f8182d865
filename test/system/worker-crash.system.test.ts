import { join } from 'node:path';
import type { FaultPoint } from '../../common/faults';
import { Stack, startStack } from '../stack/stack';
import { customer, faultsLogged, moneyHolds, observe, Observer, report, untilAnswered } from './support/scenario';

// Issue #13, scenario 1: the worker dies (SIGKILL, QUOTAFLOW_FAULT) exactly at each point of the
// charge path, across purchases and renewals paid by card: before the gateway call, after the
// gateway approved but before the capture, after the capture but before the workflow records
// it. A healthy worker takes over; the client retries with its Idempotency-Key. Promised: no
// double charge at the gateway, no lost purchase or renewal, no order left pending, nothing
// locked, the ledger balanced.
const ROUNDS = Number(process.env.CHAOS_WORKER_ROUNDS ?? 20);
const POINTS: FaultPoint[] = ['charge.before-gateway', 'charge.after-gateway', 'charge.after-capture'];

describe('scenario 1: the worker killed at each point of the charge path (issue #13)', () => {
  let stack: Stack;
  let o: Observer;
  const faultLog = () => join(process.env.QUOTAFLOW_STACK_RUN_DIR!, `worker-faults-${process.pid}.log`);
  beforeAll(async () => {
    stack = await startStack({ workers: 1 });
    o = await observe(stack);
  }, 240_000);
  afterAll(async () => {
    await o?.close();
    await stack?.stop();
  }, 60_000);

  it(`${ROUNDS} faults across purchases and renewals: 0 double charges, 0 lost, 0 pending`, async () => {
    const c = await customer(stack, { card: 'tok_visa' });
    const buy = (key: string) => untilAnswered(() => stack.http.post('/v1/subscriptions', c.key, { account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } }, key));
    const first = await buy('base');
    expect(first.status).toBe(201);
    const sub = first.body.id as string;
    await stack.workers[0].stop();

    const started = Date.now();
    const recovery: number[] = [];
    let purchases = 0;
    let renewals = 0;
    for (let i = 0; i < ROUNDS; i += 1) {
      const point = POINTS[i % POINTS.length];
      const renew = i % 2 === 1;
      const key = `round-${i}`;
      // Only the worker that will die polls, so it is the one that takes the charge.
      const dying = await stack.addWorker({ QUOTAFLOW_FAULT: point, QUOTAFLOW_FAULT_LOG: faultLog() });
      const sent = renew
        ? untilAnswered(() => stack.http.post(`/v1/subscriptions/${sub}/renewals`, c.key, { term: { unit: 'month', count: 1 } }, key))
        : buy(key);
      await Promise.race([dying.exited, new Promise((_, no) => setTimeout(() => no(new Error(`worker did not die at ${point}`)), 60_000))]);
      const diedAt = Date.now();
      const healthy = await stack.addWorker();
      const answer = await sent;
      recovery.push(Date.now() - diedAt);
      expect([answer.status, answer.body?.error?.code]).toEqual([201, undefined]);
      if (renew) renewals += 1;
      else purchases += 1;
      await moneyHolds(o, [c.id]);
      await healthy.stop();
    }

    const faults = faultsLogged(faultLog());
    const injected = Object.values(faults).reduce((a, b) => a + b, 0);
    const orders = await o.db('orders').where({ account_id: c.id });
    const charges = await o.db('sandbox_gateway_charges').whereIn('idempotency_key', orders.map((x: { idempotency_key: string }) => `charge:${x.idempotency_key}`));
    const doubleCharges = orders.length === 0 ? 0 : charges.length - new Set(charges.map((x: { idempotency_key: string }) => x.idempotency_key)).size;
    const subs = await o.db('subscriptions').where({ account_id: c.id });
    const manual = await o.db('subscription_terms').where({ subscription_id: sub, kind: 'manual_renewal' });
    const lost = (purchases + 1 - subs.length) + (renewals - manual.length);
    const pending = orders.filter((x: { status: string }) => x.status === 'pending').length;
    recovery.sort((a, b) => a - b);
    report({ scenario: 'worker-killed-at-charge-points', rounds: ROUNDS, faults, injected, purchases, renewals, gatewayCharges: charges.length, doubleCharges, lost, pending, recoveryMsMedian: recovery[Math.floor(recovery.length / 2)], recoveryMsMin: recovery[0], recoveryMsMax: recovery[recovery.length - 1], seconds: Math.round((Date.now() - started) / 1000) });
    expect(injected).toBe(ROUNDS);
    expect(Object.keys(faults).sort()).toEqual([...POINTS].sort());
    expect({ doubleCharges, lost, pending }).toEqual({ doubleCharges: 0, lost: 0, pending: 0 });
    expect(charges).toHaveLength(orders.filter((x: { status: string }) => x.status === 'paid').length);
  }, 40 * 60_000);
});
