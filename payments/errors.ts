// Business errors of the payment engine: a stable `code` (mapped to HTTP in one place in api/)
// and a human message. They are not worth retrying: the activity retry policy should list
// `PaymentError` in `nonRetryableErrorTypes` (Temporal uses the error's `name` as its type).
export type PaymentErrorCode =
  | 'PAYMENT.INSUFFICIENT_FUNDS'
  | 'PAYMENT.CARD_DECLINED'
  | 'PAYMENT.NO_CARD'
  | 'PAYMENT.REFUND_EXCEEDS_PAID'
  | 'PAYMENT.TIMEOUT'
  | 'ORDER.NOT_FOUND'
  | 'ORDER.NOT_REFUNDABLE'
  | 'ACCOUNT.NOT_FOUND'
  | 'CREDIT.LIMIT_BELOW_USED'
  | 'IDEMPOTENCY.MISMATCH'
  | 'VALIDATION.AMOUNT'
  | 'VALIDATION.CURRENCY'
  | 'VALIDATION.PERCENT'
  | 'VALIDATION.DATE'
  | 'VALIDATION.TOKEN'
  | 'VALIDATION.FIELD';

export class PaymentError extends Error {
  override readonly name = 'PaymentError';
  constructor(
    readonly code: PaymentErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * The gateway could not give an answer (network, timeout, 5xx, "request in progress"). Retry
 * with the same idempotency key; the engine keeps the charge's locks until it has an answer.
 * Deliberately not a PaymentError, so Temporal's default retry policy retries it.
 */
export class TransientGatewayError extends Error {
  override readonly name = 'TransientGatewayError';
}
