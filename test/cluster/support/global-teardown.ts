import { rmSync } from 'node:fs';
import type { ClusterGlobals } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as ClusterGlobals;
  // The server first: it holds connections to Postgres.
  try {
    await g.__quotaflowCluster?.stop();
  } finally {
    await g.__quotaflowClusterPg?.stop();
  }
  // The run's logs (server, workers, API); failures quote their tails already.
  const runDir = process.env.QUOTAFLOW_STACK_RUN_DIR;
  if (runDir && !process.env.QUOTAFLOW_KEEP_CLUSTER_LOGS) rmSync(runDir, { recursive: true, force: true });
  else if (runDir) process.stderr.write(`[cluster] logs kept in ${runDir}\n`);
}
