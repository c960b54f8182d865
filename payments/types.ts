import type Decimal from 'decimal.js';
import type { DiscountKind } from '../billing/payments';
import type { Db } from '../common/db';
import type { CardGateway, GatewayCharge } from './card-gateway';

// The payment engine's shapes: what it takes, what it answers (DTOs, money as decimal strings,
// R-M1) and the rows it keeps in Postgres.

export interface Clock {
  now(): Date;
}

export interface PaymentEngineHooks {
  /**
   * Runs after the gateway answered and before the outcome is written. Fault tests throw here to
   * simulate a process dying between the card charge and the ledger write (R-P5).
   */
  afterGatewayCharge?(ctx: { orderId: string; idempotencyKey: string; result: GatewayCharge }): void | Promise<void>;
  /** A stale order the sweep could not settle this round (logged by the worker; retried next round). */
  onRecoveryError?(orderId: string, err: unknown): void;
}

export interface PaymentEngineDeps {
  db: Db;
  gateway: CardGateway;
  clock?: Clock;
  /** How long a pending charge may hold its locks before `recoverStalePayments` settles it. */
  lockTtlMs?: number;
  hooks?: PaymentEngineHooks;
}

export type OrderStatus = 'pending' | 'paid' | 'failed' | 'partially_refunded' | 'refunded';
export type ChargeFailureCode = 'PAYMENT.INSUFFICIENT_FUNDS' | 'PAYMENT.CARD_DECLINED' | 'PAYMENT.TIMEOUT';

export interface OrderDto {
  id: string;
  account_id: string;
  subscription_id: string | null;
  resource_id: string;
  kind: string;
  product: string | null;
  description: string | null;
  idempotency_key: string;
  currency: string;
  list_amount: string;
  discount: null | { id: string; kind: DiscountKind; percent_off: string; amount: string; reason: string | null };
  due: string;
  coupon_id: string | null;
  coupon: string;
  cash: string;
  credit: string;
  card: string;
  refunded: string;
  status: OrderStatus;
  failure: null | { code: string; message: string };
  card_charge_id: string | null;
  ledger_transaction_id: string | null;
  created_at: string;
  completed_at: string | null;
}

export type ChargeResult =
  | { status: 'paid'; order: OrderDto }
  | { status: 'failed'; code: ChargeFailureCode; message: string; order: OrderDto };

export interface ChargeInput {
  accountId: string;
  /** Decimal string, at most 2 places. */
  listAmount: string | Decimal;
  /** Must equal the account's currency when given. */
  currency?: string;
  purpose: {
    kind: string; // purchase | renewal | upgrade | settlement | ...
    subscriptionId?: string | null;
    /** R-P2: promotional discounts follow the resource (subscription, server, ...). */
    resourceId: string;
    description?: string | null;
    /** `product` or `product/edition`, for scoped coupons and discounts. */
    product?: string | null;
  };
  /** R-P5: derived from what is paid for, e.g. `<subscription>:<term>:<attempt>`. */
  idempotencyKey: string;
  /** R-U2: pay-per-use settlement collects without coupons. Default true. */
  useCoupons?: boolean;
  /** R-P2: a promotional discount the customer buys under now (its first use on this resource). */
  promotionId?: string | null;
  /**
   * The instant the charge is evaluated at (discount/coupon validity, the order's time). Workflows
   * pass their own clock (R-T3) so time-skipped tests see the same validity; default clock.now().
   */
  at?: Date;
}

export interface CardDto {
  token_hint: string;
  last4?: string;
  brand?: string;
  bound_at: string;
}

export interface BalancesDto {
  account_id: string;
  currency: string;
  cash: string;
  credit_limit: string;
  credit_used: string;
  /** Balance (cash + credit) held by charges in flight (R-P4). */
  locked: string;
  cash_locked: string;
  credit_locked: string;
  cash_available: string;
  credit_available: string;
  card: CardDto | null;
}

export interface CouponDto {
  id: string;
  account_id: string;
  amount: string;
  balance: string;
  locked: string;
  available: string;
  scope: string | null;
  expires_at: string;
  status: 'active' | 'used_up' | 'expired';
  created_at: string;
}

export interface DiscountDto {
  id: string;
  account_id: string;
  kind: DiscountKind;
  percent_off: string;
  scope: string | null;
  effective_at: string;
  expires_at: string;
  status: 'scheduled' | 'active' | 'expired';
  created_at: string;
}

export interface RefundDto {
  id: string;
  order_id: string;
  account_id: string;
  amount: string;
  idempotency_key: string;
  reason: string | null;
  ledger_transaction_id: string | null;
  created_at: string;
}

/** An order as a multi-order refund (refundOrders) sees it, under the account lock. */
export interface RefundableOrder {
  id: string;
  list_amount: string;
  due: string;
  coupon: string;
  refunded: string;
  status: OrderStatus;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface PageOpts {
  limit?: number;
  cursor?: string | null;
}

// ---------------------------------------------------------------------------------------------
// Rows

export interface OrderRow {
  id: string;
  account_id: string;
  subscription_id: string | null;
  resource_id: string;
  kind: string;
  product: string | null;
  description: string | null;
  idempotency_key: string;
  request_hash: string;
  currency: string;
  list_amount: string;
  discount_id: string | null;
  discount_kind: DiscountKind | null;
  discount_percent: string | null;
  discount_amount: string;
  discount_reason: string | null;
  due: string;
  coupon_id: string | null;
  coupon: string;
  cash: string;
  credit: string;
  card: string;
  card_token: string | null;
  card_charge_id: string | null;
  refunded: string;
  status: OrderStatus;
  failure_code: string | null;
  failure_message: string | null;
  ledger_transaction_id: string | null;
  created_at: Date;
  /** R-P4: a pending order's locks are released (or captured) by recoverStalePayments after this. */
  hold_expires_at: Date | null;
  completed_at: Date | null;
}

export interface DiscountRow {
  id: string;
  kind: DiscountKind;
  percent_off: string;
  scope: string | null;
  effective_at: Date;
  expires_at: Date;
}

export interface CouponRow {
  id: string;
  balance: string;
  locked: string;
  expires_at: Date;
  scope: string | null;
}
