import { proxyActivities, sleep } from '@temporalio/workflow';

// The renewal storm's baseline: the same timer-to-one-instant, then one no-op activity.
const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '30 seconds' });

export async function baselineStormWorkflow(at: number): Promise<void> {
  await sleep(Math.max(0, at - Date.now()));
  await noop();
}
