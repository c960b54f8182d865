import { homedir } from 'node:os';
import { join } from 'node:path';
import { DevServer, startDevServerProcess } from '../stack/dev-server';
import { Stack, startStack } from '../stack/stack';
import { customer, localDate, moneyHolds, observe, Observer, offsetPutting0300In, random, report, untilAnswered } from './support/scenario';

// Issue #13, scenario 3: the Temporal server (the dev server `npm start` runs, on its SQLite
// file) is SIGKILLed a moment before the 03:00 deduction instant (R-S3) of a batch of
// auto-renewing subscriptions, and started again on the same file and port after the instant.
// Promised: every due attempt runs exactly once — each subscription renewed once (one renewal
// term, one paid renewal order), none skipped, none twice — and the money invariants hold.
// The test runs a dev server of its own (killing the tier's would break other files). Each
// round gets its own 03:00: the API (which hands the offset to each purchase's workflow) restarts
// with a BILLING_UTC_OFFSET that puts local 03:00 a minute ahead.
const ROUNDS = Number(process.env.CHAOS_TEMPORAL_ROUNDS ?? 1);
const PER_ROUND = Number(process.env.CHAOS_TEMPORAL_RENEWALS ?? 20);
const DOWN_S = Number(process.env.CHAOS_TEMPORAL_DOWN_S ?? 15);
const ACCOUNTS = 4;

describe('scenario 3: the Temporal server killed and restarted across the deduction instant (issue #13)', () => {
  let server: DevServer;
  let stack: Stack;
  let o: Observer;
  beforeAll(async () => {
    const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');
    server = await startDevServerProcess({ runDir: process.env.QUOTAFLOW_STACK_RUN_DIR!, cacheDir, name: `temporal-restart-${process.pid}` });
    stack = await startStack({ workers: 2, temporal: { address: server.address, namespace: server.namespace } });
    o = await observe(stack);
  }, 240_000);
  afterAll(async () => {
    await o?.close();
    await stack?.stop();
    await server?.stop();
  }, 120_000);

  it(`${ROUNDS} round(s) of ${PER_ROUND} renewals due while the server is down: each attempt runs exactly once`, async () => {
    const rnd = random();
    const perAccount = Math.ceil(PER_ROUND / ACCOUNTS);
    const customers = await Promise.all(Array.from({ length: ACCOUNTS }, (_, i) => customer(stack, { cash: (ROUNDS * perAccount * 10).toFixed(2), name: `restart ${i}` })));
    const ids = customers.map((c) => c.id);
    const started = Date.now();
    const recovery: number[] = [];
    const killedBeforeDueMs: number[] = [];
    const all: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const due = offsetPutting0300In(Number(process.env.CHAOS_TEMPORAL_LEAD_S ?? 25) * 1000);
      await stack.api!.stop();
      await stack.startApi({ BILLING_UTC_OFFSET: due.offset });
      const deductionDay = localDate(due.at, due.offset);
      const bought = await Promise.all(customers.map(async (c) => {
        const subs: string[] = [];
        for (let j = 0; j < perAccount; j += 1) {
          const res = await untilAnswered(() => stack.http.post('/v1/subscriptions', c.key, { account_id: c.id, product: 'host-security', edition: 'basic', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 }, auto_renew: true, deduction_day: deductionDay }, `restart-${round}-${j}`));
          expect([res.status, res.body?.error?.code]).toEqual([201, undefined]);
          expect(new Date(res.body.forecast.next_deduction_at).getTime()).toBe(due.at);
          subs.push(res.body.id as string);
        }
        return subs;
      }));
      const subs = bought.flat();
      all.push(...subs);
      // Killed at a random moment of the 3 s before the instant; down across it.
      const before = 1_000 + Math.floor(rnd() * 2_000);
      if (due.at - Date.now() < before) throw new Error('setup took too long: raise CHAOS_TEMPORAL_LEAD_S');
      await sleep(due.at - before - Date.now());
      expect(await renewedCount(subs)).toBe(0);
      await server.kill();
      killedBeforeDueMs.push(due.at - Date.now());
      await sleep(due.at + DOWN_S * 1000 - Date.now());
      await server.restart();
      const backAt = Date.now();
      const deadline = Date.now() + 5 * 60_000;
      while ((await renewedCount(subs)) < subs.length && Date.now() < deadline) await sleep(500);
      recovery.push(Date.now() - backAt);
      await moneyHolds(o, ids, 3 * 60_000);
    }

    const terms = await o.db('subscription_terms').whereIn('subscription_id', all).where({ kind: 'renewal' });
    const termsPerSub = countBy(terms.map((t: { subscription_id: string }) => t.subscription_id));
    const orders = await o.db('orders').whereIn('subscription_id', all).where({ kind: 'subscription_renewal' });
    const paidPerSub = countBy(orders.filter((x: { status: string }) => x.status === 'paid').map((x: { subscription_id: string }) => x.subscription_id));
    // Every attempt is an order (paid, or failed when the money was short): one per due renewal.
    const attemptsPerSub = countBy(orders.map((x: { subscription_id: string }) => x.subscription_id));
    const lost = all.filter((s) => !termsPerSub.get(s)).length;
    const twice = all.filter((s) => (termsPerSub.get(s) ?? 0) > 1 || (paidPerSub.get(s) ?? 0) > 1 || (attemptsPerSub.get(s) ?? 0) > 1).length;
    recovery.sort((a, b) => a - b);
    report({ scenario: 'temporal-killed-across-deduction', rounds: ROUNDS, seed: rnd.seed, injected: ROUNDS, renewals: all.length, downS: DOWN_S, killedBeforeDueMs, renewed: all.length - lost, lost, twice, recoveryMsMedian: recovery[Math.floor(recovery.length / 2)], recoveryMsMin: recovery[0], recoveryMsMax: recovery[recovery.length - 1], seconds: Math.round((Date.now() - started) / 1000) });
    expect({ lost, twice }).toEqual({ lost: 0, twice: 0 });
    expect(stack.workers.map((w) => w.exitCode())).toEqual([null, null]);
  }, 40 * 60_000);

  async function renewedCount(subs: string[]): Promise<number> {
    const rows = await o.db('subscription_terms').whereIn('subscription_id', subs).where({ kind: 'renewal' }).countDistinct({ n: 'subscription_id' });
    return Number(rows[0].n);
  }
});

function countBy(xs: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
