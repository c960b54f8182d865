// Shared by the scripts that build a tool from the Go module proxy (setup-temporal-cluster.mjs,
// setup-promtool.mjs): a private GOPATH/GOCACHE under the tool's cache dir, a source module whose
// go.sum hash must equal the pinned one, and a manifest.json written last that records each
// binary's sha256, re-checked on every later run. Plain Node with no dependencies on purpose:
// these run before anything is built.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');

export class SetupError extends Error {}

export const logger = (tag) => (msg) => process.stderr.write(`[${tag}] ${msg}\n`);

export function which(cmd) {
  for (const dir of (process.env.PATH || '').split(delimiter)) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) throw new SetupError(`${cmd} could not start: ${r.error.message}`);
  if (r.status !== 0) throw new SetupError(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${(r.stderr || r.stdout || '').slice(-3000)}`);
  return r.stdout;
}

export function sha256(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** `go` on PATH, or an error that says what to install for `what`. */
export function requireGo(what) {
  const go = which('go');
  if (!go) {
    throw new SetupError(`cannot build ${what}: \`go\` is not installed (or not on PATH). ` +
      'Install Go 1.22 or newer (it fetches a newer toolchain itself if the module asks for one), then run this again.');
  }
  return go;
}

export function goEnv(home) {
  return {
    ...process.env,
    // Everything Go writes stays under the tool's cache dir: a fresh machine and a second run
    // behave the same whatever the user's own Go setup is.
    GOPATH: join(home, 'gopath'),
    GOMODCACHE: join(home, 'gopath', 'pkg', 'mod'),
    GOCACHE: join(home, 'gocache'),
    GOBIN: join(home, 'build-bin'),
    // -modcacherw: Go makes its module cache read-only, which would stop a plain `rm -rf` of
    // the cache dir; -mod=mod: never look for a vendor directory.
    GOFLAGS: '-mod=mod -modcacherw -buildvcs=false',
    GOWORK: 'off',
    // Static binaries: no C compiler needed on a fresh machine.
    CGO_ENABLED: '0',
  };
}

/** Downloads module@version into the private module cache, refuses any other hash; returns its source dir. */
export function downloadPinnedModule(go, env, home, { module, version, sum }) {
  const info = JSON.parse(run(go, ['mod', 'download', '-json', `${module}@${version}`], { cwd: home, env }));
  if (info.Error) throw new SetupError(`go mod download failed: ${info.Error}`);
  if (info.Sum !== sum) throw new SetupError(`refusing ${module}@${version}: its hash ${info.Sum} does not match the pinned ${sum}`);
  return info.Dir;
}

/** The manifest at `path` if every binary it lists still hashes as recorded, or null. */
export function readVerifiedManifest(path, log, extraPaths = (m) => []) {
  if (!existsSync(path)) return null;
  let m;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
  for (const b of Object.values(m.binaries ?? {})) {
    if (!existsSync(b.path) || sha256(b.path) !== b.sha256) {
      log(`${b.path} is missing or does not match the sha256 recorded when it was built; rebuilding`);
      return null;
    }
  }
  if (extraPaths(m).some((p) => !existsSync(p))) return null;
  return m;
}

/** Written last and atomically: its presence means a whole build. */
export function writeManifest(path, manifest) {
  const tmp = `${path}.partial`;
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(tmp, path);
}

/** The Go build and module caches (GBs) are only needed to build again. */
export function dropGoCaches(home) {
  for (const d of ['gocache', 'gopath', 'build-bin']) rmSync(join(home, d), { recursive: true, force: true });
}

/** Runs `fn` when `metaUrl` is the script node was started with; a SetupError exits 1 with its message. */
export function runAsScript(metaUrl, log, fn) {
  const isMain = process.argv[1] && metaUrl === new URL(`file://${process.argv[1]}`).href;
  if (!isMain) return;
  try {
    fn();
  } catch (err) {
    if (err instanceof SetupError) {
      log(`ERROR: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}
