import { NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import type { Logger } from '../common/logger';
import { createActivities, ActivityDeps } from '../activities';

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Production: the prebuilt bundle (`npm run build`). Tests: a bundle made once per file. */
  workflowBundle: { codePath: string } | { code: string };
  logger?: Logger;
}

/** Builds the quotaflow worker: the workflow bundle plus every activity bound to its deps. */
export async function createWorker(setup: WorkerSetup): Promise<Worker> {
  const options: WorkerOptions = {
    connection: setup.connection,
    namespace: setup.namespace,
    taskQueue: setup.taskQueue,
    workflowBundle: setup.workflowBundle,
    activities: createActivities(setup.deps),
    // A renewal storm (issue #6 bench) puts hundreds of workflows on one instant.
    maxConcurrentActivityTaskExecutions: 200,
    maxConcurrentWorkflowTaskExecutions: 100,
  };
  return Worker.create(options);
}
