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
// well under a second. The first run takes ~2.5 minutes on 2 cores.
//
// Checks: the module source must match the pinned go.sum hash (like the CLI wheel's sha256 in
// setup-temporal.mjs); each built binary must report the pinned version; its sha256 is recorded
// and checked on every later use, so a truncated or replaced binary in the cache is rebuilt.
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, downloadPinnedModule, dropGoCaches, goEnv, logger, readVerifiedManifest, requireGo, run, runAsScript, SetupError, sha256, writeManifest } from './go-build.mjs';

export const SERVER = {
  module: 'go.temporal.io/server',
  version: '1.29.1',
  // go.sum hash of the module source (h1: = sha256 over its files), as the Go checksum database
  // publishes it; a module zip with any other hash is refused.
  sum: 'h1:sgiMveg/8e51lA62pWb9VzC5WTRitKFyT6XsjonHUhE=',
};

export const clusterHome = join(cacheDir, `temporal-server-${SERVER.version}`);
export const manifestPath = join(clusterHome, 'manifest.json');

const log = logger('setup:temporal-cluster');

export function provisionTemporalServer() {
  const found = readVerifiedManifest(manifestPath, log, (m) => [m.schemaDir, m.baseConfig]);
  if (found) {
    log(`Temporal server ${found.version}: ${found.binaries.server.path} (sha256 ok)`);
    return found;
  }
  const go = requireGo(`the Temporal server ${SERVER.version}`);
  const home = clusterHome;
  const env = goEnv(home);
  mkdirSync(home, { recursive: true });
  rmSync(join(home, 'build-bin'), { recursive: true, force: true });
  const started = Date.now();

  log(`fetching ${SERVER.module}@v${SERVER.version} from the Go module proxy ...`);
  const moduleDir = downloadPinnedModule(go, env, home, { module: SERVER.module, version: `v${SERVER.version}`, sum: SERVER.sum });

  log(`building the Temporal server (go install ${SERVER.module}/cmd/server; ~2.5 min on 2 cores, once) ...`);
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
  writeManifest(manifestPath, manifest);
  dropGoCaches(home); // ~3.5 GB
  log(`Temporal server ${SERVER.version} built in ${manifest.buildSeconds} s (${goVersion}): ${binaries.server.path}`);
  return manifest;
}

runAsScript(import.meta.url, log, () => {
  const m = provisionTemporalServer();
  if (process.argv.includes('--print-manifest')) process.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
});
