import fc from 'fast-check';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { moneyProperty, Model } from '../model/money-model';
import { stackReal } from '../stack/model-real';
import { Stack, startStack } from '../stack/stack';
import { parseMetrics, Scrape } from '../support/prometheus';

// Issue 14: a short run of the money model (test/model) on the real Temporal server, two worker
// processes and the API over HTTP — the same invariants after every step as on the test and dev
// servers. Kept short (the whole tier runs in CI's 90 minutes): MODEL_CLUSTER_RUNS sequences of
// 8–10 steps. Then what Prometheus would scrape from those processes: the money that moved is
// in the charge counters, and every metric an alert reads is there.
const RUNS = Number(process.env.MODEL_CLUSTER_RUNS ?? 3);
const SEED = Number(process.env.MODEL_SEED ?? 20261202);

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  return parseMetrics(await res.text());
}

describe('money model on the real Temporal server, 2 worker processes and the API (issue 14)', () => {
  let stack: Stack;
  let real: Awaited<ReturnType<typeof stackReal>>;
  beforeAll(async () => {
    stack = await startStack({ workers: 2 });
    real = await stackReal(stack);
  }, 240_000);
  afterAll(async () => {
    await real?.close();
    await stack?.stop();
  }, 60_000);

  it(`${RUNS} sequences of 8–10 steps keep every invariant, and the processes' /metrics count them`, async () => {
    const runs: Model[] = [];
    await fc.assert(moneyProperty(async () => real, { timeTravel: false, minSteps: 8, maxSteps: 10, onRun: (m) => runs.push(m) }), { numRuns: RUNS, seed: SEED, endOnFailure: process.env.MODEL_SHRINK !== '1' });
    const steps = runs.map((m) => m.steps).sort((a, b) => a - b);
    console.log(`money model (cluster): ${runs.length} sequences, steps ${steps[0]}–${steps[steps.length - 1]}, seed ${SEED}, 0 invariant violations`);
    expect(runs).toHaveLength(RUNS);
    expect(stack.workers.map((w) => w.exitCode())).toEqual([null, null]);

    const scrapes = await Promise.all([stack.apiUrl, ...stack.workers.map((w) => w.metricsUrl)].map(scrape));
    // Every charge the runs paid (refunded since or not) went through the payment engine in one
    // of these processes, and was counted once.
    const paid = Number(await real.db('orders').whereIn('status', ['paid', 'partially_refunded', 'refunded']).count({ n: '*' }).first().then((r) => r?.n ?? 0));
    expect(paid).toBeGreaterThan(0);
    expect(scrapes.reduce((t, s) => t + s.sum('quotaflow_charges_total', { outcome: 'paid' }), 0)).toBe(paid);
    // The names alerts.yml reads are all in a real scrape of the API or a worker.
    const rules = parse(readFileSync(join(__dirname, '..', '..', 'ops', 'prometheus', 'alerts.yml'), 'utf8')).groups.flatMap((g: { rules: { expr: string }[] }) => g.rules);
    const names = [...new Set(rules.flatMap((r: { expr: string }) => r.expr.match(/quotaflow_[a-z_]+/g) ?? []))] as string[];
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const name of names) expect({ name, scraped: scrapes.some((s) => s.families.has(name)) }).toEqual({ name, scraped: true });
  }, 20 * 60_000);
});
