import type { Client } from '@temporalio/client';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Knex } from 'knex';
import { from as copyFrom } from 'pg-copy-streams';
import { createPaymentEngine } from '../payments/payment-engine';
import { createSandboxGateway } from '../payments/sandbox-gateway';
import { createUsageActivities } from '../activities/usage/usage.activities';
import { markWorkflowStarted } from '../store/usage.store';
import { createApp } from '../api/app';
import { issueApiKey } from '../api/auth';
import { HOUR_MS, startOfLocalHour } from '../billing/calendar';
import { DEFAULT_ARREARS } from '../billing/renewal-schedule';
import { defaultCatalog } from '../catalog/catalog';
import { newId } from '../common/ids';
import { createLogger } from '../common/logger';

// Issue #7 bench, measured in one run against one Postgres:
//  1. usage-record ingestion through the API (HTTP on loopback: auth, JSON, per-record
//     validation, the account lock, INSERT … SELECT FROM unnest … ON CONFLICT) in batches of
//     1000, against a raw `COPY … FROM STDIN` (pg-copy-streams) of as many rows into the same
//     table — target ≥ 0.5× COPY's rate;
//  2. settling one hour of an account holding 1M usage records (the real activity: lock, GROUP BY
//     in Postgres, packages, the bill and its 1000 lines, the charge) against a bare GROUP BY
//     over the same records — target ≤ 2× its time.

const OFFSET = 480; // R-T1 +08:00
const BATCH = 1000;
const RESOURCES = 1000;
const CLIENTS = 4;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function account(db: Knex, name: string): Promise<string> {
  const id = newId('acc');
  await db('accounts').insert({ id, name, currency: 'USD', customer_level: 'standard' });
  // The account workflow counts as started, so the API path makes no call to Temporal.
  await markWorkflowStarted(db, id, new Date());
  return id;
}

