import { parseUtcOffset, wholeMonthsBetween } from '../../billing/calendar';
import { refundOnUnsubscribe, usedFractionOfTerm } from '../../billing/subscription-rules';
import { api, type ApiClient, type Order, type Subscription } from './api';
import { offsetOf } from './format';

// R-S11 before confirming: the refund an unsubscribe would pay now, computed by the same pure
// rule the workflow uses (billing/subscription-rules.ts) from what the API shows — the current
// term (its start and the order that paid it) and that order's amounts. The API answers the
// actual refund when the unsubscribe is made.

export interface RefundEstimate {
  refund: string;
  order: Order | null;
  usedPercent: string;
}

export async function estimateRefund(client: ApiClient, sub: Subscription, nowMs = Date.now()): Promise<RefundEstimate> {
  const terms = (await api.terms(client, sub.id)).data;
  const term = terms[terms.length - 1];
  if (!term || !term.order_id) return { refund: '0.00', order: null, usedPercent: '0' };
  const order = await api.order(client, term.order_id);
  const offsetMinutes = parseUtcOffset(offsetOf(term.starts_at) ?? '+00:00');
  const start = Date.parse(term.starts_at);
  const months = Math.max(1, wholeMonthsBetween(start, Date.parse(term.ends_at), offsetMinutes));
  const used = usedFractionOfTerm(start, nowMs, months, offsetMinutes);
  const refund = refundOnUnsubscribe({ paid: order.due, couponPaid: order.coupon, listPrice: order.list_amount, usedFraction: used });
  const usedPercent = ((used.numerator / used.denominator) * 100).toFixed(1); // display only
  return { refund: refund.toFixed(2), order, usedPercent };
}
