import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Db } from '../common/db';
import type { PaymentEngine } from '../payments/payment-engine';

// Helpers for `npm run bench`: charges per second on one hot account (every charge waits for the
// account's row lock, R-P4) versus spread over many accounts. Prints nothing and asserts nothing;
// the bench compares ratios measured in the same run.

/** Creates `count` accounts funded with `cash` (and a card when `card` is given). */
export async function seedBenchAccounts(db: Db, engine: PaymentEngine, opts: { count: number; cash: string; card?: string }): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < opts.count; i += 1) {
    const id = `acc_bench_${randomBytes(6).toString('hex')}`;
    await db('accounts').insert({ id, name: `bench ${i}` });
    await engine.topUp({ accountId: id, amount: opts.cash, idempotencyKey: `bench-seed:${id}` });
    if (opts.card) await engine.bindCard({ accountId: id, token: opts.card });
    ids.push(id);
  }
  return ids;
}

/** Runs `charges` charges round-robin over `accountIds` with at most `concurrency` in flight. */
export async function benchCharge(
  engine: PaymentEngine,
  accountIds: string[],
  opts: { charges: number; concurrency: number; amount?: string },
): Promise<{ charges: number; paid: number; failed: number; ms: number; perSecond: number }> {
  const run = randomBytes(4).toString('hex');
  let next = 0;
  let paid = 0;
  let failed = 0;
  const started = performance.now();
  const workerLoop = async () => {
    while (next < opts.charges) {
      const i = next++;
      const accountId = accountIds[i % accountIds.length];
      const r = await engine.charge({
        accountId,
        listAmount: opts.amount ?? '1.00',
        purpose: { kind: 'bench', resourceId: `bench-${i % 97}` },
        idempotencyKey: `bench:${run}:${i}`,
      });
      if (r.status === 'paid') paid += 1;
      else failed += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, workerLoop));
  const ms = performance.now() - started;
  return { charges: opts.charges, paid, failed, ms, perSecond: (opts.charges / ms) * 1000 };
}
