import Decimal from 'decimal.js';
import type { CardDto, ChargeFailureCode, ChargeResult, CouponDto, DiscountDto, OrderDto, OrderRow, OrderStatus, RefundDto } from './types';

// What every phase of the engine shares: money formatting, the paid states, rows → DTOs.

export const PAID_STATES: OrderStatus[] = ['paid', 'partially_refunded', 'refunded'];
export const DEFAULT_LOCK_TTL_MS = 15 * 60 * 1000;
export const ZERO = new Decimal(0);
export const fmt = (v: Decimal.Value) => new Decimal(v).toFixed(2);
export const iso = (v: Date | string | null | undefined) => (v ? new Date(v).toISOString() : null);
export const isUniqueViolation = (e: unknown) => (e as { code?: string })?.code === '23505';

export const zeroParts = { coupon: '0.00', cash: '0.00', credit: '0.00', card: '0.00' };

export function toOrderDto(r: OrderRow): OrderDto {
  return {
    id: r.id,
    account_id: r.account_id,
    subscription_id: r.subscription_id,
    resource_id: r.resource_id,
    kind: r.kind,
    product: r.product,
    description: r.description,
    idempotency_key: r.idempotency_key,
    currency: r.currency,
    list_amount: fmt(r.list_amount),
    discount: r.discount_id
      ? { id: r.discount_id, kind: r.discount_kind!, percent_off: fmt(r.discount_percent!), amount: fmt(r.discount_amount), reason: r.discount_reason }
      : null,
    due: fmt(r.due),
    coupon_id: r.coupon_id,
    coupon: fmt(r.coupon),
    cash: fmt(r.cash),
    credit: fmt(r.credit),
    card: fmt(r.card),
    refunded: fmt(r.refunded),
    status: r.status,
    failure: r.failure_code ? { code: r.failure_code, message: r.failure_message ?? '' } : null,
    card_charge_id: r.card_charge_id,
    ledger_transaction_id: r.ledger_transaction_id,
    created_at: iso(r.created_at)!,
    completed_at: iso(r.completed_at),
  };
}

export function toChargeResult(r: OrderRow): ChargeResult {
  const order = toOrderDto(r);
  if (r.status === 'failed') return { status: 'failed', code: r.failure_code as ChargeFailureCode, message: r.failure_message ?? '', order };
  return { status: 'paid', order };
}

export function toCardDto(r: any): CardDto {
  return { token_hint: r.token_hint, ...(r.last4 ? { last4: r.last4 } : {}), ...(r.brand ? { brand: r.brand } : {}), bound_at: iso(r.bound_at)! };
}

export function toCouponDto(r: any, now: Date): CouponDto {
  const available = new Decimal(r.balance).minus(r.locked);
  const expired = new Date(r.expires_at).getTime() <= now.getTime();
  return {
    id: r.id,
    account_id: r.account_id,
    amount: fmt(r.amount),
    balance: fmt(r.balance),
    locked: fmt(r.locked),
    available: fmt(expired ? 0 : available),
    scope: r.scope ?? null,
    expires_at: iso(r.expires_at)!,
    status: expired ? 'expired' : new Decimal(r.balance).isZero() ? 'used_up' : 'active',
    created_at: iso(r.created_at)!,
  };
}

export function toDiscountDto(r: any, now: Date): DiscountDto {
  const t = now.getTime();
  return {
    id: r.id,
    account_id: r.account_id,
    kind: r.kind,
    percent_off: fmt(r.percent_off),
    scope: r.scope ?? null,
    effective_at: iso(r.effective_at)!,
    expires_at: iso(r.expires_at)!,
    status: t < new Date(r.effective_at).getTime() ? 'scheduled' : t < new Date(r.expires_at).getTime() ? 'active' : 'expired',
    created_at: iso(r.created_at)!,
  };
}

export function toRefundDto(r: any): RefundDto {
  return {
    id: r.id,
    order_id: r.order_id,
    account_id: r.account_id,
    amount: fmt(r.amount),
    idempotency_key: r.idempotency_key,
    reason: r.reason ?? null,
    ledger_transaction_id: r.ledger_transaction_id ?? null,
    created_at: iso(r.created_at)!,
  };
}
