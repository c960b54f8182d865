import Decimal from 'decimal.js';
import { z } from 'zod';
import { PaymentError } from '../../payments/errors';
import type { CardDto, CouponDto, DiscountDto, OrderDto, RefundDto } from '../../payments/payment-engine';
import type { LedgerTransactionDto } from '../../payments/ledger';
import { toIsoLocal } from '../../billing/calendar';
import { findEdition, findProduct } from '../../catalog/catalog';
import { newId } from '../../common/ids';
import { getAccount } from '../../store/accounts.store';
import { listNotifications } from '../../store/outbox.store';
import type { ApiDeps } from '../app';
import { assertAccountAccess, Principal } from '../auth';
import { ApiError, notFound } from '../errors';
import { defineRoute, errorSchema, RouteDef } from '../http';
import { idParams, instant, list, moneyString, positiveMoneyString } from '../schemas';

// SPEC §4 over HTTP (API.md): credit line, card, coupons, discounts, and the reads of ledger,
// coupons, discounts, orders and notifications. Input is checked here (strict zod: unknown
// fields are 400) and again by the payment engine, so bad input never writes anything. Amounts
// are decimal strings; instants are answered in billing local time (R-T1) like subscriptions.

// ---------------------------------------------------------------------------------------------
// Request pieces

/** Optional on money inputs: when given it must be the account's currency (R-M1). */
export const currencyField = z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code such as USD').optional();

/** `product` or `product/edition` (or a per-use service); null/absent = the whole catalog. */
const scopeField = z.string().regex(/^[a-z0-9-]{1,64}(\/[a-z0-9-]{1,64})?$/, '"product" or "product/edition", e.g. "host-security/premium"').optional();

/** API.md: "10" or "10.00" is 10 % off; 0 < p ≤ 100, at most 2 decimals. */
const percentOff = z
  .string()
  .regex(/^(0|[1-9]\d{0,2})(\.\d{1,2})?$/, 'a decimal string such as "10" or "12.50"')
  // zod runs this refinement even when the regex failed: Decimal must only see a decimal string.
  .refine((s) => /^\d+(\.\d+)?$/.test(s) && new Decimal(s).greaterThan(0) && new Decimal(s).lessThanOrEqualTo(100), 'must be greater than 0 and at most 100')
  .openapi({ example: '10.00' });

const creditLineBody = z.strictObject({ limit: moneyString, currency: currencyField });
const cardBody = z.strictObject({ token: z.string().regex(/^tok_[A-Za-z0-9_]{1,64}$/, 'a card token from the gateway, e.g. "tok_visa"') });
const couponBody = z.strictObject({ amount: positiveMoneyString, expires_at: instant, scope: scopeField, currency: currencyField });
const discountBody = z
  .strictObject({
    kind: z.enum(['commercial', 'partner', 'promotional']),
    percent_off: percentOff,
    effective_at: instant,
    expires_at: instant,
    scope: scopeField,
  })
  .superRefine((b, ctx) => {
    if (Date.parse(b.expires_at) <= Date.parse(b.effective_at)) ctx.addIssue({ code: 'custom', path: ['expires_at'], message: 'must be after effective_at' });
  });
const refundBody = z.strictObject({ amount: positiveMoneyString, reason: z.string().trim().min(1).max(500).optional(), currency: currencyField });

const limitField = z.coerce.number().int().min(1).max(200).default(50);
const cursorField = z.string().max(200).optional();
const pageQuery = z.strictObject({ limit: limitField, cursor: cursorField });
const orderQuery = z.strictObject({
  limit: limitField,
  cursor: cursorField,
  subscription_id: z.string().min(1).max(64).optional(),
  status: z.enum(['pending', 'paid', 'failed', 'partially_refunded', 'refunded']).optional(),
});
const notificationQuery = z.strictObject({
  limit: limitField,
  cursor: cursorField,
  channel: z.enum(['email', 'sms', 'in_app']).optional(),
  subscription_id: z.string().min(1).max(64).optional(),
});
const orderParams = z.strictObject({ order_id: z.string().min(1).max(64) });

