import { ActivityFailure, ActivityInterfaceFor, ApplicationFailure, log, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

/**
 * Activities as a workflow calls them: first as a local activity (or, with `firstTry: 'regular'`,
 * a regular one) whose retries are bounded by a schedule-to-close timeout, then — only if that
 * bound is hit — as a regular activity retried without end.
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
export function boundedActivities<A extends object>(opts: { onBoundHit?: (activity: string) => void; firstTry?: 'local' | 'regular' } = {}): A {
  // The bound and its retry cadence are the same both ways. A regular first try (the money steps
  // after a purchase, MONEY_IN_HISTORY in the subscription workflow) is retried by the server
  // with no history, and its bound is what tells operators a step is stuck.
  const bound = {
    scheduleToCloseTimeout: '1 minute',
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds' },
  } as const;
  // A regular try on a worker that died is retried after the heartbeat timeout, not the 30 s
  // start-to-close (the worker heartbeats long calls: heartbeatWhileRunning in workers/worker.ts).
  const first = opts.firstTry === 'regular' ? proxyActivities<A>({ ...bound, heartbeatTimeout: '5 seconds' }) : proxyLocalActivities<A>(bound);
  const durable = durableActivities<A>();
  return new Proxy({} as A, {
    get(_target, name: string) {
      return async (...args: unknown[]) => {
        try {
          return await (first as Record<string, (...a: unknown[]) => Promise<unknown>>)[name](...args);
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

/** Regular activities retried on the server without end (every activity is idempotent on a business key). */
function durableActivities<A extends object>(): ActivityInterfaceFor<A> {
  return proxyActivities<A>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
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
