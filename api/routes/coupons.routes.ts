import { z } from 'zod';
import type { CouponDto } from '../../payments/payment-engine';
import type { ApiDeps } from '../app';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { checkCurrency, checkSeqCursor, currencyField, IdParams, idParams, instant, list, localInstant, pageQuery, positiveMoneyString } from '../schemas';
import { checkScope, couponSchema, scopeField } from '../schemas/payments';
import { errorDoc } from '../schemas/responses';

// Cash coupons (R-P3): issued by an operator, read by the account's owner.

const couponBody = z.strictObject({ amount: positiveMoneyString, expires_at: instant, scope: scopeField, currency: currencyField });

export function couponRoutes(deps: ApiDeps): RouteDef[] {
  const local = localInstant(deps.settings.offsetMinutes);
  const couponJson = (c: CouponDto) => ({ ...c, expires_at: local(c.expires_at), created_at: local(c.created_at) });

  async function issueCoupon({ params, body, principal, req }: RouteContext<IdParams, unknown, z.infer<typeof couponBody>>): Promise<RouteResult> {
    const account = await ownedAccount(deps.db, principal, params.id);
    checkCurrency(body.currency, account);
    checkScope(deps.catalog, body.scope);
    // The engine's own key makes the write idempotent even if the API dies before it answers.
    const key = req.header('idempotency-key');
    const coupon = await deps.payments.issueCoupon({
      accountId: params.id, amount: body.amount, expiresAt: body.expires_at, scope: body.scope ?? null, idempotencyKey: key ? `api:${params.id}:${key}` : null,
    });
    return { status: 201, body: couponJson(coupon) };
  }

  async function listCoupons({ params, query, principal }: RouteContext<IdParams, z.infer<typeof pageQuery>, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    checkSeqCursor(query.cursor);
    const page = await deps.payments.listCoupons(params.id, query);
    return { status: 200, body: { data: page.data.map(couponJson), next_cursor: page.next_cursor } };
  }

  const tags = ['payments'];
  return [
    defineRoute({
      method: 'post',
      path: '/v1/accounts/{id}/coupons',
      summary: 'Issue a cash coupon (R-P3); send an Idempotency-Key',
      access: 'operator',
      tags,
      params: idParams,
      body: couponBody,
      idempotent: true,
      responses: { 201: { description: 'issued', schema: couponSchema }, 403: errorDoc('not an operator key') },
      handler: issueCoupon,
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
      handler: listCoupons,
    }),
  ];
}
