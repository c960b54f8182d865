import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

/**
 * Workflow code for fault-injection tests only (bundled by test/workflows/lost-task.workflow.test.ts):
 * a local activity whose result carries `lostTask` makes its workflow task fail after the
 * activity did its work. To the server that is the task of a worker that died at that moment:
 * nothing of the task reaches history, and the task runs again, with whatever arrived meanwhile.
 * The failure is raised where the activation ends, outside workflow code, so no `catch` in the
 * workflow (the bounded activities' fallback) can take it for an ordinary activity error.
 */
export const LOST_TASK = 'lostTask';

let lost: string | null = null;

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [{
    async scheduleLocalActivity(input, next) {
      const result: unknown = await next(input);
      if (result !== null && typeof result === 'object' && LOST_TASK in result) lost = input.activityType;
      return result;
    },
  }],
  internals: [{
    concludeActivation(input, next) {
      if (lost !== null) {
        const activity = lost;
        lost = null;
        throw new Error(`test fault: the worker died after ${activity} ran, before its workflow task completed`);
      }
      return next(input);
    },
  }],
});
