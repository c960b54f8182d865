import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort } from '../../common/net';
import { cliSearchAttributeFlags } from '../../workflows/search-attributes';
import { resolveTemporalCli } from '../../common/temporal-dev-server';
import { ManagedProcess, startProcess, waitFor } from './processes';

/**
 * The Temporal dev server (`temporal server start-dev`, the CLI `npm start` runs) as a process
 * of its own, on a SQLite file: what the system tier runs quotaflow against. It can be killed
 * (SIGKILL, as a crash) and started again on the same file and port, finding its workflows.
 */
export interface DevServer {
  address: string;
  namespace: string;
  process(): ManagedProcess;
  /** SIGKILL: the server dies as in a crash, nothing flushed */
  kill(): Promise<void>;
  /** starts it again on the same database file and port, and waits until it answers */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDevServerProcess(opts: { runDir: string; cacheDir: string; name?: string }): Promise<DevServer> {
  const cli = resolveTemporalCli(opts.cacheDir, process.env.TEMPORAL_CLI_PATH);
  const port = await freePort();
  const uiPort = await freePort();
  const name = opts.name ?? 'temporal';
  const namespace = 'default';
  const args = [
    'server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort),
    '--db-filename', join(opts.runDir, `${name}.db`), '--namespace', namespace, '--log-level', 'warn', ...cliSearchAttributeFlags(),
  ];
  const address = `127.0.0.1:${port}`;
  let proc: ManagedProcess;
  const start = async () => {
    proc = startProcess({ name, command: cli, args, env: process.env, logFile: join(opts.runDir, `${name}.log`) });
    await waitFor(`the Temporal dev server at ${address}`, proc, 90_000, async () => {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.getSystemInfo({});
        return true;
      } finally {
        await conn.close();
      }
    });
  };
  await start();
  return {
    address,
    namespace,
    process: () => proc,
    async kill() { await proc.kill(); },
    restart: start,
    async stop() { await proc.stop(10_000); },
  };
}
