import type { Context as ActivityContext } from '@temporalio/activity';
import { ActivityInterceptors, InjectedSinks, NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import type { Logger } from '../common/logger';
import { renewals, retryBoundHits } from '../common/metrics';
import { createActivities, ActivityDeps } from '../activities';
import type { QuotaflowMetricsSinks } from '../workflows/metrics.sinks';

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Production: the prebuilt bundle (`npm run build`). Tests: a bundle made once per file. */
  workflowBundle: { codePath: string } | { code: string };
  logger?: Logger;
  /** Tests: e.g. maxCachedWorkflows 0, so that every workflow task replays the whole history. */
  overrides?: Partial<WorkerOptions>;
}

/**
 * Workflows' metric reports (workflows/metrics.sinks.ts) into the process's registry. Not called
 * during replay (callDuringReplay defaults to false), so each event counts once per process
 * that decided it.
 */
export const metricsSinks: InjectedSinks<QuotaflowMetricsSinks> = {
  metrics: {
    renewal: { fn: (_info, result) => renewals.inc({ result }) },
    retryBoundHit: { fn: (_info, activity) => retryBoundHits.inc({ activity }) },
  },
};

/**
 * A regular activity whose worker dies is retried once the server gives up on that worker: with
 * no heartbeat, at its start-to-close timeout (30 s for a money step). A heartbeat every second,
 * from the first second on, against the money steps' 5 s heartbeat timeout brings that to about
 * 5 s, and the short calls (a renewal's charge takes milliseconds) never send one. The SDK
 * forwards them at most once a second (maxHeartbeatThrottleInterval below).
 */
const HEARTBEAT_EVERY_MS = 1_000;
export function heartbeatWhileRunning(ctx: ActivityContext): ActivityInterceptors {
  return {
    inbound: {
      async execute(input, next) {
        if (ctx.info.isLocal || !ctx.info.heartbeatTimeoutMs) return next(input);
        const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
        try {
          return await next(input);
        } finally {
          clearInterval(beat);
        }
      },
    },
  };
}

/** Builds the quotaflow worker: the workflow bundle plus every activity bound to its deps. */
export async function createWorker(setup: WorkerSetup): Promise<Worker> {
  const options: WorkerOptions = {
    connection: setup.connection,
    namespace: setup.namespace,
    taskQueue: setup.taskQueue,
    workflowBundle: setup.workflowBundle,
    activities: createActivities(setup.deps),
    sinks: metricsSinks,
    interceptors: { activity: [heartbeatWhileRunning] },
    // The SDK sends heartbeats at most every 0.8 × the heartbeat timeout (4 s of 5): a beat
    // delayed by a busy machine then reached the server after the timeout, and a 7 s card call
    // ran twice (found by a CI run). Sending each second's beat leaves 4 s of slack.
    maxHeartbeatThrottleInterval: '1 second',
    // A renewal storm (issue #6 bench) puts hundreds of workflows on one instant.
    maxConcurrentActivityTaskExecutions: 200,
    maxConcurrentWorkflowTaskExecutions: 100,
    // Graceful shutdown (SIGTERM, a deploy): stop polling, let the activities in flight finish
    // for up to 20 s (a charge waiting on the card gateway), then cancel what is left; their
    // retries run on another replica, idempotent on their business keys (R-P5).
    shutdownGraceTime: '20 seconds',
    ...setup.overrides,
  };
  return Worker.create(options);
}
