#!/usr/bin/env node
// Provisions promtool (Prometheus 3.5.0's rule and config checker) offline from the Go module
// proxy, for `npm run test:cluster`, which checks ops/prometheus/ with it and runs the alert
// rules' unit tests (ops/prometheus/alerts.test.yml). Cached in <cache>/promtool-<version>;
// same checks as setup-temporal-cluster.mjs (pinned module hash, recorded sha256).
//
// Not `go install …@version`: Prometheus' go.mod has replace directives, which go install
// refuses, so the module is downloaded and promtool built inside it, as its own Makefile does.
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, downloadPinnedModule, dropGoCaches, goEnv, logger, readVerifiedManifest, requireGo, run, runAsScript, SetupError, sha256, writeManifest } from './go-build.mjs';

export const PROMETHEUS = {
  module: 'github.com/prometheus/prometheus',
  // Prometheus 3.x publishes its Go module as v0.3MM.P for release 3.MM.P.
  moduleVersion: 'v0.305.0',
  version: '3.5.0',
  sum: 'h1:UO/LsM32/E9yBDtvQj8tN+WwhbyWKR10lO35vmFLx0U=',
};

export const promtoolHome = join(cacheDir, `promtool-${PROMETHEUS.version}`);
const manifestPath = join(promtoolHome, 'manifest.json');
const log = logger('setup:promtool');

export function provisionPromtool() {
  const found = readVerifiedManifest(manifestPath, log);
  if (found) {
    log(`promtool ${found.version}: ${found.binaries.promtool.path} (sha256 ok)`);
    return found;
  }
  const go = requireGo(`promtool ${PROMETHEUS.version}`);
  const home = promtoolHome;
  const env = goEnv(home);
  mkdirSync(join(home, 'bin'), { recursive: true });
  const started = Date.now();
  log(`fetching ${PROMETHEUS.module}@${PROMETHEUS.moduleVersion} from the Go module proxy ...`);
  const moduleDir = downloadPinnedModule(go, env, home, { module: PROMETHEUS.module, version: PROMETHEUS.moduleVersion, sum: PROMETHEUS.sum });
  log(`building promtool ${PROMETHEUS.version} (~3 min on 2 cores, once) ...`);
  const out = join(home, 'bin', 'promtool');
  // The version goes in as Prometheus' own release build sets it, so --version can be checked.
  run(go, ['build', '-o', out, '-ldflags', `-X github.com/prometheus/common/version.Version=${PROMETHEUS.version}`, './cmd/promtool'], { cwd: moduleDir, env });
  chmodSync(out, 0o755);
  const version = run(out, ['--version']).split('\n')[0].trim();
  if (!version.includes(PROMETHEUS.version)) throw new SetupError(`${out} --version printed "${version}", expected ${PROMETHEUS.version}`);
  const goVersion = run(go, ['env', 'GOVERSION'], { env }).trim();
  const manifest = {
    module: PROMETHEUS.module, moduleVersion: PROMETHEUS.moduleVersion, version: PROMETHEUS.version, moduleSum: PROMETHEUS.sum, goVersion,
    builtAt: new Date().toISOString(), buildSeconds: Math.round((Date.now() - started) / 1000),
    binaries: { promtool: { path: out, sha256: sha256(out), version } },
  };
  writeManifest(manifestPath, manifest);
  dropGoCaches(home); // ~2.8 GB
  log(`promtool ${PROMETHEUS.version} built in ${manifest.buildSeconds} s (${goVersion}): ${out}`);
  return manifest;
}

runAsScript(import.meta.url, log, () => {
  provisionPromtool();
});
