import { z } from 'zod';
import type { ApiDeps } from '../app';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { checkCurrency, currencyField, IdParams, idParams, money, moneyString } from '../schemas';
import { errorDoc } from '../schemas/responses';

// SPEC §4 over HTTP: the account's credit line (R-P1's credit part). Input is checked here
// (strict zod: unknown fields are 400) and again by the payment engine.

const creditLineBody = z.strictObject({ limit: moneyString, currency: currencyField });

export const creditLineSchema = z.object({
  account_id: z.string(),
  limit: money,
  used: money,
  locked: money,
  available: money,
}).openapi('CreditLine');

export function creditLineRoutes(deps: ApiDeps): RouteDef[] {
  async function setCreditLine({ params, body, principal }: RouteContext<IdParams, unknown, z.infer<typeof creditLineBody>>): Promise<RouteResult> {
    const account = await ownedAccount(deps.db, principal, params.id);
    checkCurrency(body.currency, account);
    const b = await deps.payments.setCreditLimit({ accountId: params.id, limit: body.limit });
    return {
      status: 200,
      body: { account_id: params.id, limit: b.credit_limit, used: b.credit_used, locked: b.credit_locked, available: b.credit_available },
    };
  }

  return [
    defineRoute({
      method: 'put',
      path: '/v1/accounts/{id}/credit-line',
      summary: 'Grant or change the credit line (0 withdraws it); cannot go below the credit already used or locked',
      access: 'operator',
      tags: ['payments'],
      params: idParams,
      body: creditLineBody,
      responses: { 200: { description: 'the credit line now', schema: creditLineSchema }, 403: errorDoc('not an operator key'), 409: errorDoc('CREDIT.LIMIT_BELOW_USED') },
      handler: setCreditLine,
    }),
  ];
}