// ---------------------------------------------------------------------------------------------
// Response schemas (OpenAPI); the handlers below build exactly these shapes.

const money = z.string().openapi({ example: '1700.00' });
const at = z.string().openapi({ example: '2026-03-20T15:00:00.000+08:00' });

export const cardSchema = z.object({ token_hint: z.string(), last4: z.string().optional(), brand: z.string().optional(), bound_at: at }).openapi('Card');

export const creditLineSchema = z.object({
  account_id: z.string(),
  limit: money,
  used: money,
  locked: money,
  available: money,
}).openapi('CreditLine');

export const couponSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  amount: money,
  balance: money,
  locked: money,
  available: money,
  scope: z.string().nullable(),
  expires_at: at,
  status: z.enum(['active', 'used_up', 'expired']),
  created_at: at,
}).openapi('Coupon');

export const discountSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  kind: z.enum(['commercial', 'partner', 'promotional']),
  percent_off: money.openapi({ example: '10.00' }),
  scope: z.string().nullable(),
  effective_at: at,
  expires_at: at,
  status: z.enum(['scheduled', 'active', 'expired']),
  created_at: at,
}).openapi('Discount');

export const orderSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  subscription_id: z.string().nullable(),
  resource_id: z.string(),
  kind: z.string(),
  product: z.string().nullable(),
  description: z.string().nullable(),
  currency: z.string(),
  list_amount: money,
  discount: z.object({ id: z.string(), kind: z.enum(['commercial', 'partner', 'promotional']), percent_off: money, amount: money, reason: z.string().nullable() }).nullable(),
  due: money,
  coupon_id: z.string().nullable(),
  coupon: money,
  cash: money,
  credit: money,
  card: money,
  refunded: money,
  status: z.enum(['pending', 'paid', 'failed', 'partially_refunded', 'refunded']),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  idempotency_key: z.string(),
  ledger_transaction_id: z.string().nullable(),
  created_at: at,
  completed_at: at.nullable(),
}).openapi('Order');

export const ledgerTransactionSchema = z.object({
  id: z.string(),
  idempotency_key: z.string(),
  kind: z.string(),
  order_id: z.string().nullable(),
  description: z.string().nullable(),
  created_at: at,
  entries: z.array(z.object({ account: z.string(), amount: money.openapi({ example: '-700.00' }) })),
}).openapi('LedgerTransaction');

export const notificationSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  subscription_id: z.string().nullable(),
  channel: z.string(),
  template: z.string(),
  payload: z.record(z.string(), z.unknown()),
  status: z.enum(['pending', 'sent', 'failed']),
  created_at: at,
  sent_at: at.nullable(),
}).openapi('Notification');

export const refundSchema = z.object({
  id: z.string(),
  order_id: z.string(),
  account_id: z.string(),
  amount: money,
  reason: z.string().nullable(),
  ledger_transaction_id: z.string().nullable(),
  created_at: at,
}).openapi('Refund');

const err = (description: string) => ({ description, schema: errorSchema });

// ---------------------------------------------------------------------------------------------

