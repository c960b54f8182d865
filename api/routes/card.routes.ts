import { z } from 'zod';
import type { CardDto } from '../../payments/payment-engine';
import type { ApiDeps } from '../app';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { IdParams, idParams, localInstant } from '../schemas';
import { cardSchema } from '../schemas/accounts';

// The card on file (R-P1's last source; sandbox tokens R-P6).

const cardBody = z.strictObject({ token: z.string().regex(/^tok_[A-Za-z0-9_]{1,64}$/, 'a card token from the gateway, e.g. "tok_visa"') });

export function cardRoutes(deps: ApiDeps): RouteDef[] {
  const local = localInstant(deps.settings.offsetMinutes);
  const cardJson = (c: CardDto) => ({ token_hint: c.token_hint, ...(c.last4 ? { last4: c.last4 } : {}), ...(c.brand ? { brand: c.brand } : {}), bound_at: local(c.bound_at) });

  async function bindCard({ params, body, principal }: RouteContext<IdParams, unknown, z.infer<typeof cardBody>>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    const card = await deps.payments.bindCard({ accountId: params.id, token: body.token });
    return { status: 200, body: cardJson(card) };
  }

  async function unbindCard({ params, principal }: RouteContext<IdParams, unknown, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    await deps.payments.unbindCard(params.id);
    return { status: 204 };
  }

  const tags = ['payments'];
  return [
    defineRoute({
      method: 'put',
      path: '/v1/accounts/{id}/card',
      summary: 'Bind a card (a gateway token) as the last source of the collection order (R-P1); replaces the bound card',
      access: 'owner',
      tags,
      params: idParams,
      body: cardBody,
      responses: { 200: { description: 'the bound card', schema: cardSchema } },
      handler: bindCard,
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/accounts/{id}/card',
      summary: 'Unbind the card; charges then stop at the balance (R-P1). No card bound is not an error',
      access: 'owner',
      tags,
      params: idParams,
      responses: { 204: { description: 'no card is bound' } },
      handler: unbindCard,
    }),
  ];
}
