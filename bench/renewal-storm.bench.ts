import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { createPaymentEngine } from '../payments/payment-engine';
import { createSandboxGateway } from '../payments/sandbox-gateway';
import { defaultCatalog } from '../catalog/catalog';
import { createLogger } from '../common/logger';
import { freePort } from '../common/net';
import { resolveTemporalCli, startDevServer } from '../common/temporal-dev-server';
import { createWorker } from '../workers/worker';
import type { SubscriptionState } from '../workflows/subscription.types';

// Issue #6 bench, the renewal storm: N subscriptions whose auto-renew deduction falls due at one
// instant, each running the real renewal path (timer → charge through the payment engine →
// ledger → term extended → read model + outbox, the continue-as-new deferred off-peak) on the Temporal dev server,
// against a bare baseline (the same timer, then one no-op activity) in the same run.

const MINUTE = 60_000;
const quiet = { trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} } as never;

/** The UTC offset (minutes) that makes `at` exactly 03:00 local: every workflow's R-S3 attempt lands on it. */
function offsetPutting0300At(at: number): number {
  const utcMinutes = Math.round((at % 86_400_000) / MINUTE);
  let offset = (3 * 60 - utcMinutes) % 1440;
  if (offset > 720) offset -= 1440;
  if (offset <= -720) offset += 1440;
  return offset;
}

/** CPU ms used so far by every process of this name (Linux /proc; 0 elsewhere). */
function processCpuMs(name: string): number {
  try {
    let total = 0;
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== name) continue;
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        total += (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in 10 ms ticks
      } catch {
        // the process ended meanwhile
      }
    }
    return total;
  } catch {
    return 0;
  }
}

/** Where the CPU goes during a phase: this process (worker + client), the Temporal server, PostgreSQL. */
function cpuMeter() {
  const start = { node: process.cpuUsage(), temporal: processCpuMs('temporal'), postgres: processCpuMs('postgres') };
  return () => {
    const node = process.cpuUsage(start.node);
    return { node: Math.round((node.user + node.system) / 1000), temporal: processCpuMs('temporal') - start.temporal, postgres: processCpuMs('postgres') - start.postgres };
  };
}

