import { join } from 'node:path';
import { Stack, startStack } from '../stack/stack';
import { customer, faultsLogged, moneyHolds, observe, Observer, report, untilAnswered } from './support/scenario';

// Issue #13, scenario 4: the API dies (SIGKILL, QUOTAFLOW_FAULT=api.before-answer-stored) after
// a purchase or a renewal took effect and before its Idempotency-Key answer was stored. The
// client sees the connection drop and retries with the same key against the restarted API.
// Promised: the retry gets the outcome the first request had (the same subscription, one more
// term), and nothing happens twice: one subscription per purchase key, one term and one paid
// order per renewal key, one card charge per paid order.
const ROUNDS = Number(process.env.CHAOS_API_ROUNDS ?? 6);
// The claim of the dead process blocks the retry until its lease lapses (IDEMPOTENCY_LEASE_MS,
// 2 minutes by default); a short lease keeps the round short, and what is measured is the same.
const LEASE_MS = 3_000;

describe('scenario 4: the API killed before it stores its idempotent answer (issue #13)', () => {
  let stack: Stack;
  let o: Observer;
  const faultLog = () => join(process.env.QUOTAFLOW_STACK_RUN_DIR!, `api-faults-${process.pid}.log`);
  beforeAll(async () => {
    stack = await startStack({ workers: 1, env: { IDEMPOTENCY_LEASE_MS: String(LEASE_MS) } });
    o = await observe(stack);
  }, 240_000);
  afterAll(async () => {
    await o?.close();
    await stack?.stop();
  }, 60_000);

  it(`${ROUNDS} API deaths across purchases and renewals: the retry answers the first outcome, nothing twice`, async () => {
    const c = await customer(stack, { card: 'tok_visa', cash: '20.00' });
    const purchase = { account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } };
    const buy = (key: string) => stack.http.post('/v1/subscriptions', c.key, purchase, key);
    const first = await untilAnswered(() => buy('base'));
    expect(first.status).toBe(201);
    const sub = first.body.id as string;

    const started = Date.now();
    const recovery: number[] = [];
    const subscriptions = new Set<string>([sub]);
    let renewals = 0;
    let purchases = 1;
    for (let i = 0; i < ROUNDS; i += 1) {
      const renew = i % 2 === 0;
      const key = `api-round-${i}`;
      const send = () => (renew ? stack.http.post(`/v1/subscriptions/${sub}/renewals`, c.key, { term: { unit: 'month', count: 1 } }, key) : buy(key));
      const termsBefore = (await stack.http.get(`/v1/subscriptions/${sub}`, c.key)).body.term_number as number;
      await stack.api!.stop();
      const dying = await stack.startApi({ QUOTAFLOW_FAULT: 'api.before-answer-stored', QUOTAFLOW_FAULT_LOG: faultLog() });
      // The first request takes effect, then its process dies: the client sees the connection drop.
      await expect(send()).rejects.toThrow();
      await dying.exited;
      const diedAt = Date.now();
      await stack.startApi();
      const retried = await untilAnswered(send);
      recovery.push(Date.now() - diedAt);
      expect([retried.status, retried.body?.error?.code]).toEqual([201, undefined]);
      // The same outcome the first request had: the renewal's one more term, the purchase's subscription.
      if (renew) {
        renewals += 1;
        expect(retried.body).toMatchObject({ id: sub, term_number: termsBefore + 1 });
      } else {
        purchases += 1;
        subscriptions.add(retried.body.id as string);
      }
      // Once answered, the key replays that answer byte for byte.
      const again = await send();
      expect([again.status, again.body]).toEqual([retried.status, retried.body]);
      await moneyHolds(o, [c.id]);
    }

    const faults = faultsLogged(faultLog());
    const injected = Object.values(faults).reduce((a, b) => a + b, 0);
    const subs = await o.db('subscriptions').where({ account_id: c.id });
    const orders = await o.db('orders').where({ account_id: c.id });
    const paid = orders.filter((x: { status: string }) => x.status === 'paid');
    const charges = await o.db('sandbox_gateway_charges').whereIn('idempotency_key', orders.map((x: { idempotency_key: string }) => `charge:${x.idempotency_key}`)).where({ status: 'succeeded' });
    const manual = await o.db('subscription_terms').where({ subscription_id: sub, kind: 'manual_renewal' });
    const doubleEffects = (subs.length - purchases) + (manual.length - renewals) + (paid.length - (purchases + renewals));
    const lost = (purchases - subscriptions.size) + Math.max(0, renewals - manual.length);
    const doubleCharges = charges.length - new Set(charges.map((x: { idempotency_key: string }) => x.idempotency_key)).size;
    recovery.sort((a, b) => a - b);
    report({ scenario: 'api-killed-before-answer-stored', rounds: ROUNDS, faults, injected, purchases, renewals, doubleEffects, doubleCharges, lost, pending: orders.filter((x: { status: string }) => x.status === 'pending').length, recoveryMsMedian: recovery[Math.floor(recovery.length / 2)], recoveryMsMin: recovery[0], recoveryMsMax: recovery[recovery.length - 1], seconds: Math.round((Date.now() - started) / 1000) });
    expect(injected).toBe(ROUNDS);
    expect({ doubleEffects, doubleCharges, lost }).toEqual({ doubleEffects: 0, doubleCharges: 0, lost: 0 });
    expect(subs).toHaveLength(purchases);
    expect(manual).toHaveLength(renewals);
  }, 30 * 60_000);
});
