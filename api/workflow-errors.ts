import { WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, isGrpcServiceError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ApiError, statusForCode } from './errors';

/**
 * How long a request waits for Temporal before it answers 503 (issue #11: never a hang over
 * 10 s). The work is not lost: every command is idempotent on its key, so the client's retry
 * with the same Idempotency-Key finds the first one's outcome.
 */
export const TEMPORAL_BUDGET_MS = 8_000;

/** A refusal from a workflow update (its validator or handler) as the API error its code names. */
export function updateRefusal(err: unknown): ApiError | null {
  const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
  if (cause instanceof ApplicationFailure && cause.type && cause.type.includes('.')) {
    return new ApiError(statusForCode(cause.type), cause.type, cause.message);
  }
  return null;
}

/** Runs a workflow call within the budget; a refusal becomes the API error it names. */
export async function viaUpdate<T>(temporal: Client, fn: () => Promise<T>): Promise<T> {
  try {
    return await temporal.connection.withDeadline(Date.now() + TEMPORAL_BUDGET_MS, fn);
  } catch (err) {
    throw updateRefusal(err) ?? unavailable(err) ?? err;
  }
}

/** Temporal did not answer in time, or is down: 503 with a stable code, never a 500 or a hang. */
export function unavailable(err: unknown): ApiError | null {
  // An update call that ran out of the budget: the SDK raises this whether the gRPC call ended as
  // DEADLINE_EXCEEDED or as CANCELLED (the latter seen when the worker serving the workflow was
  // killed, issue #13 scenario 1, where it answered 500). The API cancels nothing else.
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return serviceUnavailable();
  const grpc = isGrpcServiceError(err) ? err : isGrpcServiceError((err as { cause?: unknown })?.cause) ? (err as { cause: unknown }).cause : null;
  // 4 DEADLINE_EXCEEDED, 14 UNAVAILABLE (gRPC status codes)
  if (grpc && ((grpc as { code?: number }).code === 4 || (grpc as { code?: number }).code === 14)) return serviceUnavailable();
  return null;
}

const serviceUnavailable = () => new ApiError(503, 'SERVICE.UNAVAILABLE', 'the workflow service did not answer in time; retry with the same Idempotency-Key', { retry_after_seconds: 2 });
