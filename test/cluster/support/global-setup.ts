import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../../common/embedded-postgres';
import { freePort } from '../../../common/net';
import { postgresTargetFromUrl, resolveClusterServer, startTemporalCluster } from '../../../common/temporal-cluster';

// The cluster tier's shared infrastructure, started once per `npm run test:cluster`: a
// throwaway PostgreSQL (or DATABASE_URL's server, which must allow creating databases) and the
// real Temporal server on it, with namespace `default` and quotaflow's search attributes.
// Test files start quotaflow's own processes against them (test/stack/stack.ts).
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const runDir = mkdtempSync(join(tmpdir(), 'quotaflow-cluster-'));
  // As root, embedded Postgres runs as `postgres`, which must be able to reach its data dir below.
  chmodSync(runDir, 0o755);
  process.env.QUOTAFLOW_STACK_RUN_DIR = runDir;
  const g = globalThis as ClusterGlobals;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const pg = await startEmbeddedPostgres({ dataDir: join(runDir, 'postgres', 'data'), port: await freePort(), persistent: false });
    g.__quotaflowClusterPg = pg;
    adminUrl = pg.url;
  }
  process.env.QUOTAFLOW_TEST_PG_ADMIN_URL = adminUrl;
  const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');
  const server = await startTemporalCluster({
    install: resolveClusterServer(cacheDir),
    postgres: postgresTargetFromUrl(adminUrl),
    runDir: join(runDir, 'temporal'),
    namespace: 'default',
    retentionDays: 1,
    log: (m) => process.stderr.write(`[cluster] ${m}\n`),
  });
  // (If jest dies without running the teardown, startTemporalCluster's exit hook kills the server.)
  g.__quotaflowCluster = server;
  process.env.QUOTAFLOW_CLUSTER_ADDRESS = server.address;
  process.env.QUOTAFLOW_STACK_TEMPORAL_ADDRESS = server.address;
  process.env.QUOTAFLOW_STACK_TEMPORAL_NAMESPACE = server.namespace;
  process.env.QUOTAFLOW_CLUSTER_NAMESPACE = server.namespace;
  process.env.QUOTAFLOW_CLUSTER_METRICS_URL = server.metricsUrl;
  writeFileSync(join(runDir, 'cluster.json'), JSON.stringify({ address: server.address, metricsUrl: server.metricsUrl, adminUrl, log: server.logFile }, null, 2));
  process.stderr.write(`[cluster] Postgres and Temporal ${server.address} up in ${((Date.now() - started) / 1000).toFixed(1)} s; logs under ${runDir}\n`);
}

export interface ClusterGlobals {
  __quotaflowClusterPg?: { stop(): Promise<void> };
  __quotaflowCluster?: { stop(): Promise<void> };
}
