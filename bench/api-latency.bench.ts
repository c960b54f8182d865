import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import express from 'express';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { temporal as proto } from '@temporalio/proto';
import { createApp } from '../api/app';
import { ensureOperatorKey } from '../api/auth';
import { listen, RunningServer } from '../api/server';
import { DEFAULT_ARREARS } from '../billing/renewal-schedule';
import { defaultCatalog } from '../catalog/catalog';
import { derivedId } from '../common/ids';
import { createLogger } from '../common/logger';
import { createPaymentEngine } from '../payments/payment-engine';
import { createSandboxGateway } from '../payments/sandbox-gateway';
import { WORKFLOW_BUNDLE_PATH } from '../workers/bundle';
import { createWorker } from '../workers/worker';
import type { TemporalBenchContext } from './run';

// Issue 14: the API's purchase latency against a bare Express endpoint that starts one workflow,
// measured in the same run on the same Temporal server. The purchase is the real thing: a
// customer key, validation, Idempotency-Key, update-with-start of the subscription workflow, its
// charge (a local activity through the payment engine, the ledger, the read model) and the
// answer; plus the request metrics of issue 14. The bare endpoint is `client.workflow.start` of
// a timer-and-no-op workflow behind express.json() and nothing else. One client, requests one
// at a time, alternating the two, so both see the same machine; the goal is p99 ≤ 3× the bare.

const quiet = { trace() {}, debug() {}, info() {}, log() {}, warn() {}, error() {} } as never;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function timed(url: string, init: RequestInit, expectStatus: number): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, init);
  await res.text();
  const ms = performance.now() - t0;
  if (res.status !== expectStatus) throw new Error(`${init.method} ${url}: ${res.status}, expected ${expectStatus}`);
  return ms;
}

interface PurchasePhases { phase_api_before_start_p50_ms: number; phase_dispatch_p50_ms: number; phase_first_task_p50_ms: number; phase_api_after_p50_ms: number }

const eventMs = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) => Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6);

/**
 * Where a purchase's time goes, from its workflow's history: the API's work before the start
 * (auth, validation, the idempotency claim), the first workflow task's dispatch (scheduled →
 * started: the server's part), the first task on the worker (started → completed, the charge's
 * local activity included) and the API's work after (the answer stored). Event times are the
 * server's clock in whole ms, the same machine's as ours.
 */