export function paymentRoutes(deps: ApiDeps): RouteDef[] {
  const payments = deps.payments;
  const local = (v: string | Date): string => toIsoLocal(new Date(v).getTime(), deps.settings.offsetMinutes);
  const localOrNull = (v: string | Date | null | undefined): string | null => (v ? local(v) : null);

  /** Tenant isolation first (another tenant's account is "not found"), then existence. */
  async function accountFor(principal: Principal | null, accountId: string): Promise<{ id: string; currency: string }> {
    assertAccountAccess(principal, accountId);
    const row = await getAccount(deps.db, accountId);
    if (!row) throw notFound('account', accountId);
    return { id: row.id, currency: row.currency };
  }

  function checkCurrency(requested: string | undefined, account: { currency: string }): void {
    if (requested !== undefined && requested !== account.currency) {
      throw new ApiError(400, 'VALIDATION.CURRENCY', `the account is billed in ${account.currency}, not ${requested}`, { currency: requested, account_currency: account.currency });
    }
  }

  /** A scope that names nothing in the catalog would make a coupon or discount that never applies. */
  function checkScope(scope: string | undefined): void {
    if (scope === undefined) return;
    const [product, edition] = scope.split('/');
    const known = edition === undefined
      ? Boolean(findProduct(deps.catalog, product)) || deps.catalog.services.some((s) => s.service === product)
      : Boolean(findEdition(deps.catalog, product, edition));
    if (!known) throw new ApiError(400, 'VALIDATION.SCOPE', `scope ${scope} names no product, edition or service of the catalog`, { field: 'scope' });
  }

  /** The engine's cursors are its `seq` column, base64url; anything else is refused here. */
  function checkSeqCursor(cursor: string | undefined): void {
    if (cursor === undefined) return;
    if (!/^\d{1,15}$/.test(Buffer.from(cursor, 'base64url').toString('utf8'))) throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
  }

  const cardJson = (c: CardDto) => ({ token_hint: c.token_hint, ...(c.last4 ? { last4: c.last4 } : {}), ...(c.brand ? { brand: c.brand } : {}), bound_at: local(c.bound_at) });
  const couponJson = (c: CouponDto) => ({ ...c, expires_at: local(c.expires_at), created_at: local(c.created_at) });
  const discountJson = (d: DiscountDto) => ({ ...d, effective_at: local(d.effective_at), expires_at: local(d.expires_at), created_at: local(d.created_at) });
  const ledgerJson = (t: LedgerTransactionDto) => ({
    id: t.id,
    idempotency_key: t.idempotency_key,
    kind: t.kind,
    order_id: t.order_id,
    description: t.description,
    created_at: local(t.created_at),
    entries: t.entries.map((e) => ({ account: e.account, amount: new Decimal(e.amount).toFixed(2) })),
  });
  const refundJson = (r: RefundDto) => ({
    id: r.id,
    order_id: r.order_id,
    account_id: r.account_id,
    amount: r.amount,
    reason: r.reason,
    ledger_transaction_id: r.ledger_transaction_id,
    created_at: local(r.created_at),
  });
  /** API.md's Order, field by field (plus what the engine knows that a customer may see). */
  const orderJson = (o: OrderDto) => ({
    id: o.id,
    account_id: o.account_id,
    subscription_id: o.subscription_id,
    resource_id: o.resource_id,
    kind: o.kind,
    product: o.product,
    description: o.description,
    currency: o.currency,
    list_amount: o.list_amount,
    discount: o.discount ? { id: o.discount.id, kind: o.discount.kind, percent_off: o.discount.percent_off, amount: o.discount.amount, reason: o.discount.reason } : null,
    due: o.due,
    coupon_id: o.coupon_id,
    coupon: o.coupon,
    cash: o.cash,
    credit: o.credit,
    card: o.card,
    refunded: o.refunded,
    status: o.status,
    failure: o.failure,
    idempotency_key: o.idempotency_key,
    ledger_transaction_id: o.ledger_transaction_id,
    created_at: local(o.created_at),
    completed_at: localOrNull(o.completed_at),
  });

  /** One order the principal may see; a missing and a foreign order answer the same 404. */
  async function orderFor(principal: Principal | null, orderId: string): Promise<OrderDto> {
    let order: OrderDto;
    try {
      order = await payments.getOrder(orderId);
    } catch (e) {
      if (e instanceof PaymentError && e.code === 'ORDER.NOT_FOUND') throw notFound('order', orderId);
      throw e;
    }
    assertAccountAccess(principal, order.account_id, 'order', orderId);
    return order;
  }

  const tags = ['payments'];
  return [
    defineRoute({
      method: 'put',
      path: '/v1/accounts/{id}/credit-line',
      summary: 'Grant or change the credit line (0 withdraws it); cannot go below the credit already used or locked',
      access: 'operator',
      tags,
      params: idParams,
      body: creditLineBody,
      responses: { 200: { description: 'the credit line now', schema: creditLineSchema }, 403: err('not an operator key'), 409: err('CREDIT.LIMIT_BELOW_USED') },
      handler: async ({ params, body, principal }) => {
        const account = await accountFor(principal, params.id);
        checkCurrency(body.currency, account);
        const b = await payments.setCreditLimit({ accountId: params.id, limit: body.limit });
        return {
          status: 200,
          body: { account_id: params.id, limit: b.credit_limit, used: b.credit_used, locked: b.credit_locked, available: b.credit_available },
        };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/accounts/{id}/card',
      summary: 'Bind a card (a gateway token) as the last source of the collection order (R-P1); replaces the bound card',
      access: 'owner',
      tags,
      params: idParams,
      body: cardBody,
      responses: { 200: { description: 'the bound card', schema: cardSchema } },
      handler: async ({ params, body, principal }) => {
        await accountFor(principal, params.id);
        const card = await payments.bindCard({ accountId: params.id, token: body.token });
        return { status: 200, body: cardJson(card) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/accounts/{id}/card',
      summary: 'Unbind the card; charges then stop at the balance (R-P1). No card bound is not an error',
      access: 'owner',
      tags,
      params: idParams,
      responses: { 204: { description: 'no card is bound' } },
      handler: async ({ params, principal }) => {
        await accountFor(principal, params.id);
        await payments.unbindCard(params.id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/accounts/{id}/coupons',
      summary: 'Issue a cash coupon (R-P3); send an Idempotency-Key',
      access: 'operator',
      tags,
      params: idParams,
      body: couponBody,
      idempotent: true,
      responses: { 201: { description: 'issued', schema: couponSchema }, 403: err('not an operator key') },
      handler: async ({ params, body, principal, req }) => {
        const account = await accountFor(principal, params.id);
        checkCurrency(body.currency, account);
        checkScope(body.scope);
        // The engine's own key makes the write idempotent even if the API dies before it answers.
        const key = req.header('idempotency-key');
        const coupon = await payments.issueCoupon({
          accountId: params.id, amount: body.amount, expiresAt: body.expires_at, scope: body.scope ?? null, idempotencyKey: key ? `api:${params.id}:${key}` : null,
        });
        return { status: 201, body: couponJson(coupon) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/accounts/{id}/discounts',
      summary: 'Grant a commercial, partner or promotional discount (R-P2); send an Idempotency-Key',
      access: 'operator',
      tags,
      params: idParams,
      body: discountBody,
      idempotent: true,
      responses: { 201: { description: 'granted', schema: discountSchema }, 403: err('not an operator key') },
      handler: async ({ params, body, principal, req }) => {
        await accountFor(principal, params.id);
        checkScope(body.scope);
        const key = req.header('idempotency-key');
        const discount = await payments.issueDiscount({
          accountId: params.id,
          kind: body.kind,
          percentOff: body.percent_off,
          effectiveAt: body.effective_at,
          expiresAt: body.expires_at,
          scope: body.scope ?? null,
          idempotencyKey: key ? `api:${params.id}:${key}` : null,
        });
        return { status: 201, body: discountJson(discount) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/ledger',
      summary: 'Ledger transactions, newest first; each one balanced (entries sum to 0.00, R-M3)',
      access: 'owner',
      tags,
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page', schema: list(ledgerTransactionSchema) } },
      handler: async ({ params, query, principal }) => {
        await accountFor(principal, params.id);
        checkSeqCursor(query.cursor);
        const page = await payments.listLedger(params.id, query);
        return { status: 200, body: { data: page.data.map(ledgerJson), next_cursor: page.next_cursor } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/coupons',
      summary: 'Cash coupons with balance, locked and available amounts, newest first',
      access: 'owner',
      tags,
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page', schema: list(couponSchema) } },
      handler: async ({ params, query, principal }) => {
        await accountFor(principal, params.id);
        checkSeqCursor(query.cursor);
        const page = await payments.listCoupons(params.id, query);
        return { status: 200, body: { data: page.data.map(couponJson), next_cursor: page.next_cursor } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/discounts',
      summary: 'Discounts with their validity window, newest first',
      access: 'owner',
      tags,
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page', schema: list(discountSchema) } },
      handler: async ({ params, query, principal }) => {
        await accountFor(principal, params.id);
        checkSeqCursor(query.cursor);
        const page = await payments.listDiscounts(params.id, query);
        return { status: 200, body: { data: page.data.map(discountJson), next_cursor: page.next_cursor } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/orders',
      summary: 'Orders (paid, failed, refunded) with the collection parts of R-P1, newest first',
      access: 'owner',
      tags,
      params: idParams,
      query: orderQuery,
      responses: { 200: { description: 'a page', schema: list(orderSchema) } },
      handler: async ({ params, query, principal }) => {
        await accountFor(principal, params.id);
        checkSeqCursor(query.cursor);
        const page = await payments.listOrders(params.id, { limit: query.limit, cursor: query.cursor, subscriptionId: query.subscription_id, status: query.status });
        return { status: 200, body: { data: page.data.map(orderJson), next_cursor: page.next_cursor } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/notifications',
      summary: 'Notifications (R-S10), one row per notification and channel, newest first; filter with ?channel=',
      access: 'owner',
      tags,
      params: idParams,
      query: notificationQuery,
      responses: { 200: { description: 'a page', schema: list(notificationSchema) } },
      handler: async ({ params, query, principal }) => {
        await accountFor(principal, params.id);
        checkSeqCursor(query.cursor);
        const beforeId = query.cursor === undefined ? null : Number(Buffer.from(query.cursor, 'base64url').toString('utf8'));
        const rows = await listNotifications(deps.db, params.id, { limit: query.limit + 1, channel: query.channel, subscriptionId: query.subscription_id, beforeId });
        const kept = rows.slice(0, query.limit);
        const last = kept[kept.length - 1];
        return {
          status: 200,
          body: {
            data: kept.map((n) => ({
              id: String(n.id),
              account_id: n.account_id,
              subscription_id: n.subscription_id ?? null,
              channel: n.channel,
              template: n.template,
              payload: n.payload,
              status: n.status,
              created_at: local(n.created_at),
              sent_at: localOrNull(n.sent_at),
            })),
            next_cursor: rows.length > query.limit && last ? Buffer.from(String(last.id)).toString('base64url') : null,
          },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/orders/{id}',
      summary: 'One order: list amount, discount chosen and why, coupon, cash, credit and card parts, status',
      access: 'owner',
      tags,
      params: idParams,
      responses: { 200: { description: 'the order', schema: orderSchema } },
      handler: async ({ params, principal }) => ({ status: 200, body: orderJson(await orderFor(principal, params.id)) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/orders/{order_id}/refunds',
      summary: 'Refund part of a paid order to cash; at most the customer’s own money paid (coupon money is not refunded)',
      access: 'operator',
      tags,
      params: orderParams,
      body: refundBody,
      idempotent: true,
      responses: {
        201: { description: 'refunded', schema: z.object({ refund: refundSchema, order: orderSchema }) },
        403: err('not an operator key'),
        409: err('ORDER.NOT_REFUNDABLE: the order was not paid'),
        422: err('PAYMENT.REFUND_EXCEEDS_PAID'),
      },
      handler: async ({ params, body, principal, req }) => {
        const order = await orderFor(principal, params.order_id);
        checkCurrency(body.currency, order);
        const key = req.header('idempotency-key') ?? newId('refund');
        const r = await payments.refund({ orderId: order.id, amount: body.amount, reason: body.reason ?? null, idempotencyKey: `api:${order.id}:${key}` });
        return { status: 201, body: { refund: refundJson(r.refund), order: orderJson(r.order) } };
      },
    }),
  ];
}
