#!/usr/bin/env node
// `npm run test:model -- --runs N [--seed S] [--min-steps K] [--path P]`: the money model (issue #11) for as
// many sequences as asked, on the time-skipping server through the HTTP API. `npm test` runs it
// with 200 sequences and a fixed seed; this is for long runs. A failure prints the shrunk
// sequence of requests and the seed/path to replay it.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const value = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = args[i + 1];
  if (v === undefined || !/^\d+$/.test(v)) {
    console.error(`--${name} needs a whole number, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return v;
};
const env = {
  ...process.env,
  MODEL_RUNS: value('runs', '200'),
  MODEL_SEED: value('seed', String(Date.now() % 2 ** 31)),
  MODEL_MIN_STEPS: value('min-steps', '20'),
  MODEL_PATH: value('path', ''),
  MODEL_TIMEOUT_MS: String(48 * 3_600_000),
};
console.log(`money model: ${env.MODEL_RUNS} sequences of at least ${env.MODEL_MIN_STEPS} steps, seed ${env.MODEL_SEED}`);
const setup = spawnSync('npm', ['run', 'setup:temporal', '--', '--test-server'], { stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);
const run = spawnSync('npx', ['jest', 'test/model'], { stdio: 'inherit', env });
process.exit(run.status ?? 1);
