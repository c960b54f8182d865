import { join } from 'node:path';
import { freePort } from '../../common/net';
import { PostgresProcess, startPostgresProcess } from '../stack/postgres-process';
import { Stack, startStack } from '../stack/stack';
import { customer, localDate, moneyHolds, observe, Observer, offsetPutting0300In, report, untilAnswered } from './support/scenario';

// Issue #13, scenario 2: Postgres stops during a storm of 100 auto-renew deductions (R-S3: all
// fall due at the same 03:00; BILLING_UTC_OFFSET puts that 03:00 a minute or two from now) and
// stays down CHAOS_PG_OUTAGE_S seconds (60, as the issue names, in CI and in `npm run chaos`;
// see docs/reliability.md). Promised:
// - while it is down the API answers 503 SERVICE.UNAVAILABLE (or a real answer), never a 500,
//   never a hang past the client's 10 s timeout;
// - once it is back, every due renewal completes, exactly once: one renewal term and one paid
//   renewal order per subscription, and the money invariants hold.
// The test runs its own Postgres (stopping the tier's would break other files).
const RENEWALS = Number(process.env.CHAOS_PG_RENEWALS ?? 100);
// The 60 s the issue names; it adds about 30 s to the tier over a 30 s outage.
const OUTAGE_S = Number(process.env.CHAOS_PG_OUTAGE_S ?? 60);
const ACCOUNTS = 20;
const CLIENT_TIMEOUT_MS = 10_000;

