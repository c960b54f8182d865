import { Stack, startStack } from '../stack/stack';
import { customer, moneyHolds, observe, Observer, random, report, untilAnswered } from './support/scenario';

// Issue #13, scenario 6 (and its random SIGKILLs): two worker processes share a storm of
// purchases and renewals paid by card and cash; one of them, chosen at random, is SIGKILLed at a
// random moment of the storm: once a random number of its requests (0 to 3/4 of them) have been
// answered. A random delay instead landed after the storm in 3 of 25 rounds once the stack was
// warm, which kills nothing that matters. Promised: the other one finishes everything — every request is
// answered 201, nothing is lost, nothing is charged twice, nothing is left pending or locked.
const ROUNDS = Number(process.env.CHAOS_STORM_ROUNDS ?? 3);
const ACCOUNTS = 4;
const PER_ACCOUNT = 6; // requests per account per round: purchases and renewals, all at once

describe('scenario 6: two workers, one SIGKILLed at a random moment of a storm (issue #13)', () => {
  let stack: Stack;
  let o: Observer;
  beforeAll(async () => {
    stack = await startStack({ workers: 2 });
    o = await observe(stack);
  }, 240_000);
  afterAll(async () => {
    await o?.close();
    await stack?.stop();
  }, 60_000);

  it(`${ROUNDS} storms of ${ACCOUNTS * PER_ACCOUNT} requests, a worker killed in each: all answered, 0 double charges, 0 lost`, async () => {
    const rnd = random();
    const customers = await Promise.all(Array.from({ length: ACCOUNTS }, (_, i) => customer(stack, { card: 'tok_visa', cash: '30.00', name: `storm ${i}` })));
    const purchase = (c: { id: string }) => ({ account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } });
    const base = await Promise.all(customers.map(async (c) => (await untilAnswered(() => stack.http.post('/v1/subscriptions', c.key, purchase(c), 'base'))).body.id as string));

    const started = Date.now();
    const recovery: number[] = [];
    const killedAfterMs: number[] = [];
    const unansweredAtKill: number[] = [];
    let requests = 0;
    let purchases = ACCOUNTS;
    let renewals = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const live = stack.workers.filter((w) => w.exitCode() === null);
      expect(live).toHaveLength(2);
      const victim = live[Math.floor(rnd() * 2)];
      const sentAt = Date.now();
      const storm = customers.flatMap((c, a) => Array.from({ length: PER_ACCOUNT }, (_, j) => {
        const key = `storm-${round}-${j}`;
        return j % 2 === 0
          ? untilAnswered(() => stack.http.post(`/v1/subscriptions/${base[a]}/renewals`, c.key, { term: { unit: 'month', count: 1 } }, key))
          : untilAnswered(() => stack.http.post('/v1/subscriptions', c.key, purchase(c), key));
      }));
      let answered = 0;
      for (const p of storm) void p.then(() => { answered += 1; }, () => { answered += 1; });
      requests += storm.length;
      purchases += ACCOUNTS * Math.floor(PER_ACCOUNT / 2);
      renewals += ACCOUNTS * Math.ceil(PER_ACCOUNT / 2);
      const killAfterAnswers = Math.floor(rnd() * storm.length * 0.75);
      while (answered < killAfterAnswers) await new Promise((r) => setTimeout(r, 5));
      await victim.kill();
      const killedAt = Date.now();
      killedAfterMs.push(killedAt - sentAt);
      unansweredAtKill.push(storm.length - answered);
      const answers = await Promise.all(storm);
      recovery.push(Date.now() - killedAt);
      expect(answers.map((x) => [x.status, x.body?.error?.code])).toEqual(Array(storm.length).fill([201, undefined]));
      await moneyHolds(o, customers.map((c) => c.id));
      await stack.addWorker(); // two again for the next round
    }

    const ids = customers.map((c) => c.id);
    const orders = await o.db('orders').whereIn('account_id', ids);
    const charges = await o.db('sandbox_gateway_charges').whereIn('idempotency_key', orders.map((x: { idempotency_key: string }) => `charge:${x.idempotency_key}`)).where({ status: 'succeeded' });
    const doubleCharges = charges.length - new Set(charges.map((x: { idempotency_key: string }) => x.idempotency_key)).size;
    const subs = await o.db('subscriptions').whereIn('account_id', ids);
    const manual = await o.db('subscription_terms').whereIn('subscription_id', base).where({ kind: 'manual_renewal' });
    const lost = (purchases - subs.length) + (renewals - manual.length);
    const pending = orders.filter((x: { status: string }) => x.status === 'pending').length;
    recovery.sort((a, b) => a - b);
    report({ scenario: 'worker-killed-mid-storm', rounds: ROUNDS, seed: rnd.seed, injected: ROUNDS, requests, purchases, renewals, killedAfterMs, unansweredAtKill, gatewayCharges: charges.length, doubleCharges, lost, pending, recoveryMsMedian: recovery[Math.floor(recovery.length / 2)], recoveryMsMin: recovery[0], recoveryMsMax: recovery[recovery.length - 1], seconds: Math.round((Date.now() - started) / 1000) });
    expect({ doubleCharges, lost, pending }).toEqual({ doubleCharges: 0, lost: 0, pending: 0 });
    expect(subs).toHaveLength(purchases);
    // Killed mid-storm, every time: requests were still waiting for the dead worker's charges.
    expect(unansweredAtKill.filter((n) => n === 0)).toEqual([]);
    expect(manual).toHaveLength(renewals);
  }, 40 * 60_000);
});