async function purchasePhases(client: Client, windows: { workflowId: string; from: number; to: number }[]): Promise<PurchasePhases> {
  const { EventType } = proto.api.enums.v1;
  const before: number[] = [], dispatch: number[] = [], task: number[] = [], after: number[] = [];
  for (const w of windows) {
    const events = (await client.workflow.getHandle(w.workflowId).fetchHistory()).events ?? [];
    const find = (type: number) => events.find((e) => e.eventType === type);
    const started = find(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
    const scheduled = find(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
    const taskStarted = find(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
    const completed = find(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    if (!started || !scheduled || !taskStarted || !completed) continue;
    before.push(eventMs(started) - w.from);
    dispatch.push(eventMs(taskStarted) - eventMs(scheduled));
    task.push(eventMs(completed) - eventMs(taskStarted));
    after.push(w.to - eventMs(completed));
  }
  const p50 = (a: number[]) => (a.length ? percentile([...a].sort((x, y) => x - y), 50) : NaN);
  return { phase_api_before_start_p50_ms: p50(before), phase_dispatch_p50_ms: p50(dispatch), phase_first_task_p50_ms: p50(task), phase_api_after_p50_ms: p50(after) };
}

export async function runApiLatencyBench(ctx: TemporalBenchContext): Promise<Record<string, number>> {
  const n = Math.max(20, Math.round(300 * ctx.scale));
  const { address, namespace, taskQueue } = ctx.temporal;
  const native = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const payments = createPaymentEngine({ db: ctx.db, gateway: createSandboxGateway(), clock: { now: () => new Date() } });
  const worker = await createWorker({ connection: native, namespace, taskQueue, deps: { db: ctx.db, payments, catalog: defaultCatalog }, workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } });
  const bareQueue = `${taskQueue}-bare`;
  const bareWorker = await Worker.create({
    connection: native, namespace, taskQueue: bareQueue,
    workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('./baseline.workflow'), logger: quiet }),
    activities: { noop: async () => undefined },
  });
  const runs = [worker.run(), bareWorker.run()];
  const servers: RunningServer[] = [];
  try {
    const operatorKey = `qf_op_bench_${randomUUID().replace(/-/g, '')}`;
    await ensureOperatorKey(ctx.db, operatorKey);
    const app = createApp({
      db: ctx.db, temporal: client, payments, catalog: defaultCatalog, logger: createLogger('bench-api', 'silent'),
      settings: { taskQueue, offsetMinutes: 480, arrears: DEFAULT_ARREARS, rateLimitPerMinute: 1_000_000 },
    });
    const api = await listen(app, 0, '127.0.0.1');
    servers.push(api);
    const bareApp = express();
    bareApp.use(express.json());
    bareApp.post('/bare', async (_req, res, next) => {
      try {
        const handle = await client.workflow.start('baselineStormWorkflow', { workflowId: `bare-${randomUUID()}`, taskQueue: bareQueue, args: [0] });
        res.status(201).json({ id: handle.workflowId });
      } catch (err) {
        next(err);
      }
    });
    // The second baseline answers from the workflow, as a purchase does: update-with-start of a
    // workflow whose update handler returns at once — Temporal's round trips without quotaflow.
    bareApp.post('/bare-update', async (_req, res, next) => {
      try {
        const startWorkflowOperation = new WithStartWorkflowOperation('bareAnswerWorkflow', { workflowId: `bare-update-${randomUUID()}`, taskQueue: bareQueue, workflowIdConflictPolicy: 'FAIL' });
        const answer = await client.workflow.executeUpdateWithStart('answer', { startWorkflowOperation });
        res.status(201).json({ answer });
      } catch (err) {
        next(err);
      }
    });
    const bare = await listen(bareApp, 0, '127.0.0.1');
    servers.push(bare);

    // Customers through the API, each with cash for its purchases (25.00 a month, R-P1 cash path).
    const customers: { id: string; key: string }[] = [];
    for (let i = 0; i < 10; i += 1) {
      const res = await fetch(`http://127.0.0.1:${api.port}/v1/accounts`, { method: 'POST', headers: { Authorization: `Bearer ${operatorKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: `bench ${i}` }) });
      const body = (await res.json()) as { id: string; api_key: string };
      await payments.topUp({ accountId: body.id, amount: String(25 * (n + 20)), idempotencyKey: `seed:${body.id}` });
      customers.push({ id: body.id, key: body.api_key });
    }
    const purchaseWindows: { workflowId: string; from: number; to: number }[] = [];
    const purchase = async (i: number) => {
      const c = customers[i % customers.length];
      const from = Date.now();
      const ms = await timed(`http://127.0.0.1:${api.port}/v1/subscriptions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${c.key}`, 'Content-Type': 'application/json', 'Idempotency-Key': `bench-${i}` },
        body: JSON.stringify({ account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } }),
      }, 201);
      // Warm-up purchases (index 1,000,000 on) are not measured.
      if (i < 1_000_000) purchaseWindows.push({ workflowId: `subscription-${derivedId('sub', `${c.id}:bench-${i}`)}`, from, to: Date.now() });
      return ms;
    };
    const start = () => timed(`http://127.0.0.1:${bare.port}/bare`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }, 201);
    const startUpdate = () => timed(`http://127.0.0.1:${bare.port}/bare-update`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }, 201);

    for (let i = 0; i < 20; i += 1) { await start(); await startUpdate(); await purchase(1_000_000 + i); } // warm-up: JIT, pools, workflow cache
    const apiMs: number[] = [];
    const bareMs: number[] = [];
    const updateMs: number[] = [];
    for (let i = 0; i < n; i += 1) {
      bareMs.push(await start());
      updateMs.push(await startUpdate());
      apiMs.push(await purchase(i));
    }
    const phases = await purchasePhases(client, purchaseWindows);
    apiMs.sort((a, b) => a - b);
    bareMs.sort((a, b) => a - b);
    updateMs.sort((a, b) => a - b);
    const r = (v: number) => Math.round(v * 100) / 100;
    const out = {
      requests: n,
      purchase_p50_ms: r(percentile(apiMs, 50)),
      purchase_p99_ms: r(percentile(apiMs, 99)),
      bare_start_p50_ms: r(percentile(bareMs, 50)),
      bare_start_p99_ms: r(percentile(bareMs, 99)),
      bare_update_p50_ms: r(percentile(updateMs, 50)),
      bare_update_p99_ms: r(percentile(updateMs, 99)),
      p50_ratio: r(percentile(apiMs, 50) / percentile(bareMs, 50)),
      p99_ratio: r(percentile(apiMs, 99) / percentile(bareMs, 99)),
      p99_ratio_vs_update: r(percentile(apiMs, 99) / percentile(updateMs, 99)),
      // The floor under the goal: a no-op update-with-start, which any request answering with a
      // workflow's outcome pays, against the bare start, which answers before any workflow code.
      bare_update_p99_ratio: r(percentile(updateMs, 99) / percentile(bareMs, 99)),
      ...phases,
    };
    ctx.log(`purchase p50 ${out.purchase_p50_ms} ms, p99 ${out.purchase_p99_ms} ms; bare start p50 ${out.bare_start_p50_ms} ms, p99 ${out.bare_start_p99_ms} ms`);
    ctx.log(`bare update-with-start p50 ${out.bare_update_p50_ms} ms, p99 ${out.bare_update_p99_ms} ms: ${out.bare_update_p99_ratio}× the bare start at the p99, with no quotaflow code`);
    ctx.log(`p99 ratio ${out.p99_ratio}× the bare start (goal ≤ 3×), ${out.p99_ratio_vs_update}× the bare update-with-start; p50 ratio ${out.p50_ratio}×; ${n} requests each, one client, alternating`);
    ctx.log(`where a purchase's time goes (p50, ms, from the workflow's event times): API before the start ${out.phase_api_before_start_p50_ms}, first task's dispatch ${out.phase_dispatch_p50_ms}, first task on the worker (charge included) ${out.phase_first_task_p50_ms}, API after the update ${out.phase_api_after_p50_ms}`);
    return out;
  } finally {
    for (const s of servers) await s.close();
    worker.shutdown();
    bareWorker.shutdown();
    await Promise.all(runs);
    await connection.close();
    await native.close();
  }
}