describe(`scenario 2: Postgres down ${OUTAGE_S} s during a storm of ${RENEWALS} renewals (issue #13)`, () => {
  let pg: PostgresProcess;
  let stack: Stack;
  let o: Observer;
  let pgUp = true;
  beforeAll(async () => {
    const dir = join(process.env.QUOTAFLOW_STACK_RUN_DIR!, `pg-outage-${process.pid}`);
    pg = await startPostgresProcess({ dataDir: join(dir, 'data'), port: await freePort(), logFile: `${dir}.log` });
    stack = await startStack({ workers: 2, adminUrl: pg.url });
    o = await observe(stack);
  }, 240_000);
  afterAll(async () => {
    if (!pgUp) await pg?.start();
    await o?.close();
    await stack?.stop();
    await pg?.stop();
  }, 120_000);

  it(`${RENEWALS} renewals due at one 03:00, Postgres stopped at that instant: all renewed once when it is back; 503s, never 500`, async () => {
    const perAccount = Math.ceil(RENEWALS / ACCOUNTS);
    // host-security/basic, 5.00 a month: the purchase and one renewal each, paid in cash.
    const customers = await Promise.all(Array.from({ length: ACCOUNTS }, (_, i) => customer(stack, { cash: (perAccount * 10).toFixed(2), name: `storm ${i}` })));
    // Local 03:00, the deduction instant, far enough ahead to buy everything: the API (which
    // hands the offset to each purchase's workflow) restarts with the offset that puts it there.
    const due = offsetPutting0300In(Number(process.env.CHAOS_PG_LEAD_S ?? 30) * 1000);
    await stack.api!.stop();
    await stack.startApi({ BILLING_UTC_OFFSET: due.offset });
    const deductionDay = localDate(due.at, due.offset);
    const buyingFrom = Date.now();
    const bought = await Promise.all(customers.map(async (c, a) => {
      const ids: string[] = [];
      for (let j = 0; j < perAccount && a * perAccount + j < RENEWALS; j += 1) {
        const res = await untilAnswered(() => stack.http.post('/v1/subscriptions', c.key, { account_id: c.id, product: 'host-security', edition: 'basic', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 }, auto_renew: true, deduction_day: deductionDay }, `storm-${j}`));
        expect([res.status, res.body?.error?.code]).toEqual([201, undefined]);
        expect(new Date(res.body.forecast.next_deduction_at).getTime()).toBe(due.at);
        ids.push(res.body.id as string);
      }
      return ids;
    }));
    const subs = bought.flat();
    expect(subs).toHaveLength(RENEWALS);
    const ids = customers.map((c) => c.id);
    const buyingMs = Date.now() - buyingFrom;
    const leadMs = due.at - Date.now();
    if (leadMs < 2_000) throw new Error(`setup took too long: the deductions fell due ${-leadMs} ms ago (raise CHAOS_PG_LEAD_S)`);

    // The deductions start at 03:00; Postgres goes down half a second into the storm.
    await sleep(due.at - Date.now() + 500);
    const renewedBeforeOutage = await renewedCount(subs);
    await pg.stop();
    pgUp = false;
    const stoppedAt = Date.now();

    // Meanwhile a client keeps asking: reads, and a top-up retried with one key.
    const probe = { answers: {} as Record<string, number>, hangs: 0, errors: [] as string[] };
    const c0 = customers[0];
    const ask = async (label: string, send: () => Promise<Response>) => {
      try {
        const res = await send();
        const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
        const code = res.status === 503 ? `503 ${body?.error?.code}` : String(res.status);
        probe.answers[`${label} ${code}`] = (probe.answers[`${label} ${code}`] ?? 0) + 1;
        if (res.status >= 500 && !(res.status === 503 && body?.error?.code === 'SERVICE.UNAVAILABLE')) probe.errors.push(`${label} ${res.status} ${JSON.stringify(body)}`);
      } catch (err) {
        probe.hangs += 1;
        probe.errors.push(`${label}: ${String(err)}`);
      }
    };
    const headers = { Authorization: `Bearer ${c0.key}`, 'Content-Type': 'application/json' };
    while (Date.now() - stoppedAt < OUTAGE_S * 1000) {
      await Promise.all([
        ask('GET account', () => fetch(`${stack.apiUrl}/v1/accounts/${c0.id}`, { headers, signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) })),
        ask('GET subscription', () => fetch(`${stack.apiUrl}/v1/subscriptions/${subs[0]}`, { headers, signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) })),
        ask('POST top-up', () => fetch(`${stack.apiUrl}/v1/accounts/${c0.id}/top-ups`, { method: 'POST', headers: { ...headers, 'Idempotency-Key': 'during-outage' }, body: JSON.stringify({ amount: '1.00' }), signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) })),
        sleep(1_000),
      ]);
    }
    await pg.start();
    pgUp = true;
    const backAt = Date.now();

    // Every renewal completes once Postgres is back: how long that takes is the recovery.
    const deadline = Date.now() + 10 * 60_000;
    let renewed = 0;
    while ((renewed = await renewedCount(subs).catch(() => -1)) < RENEWALS && Date.now() < deadline) await sleep(1_000);
    const recoveredMs = Date.now() - backAt;
    const topUp = await untilAnswered(() => stack.http.post(`/v1/accounts/${c0.id}/top-ups`, c0.key, { amount: '1.00' }, 'during-outage'));
    await moneyHolds(o, ids, 5 * 60_000);

    const terms = await o.db('subscription_terms').whereIn('subscription_id', subs).where({ kind: 'renewal' });
    const perSub = new Map<string, number>();
    for (const t of terms) perSub.set(t.subscription_id, (perSub.get(t.subscription_id) ?? 0) + 1);
    const renewalOrders = await o.db('orders').whereIn('account_id', ids).whereIn('subscription_id', subs).where({ kind: 'subscription_renewal' }).whereIn('status', ['paid']);
    const ordersPerSub = new Map<string, number>();
    for (const x of renewalOrders) ordersPerSub.set(x.subscription_id, (ordersPerSub.get(x.subscription_id) ?? 0) + 1);
    const lost = subs.filter((s) => !perSub.get(s)).length;
    const doubleRenewals = subs.filter((s) => (perSub.get(s) ?? 0) > 1 || (ordersPerSub.get(s) ?? 0) > 1).length;
    const topUps = await o.db('ledger_transactions').where({ account_id: c0.id, kind: 'topup' }).count({ n: '*' });
    report({
      scenario: 'postgres-outage-during-renewal-storm', runs: 1, renewals: RENEWALS, outageS: OUTAGE_S, injected: 1, buyingMs, idleBeforeDueMs: leadMs, renewedBeforeOutage,
      apiAnswersDuringOutage: probe.answers, apiErrors: probe.errors.length, apiHangs: probe.hangs,
      renewed, lost, doubleRenewals, recoveryMs: recoveredMs, topUpAfter: topUp.status, topUps: Number(topUps[0].n),
    });
    expect(probe.errors).toEqual([]);
    expect(Object.keys(probe.answers).some((k) => k.endsWith('503 SERVICE.UNAVAILABLE'))).toBe(true);
    expect({ renewed, lost, doubleRenewals }).toEqual({ renewed: RENEWALS, lost: 0, doubleRenewals: 0 });
    expect(topUp.status).toBe(201);
    expect(Number(topUps[0].n)).toBe(2); // the seed top-up and the one retried across the outage, once
  }, 30 * 60_000);

  async function renewedCount(subs: string[]): Promise<number> {
    const rows = await o.db('subscription_terms').whereIn('subscription_id', subs).where({ kind: 'renewal' }).countDistinct({ n: 'subscription_id' });
    return Number(rows[0].n);
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
