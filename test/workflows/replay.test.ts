import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registry } from '../../common/metrics';
import { metricsSinks } from '../../workers/worker';
import { workflowBundle } from '../support/temporal';

// Determinism guard: every history committed under test/history (recorded from the lifecycle
// tests with RECORD_HISTORIES=1) must replay against today's workflow code without a
// non-determinism error. Changing a workflow in a way that breaks running executions fails here.
// Subfolders keep histories of earlier workflow versions (e.g. before-lean-renewal/): running
// executions started on old code must keep replaying on new code (the `patched` branches).
const dir = join(__dirname, '..', 'history');
const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort();

describe('replay of committed workflow histories', () => {
  it('has representative lifecycles to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(12);
  });

  it.each(files)('%s replays deterministically', async (file) => {
    const { workflowId, historyBase64 } = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const history = temporal.api.history.v1.History.decode(Buffer.from(historyBase64, 'base64'));
    expect(history.events.length).toBeGreaterThan(5);
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId)).resolves.toBeUndefined();
  });

  it('a replayed renewal is not counted again in the worker\'s metrics (issue 14: sinks skip replay)', async () => {
    // The worker's own sinks, as in production: a workflow rebuilt from history (a cache
    // eviction, another replica taking over) must not count its renewals a second time.
    const { workflowId, historyBase64 } = JSON.parse(readFileSync(join(dir, 'rs3-renewed-on-third-attempt.json'), 'utf8'));
    const history = temporal.api.history.v1.History.decode(Buffer.from(historyBase64, 'base64'));
    const before = await registry.getSingleMetricAsString('quotaflow_renewals_total');
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), sinks: metricsSinks }, history, workflowId);
    expect(await registry.getSingleMetricAsString('quotaflow_renewals_total')).toBe(before);
    expect(before).not.toMatch(/result="/); // nothing counted in this process at all
  });
});
