import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ApiError, statusForCode } from './errors';

/** Runs a workflow update; a refusal from its validator or handler becomes the API error it names. */
export async function viaUpdate<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type && cause.type.includes('.')) {
      throw new ApiError(statusForCode(cause.type), cause.type, cause.message);
    }
    throw err;
  }
}
