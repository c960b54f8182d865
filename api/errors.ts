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
