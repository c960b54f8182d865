import { z } from 'zod';
import { PaymentError } from '../../payments/errors';
import type { OrderDto, RefundDto } from '../../payments/payment-engine';
import { newId } from '../../common/ids';
import type { ApiDeps } from '../app';
import { assertAccountAccess, Principal } from '../auth';
import { notFound } from '../errors';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { at, checkCurrency, checkSeqCursor, currencyField, cursorField, IdParams, idParams, limitField, list, localInstant, money, positiveMoneyString } from '../schemas';
import { orderSchema } from '../schemas/payments';
import { errorDoc } from '../schemas/responses';

// Orders (paid, failed, refunded) with the collection parts of R-P1, and refunds of paid orders
// to cash. Amounts are decimal strings; instants in billing local time (R-T1).

const orderQuery = z.strictObject({
  limit: limitField,
  cursor: cursorField,
  subscription_id: z.string().min(1).max(64).optional(),
  status: z.enum(['pending', 'paid', 'failed', 'partially_refunded', 'refunded']).optional(),
});
const orderParams = z.strictObject({ order_id: z.string().min(1).max(64) });
const refundBody = z.strictObject({ amount: positiveMoneyString, reason: z.string().trim().min(1).max(500).optional(), currency: currencyField });

export const refundSchema = z.object({
  id: z.string(),
  order_id: z.string(),
  account_id: z.string(),
  amount: money,
  reason: z.string().nullable(),
  ledger_transaction_id: z.string().nullable(),
  created_at: at,
}).openapi('Refund');

export function orderRoutes(deps: ApiDeps): RouteDef[] {
  const local = localInstant(deps.settings.offsetMinutes);
  const localOrNull = (v: string | Date | null | undefined): string | null => (v ? local(v) : null);

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
      order = await deps.payments.getOrder(orderId);
    } catch (e) {
      if (e instanceof PaymentError && e.code === 'ORDER.NOT_FOUND') throw notFound('order', orderId);
      throw e;
    }
    assertAccountAccess(principal, order.account_id, 'order', orderId);
    return order;
  }

  async function listOrders({ params, query, principal }: RouteContext<IdParams, z.infer<typeof orderQuery>, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    checkSeqCursor(query.cursor);
    const page = await deps.payments.listOrders(params.id, { limit: query.limit, cursor: query.cursor, subscriptionId: query.subscription_id, status: query.status });
    return { status: 200, body: { data: page.data.map(orderJson), next_cursor: page.next_cursor } };
  }

  async function getOrder({ params, principal }: RouteContext<IdParams, unknown, unknown>): Promise<RouteResult> {
    return { status: 200, body: orderJson(await orderFor(principal, params.id)) };
  }

  async function refundOrder({ params, body, principal, req }: RouteContext<z.infer<typeof orderParams>, unknown, z.infer<typeof refundBody>>): Promise<RouteResult> {
    const order = await orderFor(principal, params.order_id);
    checkCurrency(body.currency, order);
    const key = req.header('idempotency-key') ?? newId('refund');
    const r = await deps.payments.refund({ orderId: order.id, amount: body.amount, reason: body.reason ?? null, idempotencyKey: `api:${order.id}:${key}` });
    return { status: 201, body: { refund: refundJson(r.refund), order: orderJson(r.order) } };
  }

  const tags = ['payments'];
  return [
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/orders',
      summary: 'Orders (paid, failed, refunded) with the collection parts of R-P1, newest first',
      access: 'owner',
      tags,
      params: idParams,
      query: orderQuery,
      responses: { 200: { description: 'a page', schema: list(orderSchema) } },
      handler: listOrders,
    }),
    defineRoute({
      method: 'get',
      path: '/v1/orders/{id}',
      summary: 'One order: list amount, discount chosen and why, coupon, cash, credit and card parts, status',
      access: 'owner',
      tags,
      params: idParams,
      responses: { 200: { description: 'the order', schema: orderSchema } },
      handler: getOrder,
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
        403: errorDoc('not an operator key'),
        409: errorDoc('ORDER.NOT_REFUNDABLE: the order was not paid'),
        422: errorDoc('PAYMENT.REFUND_EXCEEDS_PAID'),
      },
      handler: refundOrder,
    }),
  ];
}
