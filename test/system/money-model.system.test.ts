import fc from 'fast-check';
import { moneyProperty, Model } from '../model/money-model';
import { stackReal } from '../stack/model-real';
import { Stack, startStack } from '../stack/stack';

// Issue #11: a short run of the money model where races show: the dev server `npm start` runs,
// two worker processes and the API process, over real HTTP. No time travel here (the dev server
// keeps real time); everything else as in test/model.
const RUNS = Number(process.env.MODEL_SYSTEM_RUNS ?? 12);
const SEED = Number(process.env.MODEL_SEED ?? 20261202);

describe('money model on the dev server, worker and API as separate processes (issue #11)', () => {
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

  it(`${RUNS} sequences of at least 20 steps keep every invariant`, async () => {
    const runs: Model[] = [];
    await fc.assert(moneyProperty(async () => real, { timeTravel: false, minSteps: 20, maxSteps: 24, onRun: (m) => runs.push(m) }), { numRuns: RUNS, seed: SEED, endOnFailure: process.env.MODEL_SHRINK !== '1' });
    const steps = runs.map((m) => m.steps).sort((a, b) => a - b);
    console.log(`money model (dev server): ${runs.length} sequences, steps ${steps[0]}–${steps[steps.length - 1]}, seed ${SEED}, 0 invariant violations`);
    expect(runs).toHaveLength(RUNS);
    expect(stack.workers.map((w) => w.exitCode())).toEqual([null, null]);
  }, 40 * 60_000);
});
