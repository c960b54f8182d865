import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import type { Logger } from './logger';
import { cliSearchAttributeFlags } from '../workflows/search-attributes';
import { devServerDynamicConfigFlags } from './temporal-dynamic-config';

export interface DevServerHandle {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/** Path of the Temporal CLI provisioned by `npm run setup:temporal`. */
export function resolveTemporalCli(cacheDir: string, override?: string): string {
  if (override) return override;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'temporal'))) return join(dir, 'temporal');
  }
  const cached = join(cacheDir, 'bin', 'temporal');
  if (existsSync(cached)) return cached;
  throw new Error(`no Temporal CLI found (looked at TEMPORAL_CLI_PATH, PATH and ${cached}); run \`npm run setup:temporal -- --cli\``);
}

/**
 * Starts `temporal server start-dev` with the Web UI and quotaflow's search attributes,
 * persisting to a SQLite file so a second start finds the first one's workflows.
 */
export async function startDevServer(opts: { cli: string; dataDir: string | null; port: number; uiPort: number; namespace: string; logger: Logger }): Promise<DevServerHandle> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(opts.port),
    '--ui-port', String(opts.uiPort),
    // No data dir: in memory (benchmarks); otherwise a SQLite file that survives restarts.
    ...(opts.dataDir ? ['--db-filename', join(opts.dataDir, 'temporal.db')] : []),
    '--namespace', opts.namespace,
    '--log-level', 'warn',
    ...cliSearchAttributeFlags(),
    ...devServerDynamicConfigFlags(),
  ];
  const child: ChildProcess = spawn(opts.cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited: number | null = null;
  child.on('exit', (code) => { exited = code ?? -1; });
  const forward = (stream: NodeJS.ReadableStream | null) => stream?.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.trim()) opts.logger.debug({ temporal: line.trim() }, 'temporal dev server');
  });
  forward(child.stdout);
  forward(child.stderr);
  const address = `127.0.0.1:${opts.port}`;
  await waitForTemporal(address, () => exited, 60_000);
  return {
    address,
    uiUrl: `http://127.0.0.1:${opts.uiPort}`,
    stop: () => new Promise<void>((resolve) => {
      if (exited !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }),
  };
}

async function waitForTemporal(address: string, exitCode: () => number | null, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (exitCode() !== null) throw new Error(`temporal dev server exited with code ${exitCode()} before it was ready`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.healthService.check({});
      await conn.close();
      return;
    } catch (err) {
      lastErr = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`temporal dev server at ${address} not ready after ${timeoutMs} ms: ${String(lastErr)}`);
}
