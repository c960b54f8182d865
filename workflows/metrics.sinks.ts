import { proxySinks, Sinks } from '@temporalio/workflow';

/**
 * What workflows report to the worker's metrics (issue 14). Workflow code does no I/O and is
 * replayed, so it cannot bump a counter itself: it calls this sink, and the worker
 * (workers/worker.ts) counts the call outside the sandbox — never during replay, so a workflow
 * rebuilt from history (a cache eviction, another replica taking over) does not count again.
 *
 * Why here and not in an activity: a renewal's "due" and the retry bound are workflow decisions.
 * The bound is a local activity's schedule-to-close timeout (workflows/bounded-activities.ts):
 * the attempt it ends may never run code, so no activity can see that it was the last one.
 * (Temporal's workflow `metricMeter` is the same mechanism, but it exports through the SDK's
 * own meter with its prefix and tags; this keeps the names ops/ alert on in one registry.)
 */
export interface QuotaflowMetricsSinks extends Sinks {
  metrics: {
    /** R-S3: a term's first auto-renew deduction came due, or an attempt ran, and how it ended */
    renewal(result: 'due' | 'attempted' | 'succeeded' | 'failed'): void;
    /** an activity exhausted its bounded local retries and goes on as a regular activity */
    retryBoundHit(activity: string): void;
  };
}

export const { metrics: metricsSink } = proxySinks<QuotaflowMetricsSinks>();
