import { join } from 'node:path';
import { ManagedProcess, startProcess, waitFor } from './processes';

const EMBEDDED = join(__dirname, '..', '..', 'dist', 'common', 'embedded-postgres.js');

/**
 * A PostgreSQL server of a test's own, one it can stop and start again on the same data
 * directory and port (issue #13, scenario 2). embedded-postgres is an ES module, which jest's
 * test environment cannot import, so a small node process (the compiled common/embedded-postgres)
 * runs it; SIGTERM stops the server (a fast shutdown: connections are cut) and the process.
 */
export interface PostgresProcess {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startPostgresProcess(opts: { dataDir: string; port: number; logFile: string }): Promise<PostgresProcess> {
  const script = `
    const { startEmbeddedPostgres } = require(${JSON.stringify(EMBEDDED)});
    startEmbeddedPostgres({ dataDir: ${JSON.stringify(opts.dataDir)}, port: ${opts.port}, persistent: true }).then((pg) => {
      console.log('postgres ready');
      process.once('SIGTERM', () => pg.stop().then(() => process.exit(0), () => process.exit(1)));
    }, (err) => { console.error(err); process.exit(1); });
    setInterval(() => undefined, 1 << 30);
  `;
  let proc: ManagedProcess | null = null;
  const start = async () => {
    proc = startProcess({ name: 'postgres', command: process.execPath, args: ['-e', script], env: process.env, logFile: opts.logFile });
    const p = proc;
    await waitFor('postgres to start', p, 60_000, () => p.log().split('postgres ready').length > starts);
    starts += 1;
  };
  let starts = 1;
  await start();
  return {
    url: `postgres://quotaflow:quotaflow@127.0.0.1:${opts.port}/postgres`,
    start,
    async stop() { await proc?.stop(30_000); },
  };
}