export async function runUsageBench(ctx: { db: Knex; log: (line: string) => void; records?: number; settleRecords?: number }): Promise<Record<string, number>> {
  const { db, log } = ctx;
  const n = ctx.records ?? Number(process.env.BENCH_USAGE_RECORDS ?? 200_000);
  const big = ctx.settleRecords ?? Number(process.env.BENCH_USAGE_SETTLE_RECORDS ?? 1_000_000);
  const payments = createPaymentEngine({ db, gateway: createSandboxGateway() });
  const result: Record<string, number> = {};

  // ---- 1. ingestion: API vs raw COPY ------------------------------------------------------
  const apiAccount = await account(db, 'bench api');
  const copyAccount = await account(db, 'bench copy');
  const key = await issueApiKey(db, { scope: 'customer', accountId: apiAccount });
  const temporal = { workflow: { start: async () => { throw new Error('the bench makes no Temporal calls'); } } } as unknown as Client;
  const app = createApp({
    db, temporal, payments, catalog: defaultCatalog, logger: createLogger('bench', 'silent'),
    settings: { taskQueue: 'bench', offsetMinutes: OFFSET, arrears: DEFAULT_ARREARS, rateLimitPerMinute: 10_000_000 },
  });
  const server: Server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/usage-records`;
  const periodEnd = Date.now() - 60_000;
  const iso = new Date(periodEnd).toISOString();
  const record = (accountId: string, i: number) => ({ id: `rec-${i}`, account_id: accountId, resource_id: `img_${i % RESOURCES}`, metric: 'image_scans', quantity: '1', period_start: iso, period_end: iso });
  const bodies: string[] = [];
  for (let b = 0; b < n; b += BATCH) bodies.push(JSON.stringify({ records: Array.from({ length: Math.min(BATCH, n - b) }, (_, k) => record(apiAccount, b + k)) }));

  async function post(body: string): Promise<void> {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}` }, body });
    const json = (await res.json()) as { results: { status: string }[] };
    if (res.status !== 200 || json.results.some((r) => r.status !== 'accepted')) throw new Error(`ingestion failed: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
  }
  try {
    // Warm-up (connections, JIT) on records of a throwaway account, then one client sending one
    // batch at a time (like the single COPY stream), then CLIENTS clients at once.
    const warm = await account(db, 'bench warm-up');
    const warmKey = await issueApiKey(db, { scope: 'customer', accountId: warm });
    for (let b = 0; b < 10; b++) {
      await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${warmKey.secret}` }, body: JSON.stringify({ records: Array.from({ length: BATCH }, (_, k) => ({ ...record(warm, b * BATCH + k) })) }) });
    }
    const half = Math.floor(bodies.length / 2);
    const t0 = performance.now();
    for (const body of bodies.slice(0, half)) await post(body);
    const apiMs = performance.now() - t0;
    result.ingest_api_records_per_s = Math.round((half * BATCH) / (apiMs / 1000));
    const rest = bodies.slice(half);
    const t2 = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => { for (let b = c; b < rest.length; b += CLIENTS) await post(rest[b]); }));
    const apiConcurrentMs = performance.now() - t2;
    result.ingest_api_concurrent_records_per_s = Math.round((n - half * BATCH) / (apiConcurrentMs / 1000));

    // Raw COPY of as many rows into the same table (same indexes), in one stream.
    const hour = new Date(startOfLocalHour(periodEnd, OFFSET)).toISOString();
    const received = new Date().toISOString();
    function* rows() { // 1000 rows a chunk: COPY at its best
      for (let b = 0; b < n; b += BATCH) {
        let chunk = '';
        for (let i = b; i < Math.min(n, b + BATCH); i++) chunk += `${copyAccount}\trec-${i}\timg_${i % RESOURCES}\timage_scans\t1\t${iso}\t${iso}\t${received}\t${hour}\n`;
        yield chunk;
      }
    }
    const conn = await (db.client as { acquireConnection(): Promise<any> }).acquireConnection();
    const t1 = performance.now();
    try {
      const stream = conn.query(copyFrom('COPY usage_records (account_id, id, resource_id, metric, quantity, period_start, period_end, received_at, settlement_hour) FROM STDIN'));
      await pipeline(Readable.from(rows()), stream);
    } finally {
      (db.client as { releaseConnection(c: unknown): void }).releaseConnection(conn);
    }
    const copyMs = performance.now() - t1;
    result.ingest_copy_records_per_s = Math.round(n / (copyMs / 1000));
    result.ingest_ratio_api_to_copy = Number((result.ingest_api_records_per_s / result.ingest_copy_records_per_s).toFixed(2));
    result.ingest_ratio_api_concurrent_to_copy = Number((result.ingest_api_concurrent_records_per_s / result.ingest_copy_records_per_s).toFixed(2));
    log(`usage ingestion, ${n} records in batches of ${BATCH}: API ${result.ingest_api_records_per_s}/s (1 client), ${result.ingest_api_concurrent_records_per_s}/s (${CLIENTS} clients); raw COPY ${result.ingest_copy_records_per_s}/s (1 stream)`);
    log(`  ratio API/COPY: ${result.ingest_ratio_api_to_copy}× with 1 client, ${result.ingest_ratio_api_concurrent_to_copy}× with ${CLIENTS} (target ≥ 0.5×)`);
  } finally {
    await new Promise((r) => server.close(r));
  }

  // ---- 2. settling an hour of 1M records vs a bare GROUP BY ------------------------------
  const settleAccount = await account(db, 'bench settle');
  await payments.topUp({ accountId: settleAccount, amount: '100000000.00', idempotencyKey: `bench:${settleAccount}` });
  const hourStart = startOfLocalHour(Date.now() - 3 * HOUR_MS, OFFSET);
  const at = new Date(hourStart + 1000).toISOString();
  await db.raw(
    `insert into usage_records (account_id, id, resource_id, metric, quantity, period_start, period_end, received_at, settlement_hour)
     select ?, 'big-' || g, 'img_' || (g % ?), 'image_scans', 1, ?::timestamptz, ?::timestamptz, now(), ?::timestamptz from generate_series(1, ?) g`,
    [settleAccount, RESOURCES, at, at, new Date(hourStart).toISOString(), big],
  );
  await db.raw('vacuum analyze usage_records');
  const acts = createUsageActivities({ db, payments, catalog: defaultCatalog });
  const bare = async () => {
    const t = performance.now();
    await db.raw(
      `select resource_id, metric, sum(quantity) from usage_records where account_id = ? and settlement_hour = ? group by resource_id, metric`,
      [settleAccount, new Date(hourStart)],
    );
    return performance.now() - t;
  };
  let run = 0;
  const settle = async () => {
    // Each run settles the hour afresh: the earlier bill is removed (not timed).
    await db('usage_package_draws').whereIn('bill_id', db('bills').select('id').where({ account_id: settleAccount })).delete();
    await db('bill_lines').whereIn('bill_id', db('bills').select('id').where({ account_id: settleAccount })).delete();
    await db('bills').where({ account_id: settleAccount }).delete();
    await db('usage_accounts').where({ account_id: settleAccount }).update({ settled_through: null });
    run += 1;
    const t = performance.now();
    const r = await acts.settleUsageHour({ accountId: settleAccount, hourStart, offsetMinutes: OFFSET, idempotencyKey: `bench:${settleAccount}:${hourStart}:${run}`, collect: true, at: hourStart + HOUR_MS + 60_000 });
    const ms = performance.now() - t;
    if (r.status !== 'paid' || r.total !== (big / 10).toFixed(2)) throw new Error(`settlement gave ${JSON.stringify(r)}`);
    return ms;
  };
  await bare();
  await settle(); // warm-up
  const bareMs: number[] = [];
  const settleMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    bareMs.push(await bare());
    settleMs.push(await settle());
  }
  result.settle_records = big;
  result.settle_hour_ms = Math.round(median(settleMs));
  result.settle_bare_group_by_ms = Math.round(median(bareMs));
  result.settle_ratio_to_group_by = Number((median(settleMs) / median(bareMs)).toFixed(2));
  log(`usage settlement of one hour with ${big} records (${RESOURCES} resources): ${result.settle_hour_ms} ms; bare GROUP BY ${result.settle_bare_group_by_ms} ms`);
  log(`  ratio settlement/GROUP BY: ${result.settle_ratio_to_group_by}× (target ≤ 2×)`);
  return result;
}

if (require.main === module) {
  void (async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { startEmbeddedPostgres } = await import('../common/embedded-postgres');
    const { freePort } = await import('../common/net');
    const { createDb, ensureDatabase, migrateLatest } = await import('../common/db');
    const dir = mkdtempSync(join(tmpdir(), 'quotaflow-bench-pg-'));
    const pg = process.env.DATABASE_URL ? null : await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: await freePort(), persistent: false });
    const db = createDb(await ensureDatabase(process.env.DATABASE_URL ?? pg!.url, `bench_usage_${Date.now()}`), { pool: { min: 0, max: 10 } });
    try {
      await migrateLatest(db);
      console.log(JSON.stringify(await runUsageBench({ db, log: (l) => console.log(l) })));
    } finally {
      await db.destroy();
      await pg?.stop();
    }
  })();
}