async function waitFor(check: () => Promise<number>, target: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await check();
    if (n >= target) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out at ${n}/${target}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function runRenewalStormBench(ctx: { db: Knex; log: (line: string) => void; n?: number; temporal?: { address: string } }): Promise<Record<string, number>> {
  const n = ctx.n ?? Number(process.env.BENCH_STORM_N ?? 500);
  const logger = createLogger('bench', 'warn');
  const dir = mkdtempSync(join(tmpdir(), 'quotaflow-bench-temporal-'));
  // Its own in-memory dev server, unless the runner gives it one (BENCH_TEMPORAL=cluster: the
  // real server on Postgres, issue 14), which it then leaves running.
  const server = ctx.temporal
    ? { address: ctx.temporal.address, stop: async () => undefined }
    : await startDevServer({
      cli: resolveTemporalCli(process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow'), process.env.TEMPORAL_CLI_PATH),
      dataDir: null, port: await freePort(), uiPort: await freePort(), namespace: 'default', logger,
    });
  const native = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const live: { worker: Worker; run: Promise<void> }[] = [];
  try {
    // --- baseline -------------------------------------------------------------------------
    let noops = 0;
    const baselineWorker = await Worker.create({
      connection: native, taskQueue: 'bench-baseline',
      workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('./baseline.workflow'), logger: quiet }),
      activities: { noop: async () => { noops += 1; } },
      maxConcurrentActivityTaskExecutions: 200, maxConcurrentWorkflowTaskExecutions: 100,
    });
    const baselineAt = Date.now() + Math.max(15_000, n * 40);
    const baselineRun = baselineWorker.run();
    live.push({ worker: baselineWorker, run: baselineRun });
    await Promise.all(Array.from({ length: n }, (_, i) => client.workflow.start('baselineStormWorkflow', { workflowId: `baseline-${i}-${baselineAt}`, taskQueue: 'bench-baseline', args: [baselineAt] })));
    if (Date.now() > baselineAt) throw new Error('starting the baseline workflows took longer than the lead time; lower BENCH_STORM_N');
    await new Promise((r) => setTimeout(r, Math.max(0, baselineAt - Date.now())));
    const baselineCpu = cpuMeter();
    const baselineDone = await waitFor(async () => noops, n, 10 * MINUTE);
    const baselineUsage = baselineCpu();
    baselineWorker.shutdown();
    await baselineRun;
    const baselineSeconds = (baselineDone - baselineAt) / 1000;

    // --- the real renewal path -----------------------------------------------------------------
    const payments = createPaymentEngine({ db: ctx.db, gateway: createSandboxGateway(), clock: { now: () => new Date() } });
    const accounts = Array.from({ length: n }, (_, i) => ({ id: `acc_storm${i}`, name: `storm ${i}` }));
    for (let i = 0; i < accounts.length; i += 500) await ctx.db('accounts').insert(accounts.slice(i, i + 500));
    for (const a of accounts) await payments.topUp({ accountId: a.id, amount: '25.00', idempotencyKey: `seed:${a.id}` });

    const worker = await createWorker({
      connection: native, namespace: 'default', taskQueue: 'bench-storm',
      deps: { db: ctx.db, payments, catalog: defaultCatalog },
      workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quiet }),
    });
    const stormAt = Math.ceil((Date.now() + Math.max(20_000, n * 60)) / MINUTE) * MINUTE;
    const offsetMinutes = offsetPutting0300At(stormAt);
    const expiresAt = stormAt + 6 * 3_600_000; // today's 03:00 is the only attempt left before expiry
    const running = worker.run();
    live.push({ worker, run: running });
    const handles = await Promise.all(accounts.map((a, i) => {
      const state: SubscriptionState = {
        subscriptionId: `sub_storm${i}`, accountId: a.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1,
        trial: false, status: 'active', startedAt: expiresAt - 31 * 86_400_000, anchorAt: expiresAt - 31 * 86_400_000, monthsFromAnchor: 1,
        expiresAt, autoRenew: true, deductionDate: null, renewalPeriod: { unit: 'month', count: 1 }, termNumber: 1,
        termStartedAt: expiresAt - 31 * 86_400_000, termMonthsCount: 1, termOrderId: null, attemptsThisTerm: 0, lastAttemptAt: null,
        autoRenewSince: null, retryNow: false, reminderSentForTerm: 1, graceEndsAt: null, frozenEndsAt: null,
        settings: { offsetMinutes, graceDays: 15, retentionDays: 15, policy: 'grace_then_freeze' }, seq: 0,
      };
      return client.workflow.start('subscriptionWorkflow', { workflowId: `subscription-sub_storm${i}`, taskQueue: 'bench-storm', args: [{ state }] });
    }));
    if (Date.now() > stormAt) throw new Error('starting the storm workflows took longer than the lead time; lower BENCH_STORM_N');
    // A workflow's history is settled when its last event is the timer it sleeps on.
    const settledLength = async (moreThan: number) => {
      const events = (await handles[0].fetchHistory()).events ?? [];
      return events.length > moreThan && String(events[events.length - 1].eventType) === '17' /* TimerStarted */ ? events.length : 0;
    };
    let eventsBefore = 0;
    await waitFor(async () => (eventsBefore = await settledLength(0)), 1, MINUTE);
    await new Promise((r) => setTimeout(r, Math.max(0, stormAt - Date.now())));
    const stormCpu = cpuMeter();
    const renewedCount = async () => Number((await ctx.db('subscription_events').where({ type: 'renewed' }).count({ c: '*' }))[0].c);
    const stormDone = await waitFor(renewedCount, n, 10 * MINUTE);
    const stormUsage = stormCpu();
    const stormSeconds = (stormDone - stormAt) / 1000;

    // History events the renewal itself adds (timer fired → workflow task with the one local
    // activity marker, the search-attribute upsert and the next timer), and per renewed term:
    // the run's start, the renewal, and the continue-as-new that follows off-peak, 1–3 h later
    // (timer fired, workflow task, continued-as-new: ROLLOVER_EVENTS, not waited for here).
    const ROLLOVER_EVENTS = 5;
    // (The read model is written inside the workflow task, so wait for the task to complete.)
    let eventsAfter = 0;
    await waitFor(async () => (eventsAfter = await settledLength(eventsBefore)), 1, MINUTE);
    const eventsPerRenewal = eventsAfter - eventsBefore;
    const eventsPerTerm = eventsAfter + ROLLOVER_EVENTS;
    worker.shutdown();
    await running;
    const cash = await payments.getBalances('acc_storm0');

    const baselineRate = n / baselineSeconds;
    const stormRate = n / stormSeconds;
    const result = {
      storm_n: n,
      baseline_seconds: baselineSeconds,
      baseline_per_second: baselineRate,
      storm_seconds: stormSeconds,
      storm_renewals_per_second: stormRate,
      storm_vs_baseline: stormRate / baselineRate,
      events_per_renewal: eventsPerRenewal,
      events_per_renewed_term: eventsPerTerm,
      baseline_cpu_ms_node: baselineUsage.node,
      baseline_cpu_ms_temporal: baselineUsage.temporal,
      storm_cpu_ms_node: stormUsage.node,
      storm_cpu_ms_temporal: stormUsage.temporal,
      storm_cpu_ms_postgres: stormUsage.postgres,
    };
    ctx.log(`renewal storm: ${n} renewals due at one instant`);
    ctx.log(`  baseline (timer + 1 no-op activity): ${baselineSeconds.toFixed(2)} s → ${baselineRate.toFixed(1)} workflows/s`);
    ctx.log(`  real renewal path:                   ${stormSeconds.toFixed(2)} s → ${stormRate.toFixed(1)} renewals/s`);
    ctx.log(`  ratio storm/baseline: ${(stormRate / baselineRate).toFixed(2)}×   (cash after renewal: ${cash.cash})`);
    ctx.log(`  history events: ${eventsPerRenewal} at the renewal, ${eventsPerTerm} per renewed term (continue-as-new deferred off-peak)`);
    ctx.log(`  CPU ms (worker+client / Temporal / Postgres): baseline ${baselineUsage.node} / ${baselineUsage.temporal} / ${baselineUsage.postgres}, storm ${stormUsage.node} / ${stormUsage.temporal} / ${stormUsage.postgres}`);
    return result;
  } finally {
    // A section that failed midway may leave a worker running; every step runs regardless, so
    // the dev server never outlives the bench.
    for (const { worker, run } of live) {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await run.catch(() => undefined);
    }
    await connection.close().catch(() => undefined);
    await native.close().catch(() => undefined);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  void (async () => {
    const { startEmbeddedPostgres } = await import('../common/embedded-postgres');
    const { createDb, ensureDatabase, migrateLatest } = await import('../common/db');
    const dir = mkdtempSync(join(tmpdir(), 'quotaflow-bench-pg-'));
    const pg = process.env.DATABASE_URL ? null : await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: await freePort(), persistent: false });
    const db = createDb(await ensureDatabase(process.env.DATABASE_URL ?? pg!.url, `bench_storm_${Date.now()}`), { pool: { min: 0, max: 40 } });
    try {
      await migrateLatest(db);
      console.log(JSON.stringify(await runRenewalStormBench({ db, log: (l) => console.log(l) })));
    } finally {
      await db.destroy();
      await pg?.stop();
    }
  })();
}
