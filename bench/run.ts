import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import knex, { Knex } from 'knex';
import { loadConfig } from '../common/config';
import { createDb, ensureDatabase, migrateLatest } from '../common/db';
import { EmbeddedPostgresHandle, startEmbeddedPostgres } from '../common/embedded-postgres';
import { createLogger } from '../common/logger';
import { installTemporalLogging } from '../workers/runtime';
import { freePort } from '../common/net';
import { postgresTargetFromUrl, resolveClusterServer, startTemporalCluster, TEMPORAL_SERVER_VERSION } from '../common/temporal-cluster';
import { resolveTemporalCli, startDevServer } from '../common/temporal-dev-server';

// `npm run bench`: every bench section found in this folder, each on a fresh, migrated database
// of one PostgreSQL (DATABASE_URL, or a throwaway embedded server), then one summary table.
// Performance goals are ratios against a baseline measured in the same run (STYLE.md); nothing
// here asserts on wall time. Results are printed, not written: do not commit numbers.
//
//   BENCH_SCALE=0.2   shrink (or grow) every section's workload; default 1 (~1 minute in all)
//   BENCH_ONLY=a,b    run only the named sections
//   DATABASE_URL      use this server (a database is created and dropped per section)
//   BENCH_TEMPORAL_ADDRESS   a running Temporal server for sections that need one; otherwise a
//                     dev server (the CLI from `npm run setup:temporal`) is started on demand
//   BENCH_TEMPORAL=cluster   the real Temporal server 1.29.1 on the bench's Postgres instead
//                     (`npm run setup:temporal-cluster` first), for every section that talks to
//                     Temporal, the renewal storm included (issue 14)

/** What every section gets. A section module exports `async function <export>(ctx)`. */
export interface BenchContext {
  db: Knex;
  log: (line: string) => void;
  scale: number;
  /** URL of the section's own database (for sections that start workers or other processes). */
  databaseUrl: string;
}

/**
 * What a section declared with `needsTemporal` gets in addition (the renewal-storm hook): a
 * Temporal server and a task queue of its own. The section builds its own worker on it, e.g.
 * `createWorker({ connection: await NativeConnection.connect({ address }), namespace, taskQueue,
 * deps, workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } })`, and shuts it down before returning.
 */
export interface TemporalBenchContext extends BenchContext {
  temporal: { address: string; namespace: string; taskQueue: string };
}

interface Section {
  name: string;
  /** Module next to this file, without extension. */
  module: string;
  exportName: string;
  needsTemporal?: boolean;
}

const SECTIONS: Section[] = [
  { name: 'payments', module: 'payments.bench', exportName: 'runPaymentsBench' },
  { name: 'usage', module: 'usage.bench', exportName: 'runUsageBench' },
  // The renewal storm starts its own Temporal dev server. A section that would rather get one from
  // the runner sets `needsTemporal: true` and receives a TemporalBenchContext.
  { name: 'renewal-storm', module: 'renewal-storm.bench', exportName: 'runRenewalStormBench' },
  // Issue 14: purchase latency through the API against a bare endpoint that starts one workflow.
  // On the runner's Temporal server: a dev server, or BENCH_TEMPORAL_ADDRESS (e.g. the cluster).
  { name: 'api-latency', module: 'api-latency.bench', exportName: 'runApiLatencyBench', needsTemporal: true },
];

type SectionFn = (ctx: BenchContext | TemporalBenchContext) => Promise<Record<string, number>>;

/** The section's function, or null when its module is not there (yet). */
function loadSection(s: Section): SectionFn | null {
  const path = join(__dirname, s.module);
  try {
    require.resolve(path);
  } catch {
    return null;
  }
  const fn = (require(path) as Record<string, unknown>)[s.exportName];
  if (typeof fn !== 'function') throw new Error(`bench/${s.module} does not export a function ${s.exportName}`);
  return fn as SectionFn;
}

function parseScale(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || v > 100) throw new Error(`BENCH_SCALE must be a number in (0, 100] (got ${JSON.stringify(raw)})`);
  return v;
}

