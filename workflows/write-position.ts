import { workflowInfo } from '@temporalio/workflow';

/**
 * Which workflow task writes a read-model step: the run (its start), then the history length
 * when the task started. A task rerun after its worker died has a longer history than the lost
 * one, so the read model takes its steps over the lost task's, even where the rerun took its
 * updates in another order and numbered them lower (store/write-position.ts, issue #13).
 * Only an activity's input: replay never reads it back.
 */
export function writePosition(): { run: number; task: number } {
  const info = workflowInfo();
  return { run: info.runStartTime.getTime(), task: info.historyLength };
}
