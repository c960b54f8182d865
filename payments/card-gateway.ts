// R-P6: the card processor seen by the engine. Small on purpose so a real processor adapter
// (Stripe-like: idempotency keys, retrieve-by-key) fits behind it.

export type GatewayCharge =
  | { status: 'succeeded'; chargeId: string; amount: string; currency: string }
  | { status: 'declined'; code: string; message: string; chargeId?: string };

export interface GatewayChargeRequest {
  token: string;
  /** Decimal string, 2 places. */
  amount: string;
  currency: string;
  /** R-P5: the same key never charges twice; the first outcome is returned again. */
  idempotencyKey: string;
  description?: string;
}

export interface CardGateway {
  /** Throws TransientGatewayError when there is no answer; a decline is a result, not an error. */
  charge(req: GatewayChargeRequest): Promise<GatewayCharge>;
  /** The outcome recorded for a key, or null when the gateway never processed it. */
  getCharge(idempotencyKey: string): Promise<GatewayCharge | null>;
  refund?(req: { chargeId: string; amount: string; idempotencyKey: string }): Promise<{ refundId: string; status: 'succeeded' }>;
  /** Display data for a token (e.g. last 4 digits), when the processor offers it. */
  describeCard?(token: string): Promise<{ last4?: string; brand?: string } | null>;
}