const log = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  // Worker state chatter would bury the results: SDK logs at warn and above, as JSON.
  installTemporalLogging(createLogger('bench', 'warn'));
  const scale = parseScale(process.env.BENCH_SCALE);
  const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
  const wanted = SECTIONS.filter((s) => !only || only.has(s.name));
  const runnable: { section: Section; fn: SectionFn }[] = [];
  let failed = 0;
  for (const s of wanted) {
    try {
      const fn = loadSection(s);
      if (fn) runnable.push({ section: s, fn });
      else log(`- ${s.name}: bench/${s.module}.ts not present, skipped`);
    } catch (err) {
      failed += 1;
      log(`!! ${s.name} could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (runnable.length === 0) {
    log('no bench sections to run');
    return 1;
  }

  const tmp = mkdtempSync(join(tmpdir(), 'quotaflow-bench-'));
  const stops: (() => Promise<void>)[] = [async () => rmSync(tmp, { recursive: true, force: true })];
  const results: Record<string, Record<string, number>> = {};
  const durations: Record<string, number> = {};
  try {
    let adminUrl = process.env.DATABASE_URL;
    if (!adminUrl) {
      const pg: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dataDir: join(tmp, 'pg'), port: await freePort(), persistent: false });
      stops.push(() => pg.stop());
      adminUrl = pg.url;
      log(`postgres: embedded, ${tmp}`);
    } else {
      log('postgres: DATABASE_URL');
    }
    const pgVersion = await withAdmin(adminUrl, async (a) => (await a.raw('show server_version')).rows[0].server_version as string);
    log(`node ${process.version}, postgres ${pgVersion}, BENCH_SCALE=${scale}\n`);

    let temporal: { address: string } | null = null;
    for (const { section, fn } of runnable) {
      log(`## ${section.name}`);
      const name = `bench_${section.name.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
      const databaseUrl = await ensureDatabase(adminUrl, name);
      const db = createDb(databaseUrl, { pool: { min: 0, max: 24 } });
      const started = performance.now();
      try {
        await migrateLatest(db);
        let ctx: BenchContext | TemporalBenchContext = { db, log, scale, databaseUrl };
        if (section.needsTemporal || (process.env.BENCH_TEMPORAL === 'cluster' && section.name === 'renewal-storm')) {
          temporal ??= await startTemporal(tmp, stops, adminUrl);
          ctx = { ...ctx, temporal: { address: temporal.address, namespace: 'default', taskQueue: `bench-${section.name}-${randomBytes(3).toString('hex')}` } };
        }
        results[section.name] = await fn(ctx);
      } catch (err) {
        failed += 1;
        log(`!! ${section.name} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      } finally {
        durations[section.name] = (performance.now() - started) / 1000;
        await db.destroy();
        await withAdmin(adminUrl, (a) => a.raw(`drop database if exists "${name}" with (force)`)).catch(() => undefined);
      }
      log('');
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => log(`cleanup: ${String(err)}`));
  }

  printSummary(results, durations);
  log(`BENCH_RESULTS ${JSON.stringify({ scale, node: process.version, results })}`);
  return failed > 0 ? 1 : 0;
}

async function withAdmin<T>(url: string, fn: (a: Knex) => Promise<T>): Promise<T> {
  const a = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    return await fn(a);
  } finally {
    await a.destroy();
  }
}

async function startTemporal(tmp: string, stops: (() => Promise<void>)[], adminUrl: string): Promise<{ address: string }> {
  if (process.env.BENCH_TEMPORAL_ADDRESS) return { address: process.env.BENCH_TEMPORAL_ADDRESS };
  const config = loadConfig();
  if (process.env.BENCH_TEMPORAL === 'cluster') {
    const server = await startTemporalCluster({
      install: resolveClusterServer(config.QUOTAFLOW_CACHE_DIR),
      postgres: postgresTargetFromUrl(adminUrl),
      runDir: join(tmp, 'temporal-cluster'),
      namespace: 'default',
      retentionDays: 1,
    });
    stops.push(() => server.stop());
    log(`temporal: the real server ${TEMPORAL_SERVER_VERSION} on Postgres at ${server.address}`);
    return server;
  }
  const server = await startDevServer({
    cli: resolveTemporalCli(config.QUOTAFLOW_CACHE_DIR, config.TEMPORAL_CLI_PATH),
    dataDir: join(tmp, 'temporal'),
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
    logger: createLogger('bench-temporal', 'warn'),
  });
  stops.push(() => server.stop());
  log(`temporal: dev server at ${server.address}`);
  return server;
}

function printSummary(results: Record<string, Record<string, number>>, durations: Record<string, number>): void {
  const rows: [string, string, string][] = [];
  for (const [section, metrics] of Object.entries(results)) {
    for (const [metric, value] of Object.entries(metrics)) rows.push([section, metric, String(value)]);
  }
  for (const [section, s] of Object.entries(durations)) rows.push([section, 'section_seconds', s.toFixed(1)]);
  const w0 = Math.max(7, ...rows.map((r) => r[0].length));
  const w1 = Math.max(6, ...rows.map((r) => r[1].length));
  const w2 = Math.max(5, ...rows.map((r) => r[2].length));
  log('## summary');
  log(`${'section'.padEnd(w0)}  ${'metric'.padEnd(w1)}  ${'value'.padStart(w2)}`);
  log(`${'-'.repeat(w0)}  ${'-'.repeat(w1)}  ${'-'.repeat(w2)}`);
  for (const [a, b, c] of rows) log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c.padStart(w2)}`);
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
