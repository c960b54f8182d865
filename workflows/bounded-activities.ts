import { ActivityFailure, ApplicationFailure, log, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

/**
 * Activities as a workflow calls them: first as a local activity whose retries are bounded by a
 * schedule-to-close timeout, then — only if that bound is hit — as a regular activity.
 *
 * Why both: a local activity is the fast path (a marker in history instead of three events and
 * two round trips; what keeps a 03:00 renewal storm cheap), but a local activity retried past the
 * SDK's local-retry threshold backs off through workflow timers, and history grows with every
 * try until Temporal ends the run (issue #11, defect 1). A regular activity retries on the server
 * with no history at all. So a step that cannot finish in its bound is logged as an error,
 * counted (`onBoundHit`: the workflow's state and the worker's metrics), and goes on retrying as
 * a regular activity: never lost, never double-applied (every activity is idempotent on a
 * business key), and never growing history.
 *
 * A business refusal (ApplicationFailure marked non-retryable: a PaymentError's code, a
 * validation) is not an infrastructure fault: it is thrown to the workflow at once, both ways.
 */
export function boundedActivities<A extends object>(opts: { onBoundHit?: (activity: string) => void } = {}): A {
  const local = proxyLocalActivities<A>({
    scheduleToCloseTimeout: '1 minute',
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds' },
  });
  const durable = proxyActivities<A>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
  });
  return new Proxy({} as A, {
    get(_target, name: string) {
      return async (...args: unknown[]) => {
        try {
          return await (local as Record<string, (...a: unknown[]) => Promise<unknown>>)[name](...args);
        } catch (err) {
          if (isBusinessRefusal(err)) throw err;
          log.error('activity hit its retry bound; continuing as a regular activity', { activity: name, error: String((err as Error)?.message ?? err) });
          opts.onBoundHit?.(name);
          return (durable as Record<string, (...a: unknown[]) => Promise<unknown>>)[name](...args);
        }
      };
    },
  });
}

/** A non-retryable ApplicationFailure from an activity: a business refusal with a stable code. */
export function isBusinessRefusal(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.nonRetryable === true;
}

/** The refusal as an update failure the API maps to HTTP (its type is the stable code). */
export function asRefusal(err: unknown): never {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.nonRetryable) {
    throw ApplicationFailure.create({ message: cause.message, type: cause.type ?? 'INTERNAL', nonRetryable: true, details: cause.details as unknown[] | undefined });
  }
  throw err;
}
