import Decimal from 'decimal.js';
import { z } from 'zod';
import type { DiscountDto } from '../../payments/payment-engine';
import type { ApiDeps } from '../app';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { checkSeqCursor, IdParams, idParams, instant, list, localInstant, pageQuery } from '../schemas';
import { checkScope, discountSchema, scopeField } from '../schemas/payments';
import { errorDoc } from '../schemas/responses';

// Commercial, partner and promotional discounts (R-P2): granted by an operator, read by the
// account's owner.

/** API.md: "10" or "10.00" is 10 % off; 0 < p ≤ 100, at most 2 decimals. */
const percentOff = z
  .string()
  .regex(/^(0|[1-9]\d{0,2})(\.\d{1,2})?$/, 'a decimal string such as "10" or "12.50"')
  // zod runs this refinement even when the regex failed: Decimal must only see a decimal string.
  .refine((s) => /^\d+(\.\d+)?$/.test(s) && new Decimal(s).greaterThan(0) && new Decimal(s).lessThanOrEqualTo(100), 'must be greater than 0 and at most 100')
  .openapi({ example: '10.00' });

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

export function discountRoutes(deps: ApiDeps): RouteDef[] {
  const local = localInstant(deps.settings.offsetMinutes);
  const discountJson = (d: DiscountDto) => ({ ...d, effective_at: local(d.effective_at), expires_at: local(d.expires_at), created_at: local(d.created_at) });

  async function grantDiscount({ params, body, principal, req }: RouteContext<IdParams, unknown, z.infer<typeof discountBody>>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    checkScope(deps.catalog, body.scope);
    const key = req.header('idempotency-key');
    const discount = await deps.payments.issueDiscount({
      accountId: params.id,
      kind: body.kind,
      percentOff: body.percent_off,
      effectiveAt: body.effective_at,
      expiresAt: body.expires_at,
      scope: body.scope ?? null,
      idempotencyKey: key ? `api:${params.id}:${key}` : null,
    });
    return { status: 201, body: discountJson(discount) };
  }

  async function listDiscounts({ params, query, principal }: RouteContext<IdParams, z.infer<typeof pageQuery>, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    checkSeqCursor(query.cursor);
    const page = await deps.payments.listDiscounts(params.id, query);
    return { status: 200, body: { data: page.data.map(discountJson), next_cursor: page.next_cursor } };
  }

  const tags = ['payments'];
  return [
    defineRoute({
      method: 'post',
      path: '/v1/accounts/{id}/discounts',
      summary: 'Grant a commercial, partner or promotional discount (R-P2); send an Idempotency-Key',
      access: 'operator',
      tags,
      params: idParams,
      body: discountBody,
      idempotent: true,
      responses: { 201: { description: 'granted', schema: discountSchema }, 403: errorDoc('not an operator key') },
      handler: grantDiscount,
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
      handler: listDiscounts,
    }),
  ];
}
