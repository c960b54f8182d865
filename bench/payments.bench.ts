import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';
import { benchCharge, seedBenchAccounts } from './charge-helpers';
import { createPaymentEngine, PaymentEngine } from '../payments/payment-engine';
import { createSandboxGateway } from '../payments/sandbox-gateway';

// `npm run bench`, payments section (issue #5): charges per second through the engine's charge
// path — reserve under the account's row lock → card gateway → capture into the ledger (R-P4,
// R-M3) — on ONE hot account (every charge queues for the same row lock) and spread over MANY
// accounts, paid from cash and paid by card (sandbox gateway, 0 ms latency). Next to it, in the
// same run on the same database, a bare single-row INSERT transaction: the floor any durable
// write pays (round trips + commit fsync). The ratios are what to compare between runs and
// machines; the absolute rates are this machine's.

export interface BenchContext {
  db: Knex;
  log: (line: string) => void;
  /** BENCH_SCALE: multiplies the number of charges and accounts (default 1). */
  scale?: number;
}

const CONCURRENCY = 16;
const CHARGES = 2000;
/** The hot account is the slowest case by far (every charge waits for one row lock); fewer charges keep `npm run bench` short. */
const HOT_CHARGES = 1000;
const MANY_ACCOUNTS = 200;
const AMOUNT = '1.00';

const rate = (n: number, ms: number) => (n / ms) * 1000;
const round = (v: number, places = 1) => Math.round(v * 10 ** places) / 10 ** places;

/** `count` accounts with a card bound and no cash: every charge goes to the gateway. */
async function seedCardAccounts(db: Knex, engine: PaymentEngine, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const id = `acc_bench_${randomBytes(6).toString('hex')}`;
    await db('accounts').insert({ id, name: `bench card ${i}` });
    await engine.bindCard({ accountId: id, token: 'tok_visa' });
    ids.push(id);
  }
  return ids;
}

/** The baseline: `n` transactions of one single-row INSERT each, `concurrency` at a time. */
async function bareInserts(db: Knex, n: number, concurrency: number): Promise<{ ms: number; perSecond: number }> {
  let next = 0;
  const started = performance.now();
  const loop = async () => {
    while (next < n) {
      const i = next++;
      await db.transaction(async (trx) => {
        await trx('bench_insert_baseline').insert({ account_id: `acc_${i % 97}`, amount: AMOUNT });
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const ms = performance.now() - started;
  return { ms, perSecond: rate(n, ms) };
}

export async function runPaymentsBench(ctx: BenchContext): Promise<Record<string, number>> {
  const { db, log } = ctx;
  const scale = ctx.scale ?? (Number(process.env.BENCH_SCALE) || 1);
  const charges = Math.max(50, Math.round(CHARGES * scale));
  const hotCharges = Math.max(50, Math.round(HOT_CHARGES * scale));
  const manyAccounts = Math.max(2, Math.round(MANY_ACCOUNTS * scale));
  const engine = createPaymentEngine({ db, gateway: createSandboxGateway({ latencyMs: 0 }) });
  const perAccountCash = (n: number) => `${n + 10}.00`; // enough for every charge it will get

  await db.schema.createTable('bench_insert_baseline', (t) => {
    t.bigIncrements('id');
    t.text('account_id').notNullable();
    t.decimal('amount', 20, 2).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
  });

  log(`payments: charges of ${AMOUNT}, concurrency ${CONCURRENCY}; hot = ${hotCharges} on 1 account, many = ${charges} over ${manyAccounts} accounts`);
  // Warm-up: connections, JIT, plan caches — not measured.
  const [warm] = await seedBenchAccounts(db, engine, { count: 1, cash: perAccountCash(100) });
  await benchCharge(engine, [warm], { charges: 100, concurrency: CONCURRENCY, amount: AMOUNT });
  await bareInserts(db, 200, CONCURRENCY);

  // The machine's speed drifts during a run (other load, checkpoints): measure the baseline
  // before and after the charges and compare against their mean.
  const before = await bareInserts(db, charges, CONCURRENCY);
  log(`  baseline   single-row INSERT tx     ${round(before.perSecond).toFixed(1).padStart(8)} /s   (before)`);

  const scenarios: { name: string; charges: number; accounts: () => Promise<string[]> }[] = [
    { name: 'hot_cash', charges: hotCharges, accounts: () => seedBenchAccounts(db, engine, { count: 1, cash: perAccountCash(hotCharges) }) },
    { name: 'hot_card', charges: hotCharges, accounts: () => seedCardAccounts(db, engine, 1) },
    { name: 'many_cash', charges, accounts: () => seedBenchAccounts(db, engine, { count: manyAccounts, cash: perAccountCash(Math.ceil(charges / manyAccounts)) }) },
    { name: 'many_card', charges, accounts: () => seedCardAccounts(db, engine, manyAccounts) },
  ];
  const measured: { name: string; perSecond: number; queries: number }[] = [];
  let queries = 0;
  const countQuery = () => { queries += 1; };
  for (const s of scenarios) {
    const accounts = await s.accounts();
    queries = 0;
    db.on('query', countQuery);
    const r = await benchCharge(engine, accounts, { charges: s.charges, concurrency: CONCURRENCY, amount: AMOUNT }).finally(() => db.off('query', countQuery));
    // A fast wrong answer is no answer: every charge paid, every balance equal to its ledger, no lock left.
    const checks = await Promise.all(accounts.map((id) => engine.verifyBalances(id)));
    const broken = checks.filter((c) => !c.ok).length;
    if (r.failed > 0 || broken > 0) throw new Error(`payments bench ${s.name}: ${r.failed} charges failed, ${broken} accounts do not match their ledger`);
    measured.push({ name: s.name, perSecond: r.perSecond, queries: queries / s.charges });
    log(`  ${s.name.padEnd(10)} ${`${r.paid} charges, ${accounts.length} account(s)`.padEnd(24)} ${round(r.perSecond).toFixed(1).padStart(8)} /s   ${(queries / s.charges).toFixed(1)} statements/charge`);
  }
  const after = await bareInserts(db, charges, CONCURRENCY);
  log(`  baseline   single-row INSERT tx     ${round(after.perSecond).toFixed(1).padStart(8)} /s   (after)`);
  const baseline = (before.perSecond + after.perSecond) / 2;

  const results: Record<string, number> = { baseline_insert_tx_per_s: round(baseline), baseline_drift: round(after.perSecond / before.perSecond, 3) };
  for (const m of measured) {
    results[`${m.name}_charges_per_s`] = round(m.perSecond);
    results[`${m.name}_vs_baseline`] = round(m.perSecond / baseline, 3);
    results[`${m.name}_statements_per_charge`] = round(m.queries);
  }
  log(`  vs baseline (mean ${round(baseline).toFixed(1)} /s): ${measured.map((m) => `${m.name} ${(m.perSecond / baseline).toFixed(3)}`).join(', ')}`);
  results.hot_vs_many_cash = round(results.hot_cash_charges_per_s / results.many_cash_charges_per_s, 3);
  results.hot_vs_many_card = round(results.hot_card_charges_per_s / results.many_card_charges_per_s, 3);
  results.card_vs_cash_many = round(results.many_card_charges_per_s / results.many_cash_charges_per_s, 3);
  log(`  hot/many: cash ${results.hot_vs_many_cash}, card ${results.hot_vs_many_card}; card/cash (many) ${results.card_vs_cash_many}`);
  return results;
}
