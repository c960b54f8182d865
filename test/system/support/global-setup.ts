import { chmodSync, mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../../common/embedded-postgres';
import { freePort } from '../../../common/net';
import { startDevServerProcess } from '../../stack/dev-server';

// The system tier (`npm run test:system`): quotaflow as production runs it, as separate OS
// processes, on the Temporal dev server that `npm start` runs (issues #11 and #13). Started once
// per run: a throwaway PostgreSQL (or DATABASE_URL's server) and a dev server on a database file.
// Test files start quotaflow's workers and API against them (test/stack/stack.ts); a file that
// kills Temporal starts a dev server of its own (test/stack/dev-server.ts).
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const runDir = mkdtempSync(join(tmpdir(), 'quotaflow-system-'));
  chmodSync(runDir, 0o755); // embedded Postgres runs as `postgres` when we are root
  process.env.QUOTAFLOW_STACK_RUN_DIR = runDir;
  const g = globalThis as SystemGlobals;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const pg = await startEmbeddedPostgres({ dataDir: join(runDir, 'postgres', 'data'), port: await freePort(), persistent: false });
    g.__quotaflowSystemPg = pg;
    adminUrl = pg.url;
  }
  process.env.QUOTAFLOW_TEST_PG_ADMIN_URL = adminUrl;
  const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');
  process.env.QUOTAFLOW_CACHE_DIR = cacheDir;
  const server = await startDevServerProcess({ runDir, cacheDir });
  g.__quotaflowSystemTemporal = server;
  process.env.QUOTAFLOW_STACK_TEMPORAL_ADDRESS = server.address;
  process.env.QUOTAFLOW_STACK_TEMPORAL_NAMESPACE = server.namespace;
  process.stderr.write(`[system] Postgres and the Temporal dev server ${server.address} up in ${((Date.now() - started) / 1000).toFixed(1)} s; logs under ${runDir}\n`);
}

export interface SystemGlobals {
  __quotaflowSystemPg?: { stop(): Promise<void> };
  __quotaflowSystemTemporal?: { stop(): Promise<void> };
}
