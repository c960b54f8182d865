import { defineUpdate, proxyActivities, setHandler, sleep } from '@temporalio/workflow';

// The renewal storm's baseline: the same timer-to-one-instant, then one no-op activity.
const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '30 seconds' });

export async function baselineStormWorkflow(at: number): Promise<void> {
  await sleep(Math.max(0, at - Date.now()));
  await noop();
}

// The API-latency bench's second baseline: started with an update that the workflow answers at
// once (update-with-start, what a purchase uses), then one no-op activity.
export const answerUpdate = defineUpdate<string>('answer');

export async function bareAnswerWorkflow(): Promise<void> {
  setHandler(answerUpdate, () => 'ok');
  await noop();
}
