import { PaymentError } from '../payments/errors';

// One error shape for every route (API.md): { error: { code, message, details? } }.
// Codes are stable; messages are for humans; no stack trace ever leaves the process.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string) => new ApiError(404, 'NOT_FOUND', `${what} ${id} does not exist`);
export const conflict = (code: string, message: string, details?: Record<string, unknown>) => new ApiError(409, code, message, details);
export const badRequest = (code: string, message: string, details?: Record<string, unknown>) => new ApiError(400, code, message, details);

/** Business errors raised below the API (payment engine, catalog) carry a code; this maps codes to HTTP. */
export function statusForCode(code: string): number {
  if (code.startsWith('VALIDATION.')) return 400;
  if (code.startsWith('PAYMENT.') && code !== 'PAYMENT.REFUND_EXCEEDS_PAID') return 402;
  if (code.endsWith('NOT_FOUND')) return 404;
  if (code.startsWith('IDEMPOTENCY.')) return 422;
  if (code.startsWith('STATE.') || code.endsWith('.CONFLICT') || code === 'CREDIT.LIMIT_BELOW_USED' || code === 'ORDER.NOT_REFUNDABLE') return 409;
  return 422;
}

/**
 * Any thrown value as the API error it stands for. The error handler and the Idempotency-Key
 * store both use this, so a replay answers exactly what the first request answered. Anything
 * not recognised is a real fault: 500 `INTERNAL`, with nothing of the original error shown.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof PaymentError) return new ApiError(statusForCode(err.code), err.code, err.message, Object.keys(err.details).length ? err.details : undefined);
  const e = err as { type?: string; status?: number; expose?: boolean } | null;
  // body-parser errors: bad JSON, too large, wrong charset or encoding.
  if (e?.type === 'entity.too.large') return new ApiError(413, 'VALIDATION.BODY_TOO_LARGE', 'request body is larger than 1 MB');
  if (e?.type === 'entity.parse.failed') return new ApiError(400, 'VALIDATION.JSON', 'request body is not valid JSON (a JSON object is expected)');
  if (e?.expose && e.status && e.status >= 400 && e.status < 500) return new ApiError(e.status, 'VALIDATION.REQUEST', 'the request could not be read');
  if (isUnavailable(err)) return new ApiError(503, 'SERVICE.UNAVAILABLE', 'a service quotaflow depends on is not answering; retry in a moment (with the same Idempotency-Key)', { retry_after_seconds: 2 });
  return new ApiError(500, 'INTERNAL', 'internal error; it has been logged');
}

/** The wire shape of an error. */
export function errorBody(e: ApiError): { error: { code: string; message: string; details?: Record<string, unknown> } } {
  return { error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } };
}

/**
 * A dependency that is down or did not answer in time, rather than a fault of ours: Postgres
 * refusing connections or out of pool slots, Temporal's gRPC UNAVAILABLE / DEADLINE_EXCEEDED.
 */
function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: string; message?: string; cause?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08001', '08004'].includes(e.code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  // A workflow update call that ran out of time or was cut off (issue #13), wherever it is caught.
  if (e.name === 'WorkflowUpdateRPCTimeoutOrCancelledError') return true;
  if (typeof e.code === 'number' && (e.code === 14 || e.code === 4) && (e.name === 'ServiceError' || /UNAVAILABLE|DEADLINE_EXCEEDED/.test(e.message ?? ''))) return true;
  return e.cause !== undefined && e.cause !== err && isUnavailable(e.cause);
}
