import Decimal from 'decimal.js';
import { ChargeOutcome, charges } from '../common/metrics';
import type { OrderRow } from './types';

// quotaflow_charges_total{outcome, path} (issue 14): every charge counted once, when its outcome
// is decided — not when an Idempotency-Key or a retried activity replays it (R-P5).

const SOURCES = ['coupon', 'cash', 'credit', 'card'] as const;

/**
 * The sources a charge took or was to take, in collection order (R-P1): `coupon+cash+card`.
 * Read from the order as planned, before a failure zeroes its parts. `free` when nothing was due;
 * `none` when there was something due and nothing to take it from.
 */
export function chargePath(order: Pick<OrderRow, 'due' | 'coupon' | 'cash' | 'credit' | 'card'>): string {
  const parts = SOURCES.filter((s) => new Decimal(order[s]).greaterThan(0));
  if (parts.length) return parts.join('+');
  return new Decimal(order.due).isZero() ? 'free' : 'none';
}

/**
 * paid; refused — the customer cannot pay (not covered and no card, or the card declined: a
 * business outcome, R-P4); failed — the card gateway did not settle in time (PAYMENT.TIMEOUT):
 * ours or the provider's, what an operator looks at.
 */
export function countCharge(order: Pick<OrderRow, 'status' | 'failure_code'>, path: string): void {
  if (order.status === 'pending') return; // not decided yet: counted when it is
  const outcome: ChargeOutcome = order.status !== 'failed' ? 'paid' : order.failure_code === 'PAYMENT.TIMEOUT' ? 'failed' : 'refused';
  charges.inc({ outcome, path });
}
