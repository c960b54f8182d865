#!/usr/bin/env node
// `npm run chaos -- --rounds N [--outage S] [--report FILE] [--only PATTERN]`: the system tier's
// fault scenarios (issue #13, docs/reliability.md) run longer than CI runs them, then a summary
// table of their figures. CI runs the same files with small defaults inside `npm run test:system`.
//
//   --rounds N    faults per scenario for scenarios 1, 4, 5 and 6 (default 20); scenario 3 gets
//                 one round (a server kill across a 03:00 instant) per 4 of N, at least 1
//   --outage S    how long Postgres stays down in scenario 2 (default 60, as the issue asks)
//   --report FILE where the figures go (one JSON line per scenario; default
//                 reports/chaos-<timestamp>.jsonl)
//   --only P      only the scenario files whose path matches P (a jest path pattern)
//
// It builds first (the stack runs dist/), like `npm run test:system`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) fail(`--${name} needs a value`);
  return v;
};
function fail(message) {
  process.stderr.write(`chaos: ${message}\n`);
  process.exit(2);
}
const rounds = Number(opt('rounds', '20'));
const outage = Number(opt('outage', '60'));
if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a whole number ≥ 1, got ${opt('rounds')}`);
if (!Number.isInteger(outage) || outage < 1) fail(`--outage must be whole seconds ≥ 1, got ${opt('outage')}`);
const report = resolve(opt('report', join(root, 'reports', `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`)));
mkdirSync(dirname(report), { recursive: true });
const only = opt('only', null);

// The fault scenarios; the tier's other files (the money model, the refused purchase) are not faults.
const SCENARIOS = [
  'test/system/worker-crash.system.test.ts',
  'test/system/postgres-outage.system.test.ts',
  'test/system/temporal-restart.system.test.ts',
  'test/system/api-crash.system.test.ts',
  'test/system/topup-while-temporal-down.system.test.ts',
  'test/system/worker-killed-mid-storm.system.test.ts',
].filter((f) => !only || new RegExp(only).test(f));
if (SCENARIOS.length === 0) fail(`no scenario file matches ${only}`);

const run = (cmd, argv, env = process.env) => {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env });
  return r.status ?? 1;
};
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
if (run(npm, ['run', 'setup:temporal', '--', '--cli']) !== 0) fail('setting up the Temporal CLI failed');
if (run(npm, ['run', 'build']) !== 0) fail('the build failed');

const env = {
  ...process.env,
  QUOTAFLOW_RELIABILITY_REPORT: report,
  CHAOS_WORKER_ROUNDS: String(rounds),
  CHAOS_API_ROUNDS: String(rounds),
  CHAOS_TOPUP_ROUNDS: String(rounds),
  CHAOS_STORM_ROUNDS: String(rounds),
  CHAOS_TEMPORAL_ROUNDS: String(Math.max(1, Math.ceil(rounds / 4))),
  CHAOS_PG_OUTAGE_S: String(outage),
};
const started = Date.now();
const status = run(process.execPath, [join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '-c', 'jest.system.config.js', '--testTimeout', String(3 * 3600_000), ...SCENARIOS], env);
const minutes = ((Date.now() - started) / 60_000).toFixed(1);

// The summary: one row per scenario, from the report lines this run appended.
const lines = existsSync(report) ? readFileSync(report, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const rows = lines.filter((l) => Date.parse(l.at) >= started).map((l) => {
  const recovery = l.recoveryMsMedian !== undefined
    ? `${(l.recoveryMsMedian / 1000).toFixed(1)} s (${((l.recoveryMsMin ?? l.recoveryMsMedian) / 1000).toFixed(1)}–${(l.recoveryMsMax / 1000).toFixed(1)})`
    : l.recoveryMs !== undefined ? `${(l.recoveryMs / 1000).toFixed(1)} s` : '—';
  return {
    scenario: l.scenario,
    // the due (automatic) renewals a round's fault fell across, where the scenario has them
    runs: String(l.rounds ?? l.runs ?? 1) + (l.renewed !== undefined && l.renewals ? ` (${l.renewals} due renewals)` : ''),
    faults: String(l.injected ?? '—'),
    double: String(l.doubleCharges ?? l.doubleEffects ?? l.doubleRenewals ?? l.twice ?? 0),
    lost: String(l.lost ?? 0),
    recovery,
  };
});
const head = { scenario: 'scenario', runs: 'runs', faults: 'faults injected', double: 'double charges/effects', lost: 'lost', recovery: 'time to recover, median (range)' };
const cols = Object.keys(head);
const width = Object.fromEntries(cols.map((c) => [c, Math.max(...[head, ...rows].map((r) => r[c].length))]));
const line = (r) => `| ${cols.map((c) => r[c].padEnd(width[c])).join(' | ')} |`;
process.stdout.write(`\n${line(head)}\n|${cols.map((c) => '-'.repeat(width[c] + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`);
const total = rows.reduce((a, r) => a + (Number(r.faults) || 0), 0);
process.stdout.write(`\n${rows.length} scenario(s), ${total} faults injected, ${minutes} min; figures in ${report}\n`);
process.exit(status);
