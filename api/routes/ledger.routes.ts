import Decimal from 'decimal.js';
import { z } from 'zod';
import type { LedgerTransactionDto } from '../../payments/ledger';
import type { ApiDeps } from '../app';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { at, checkSeqCursor, IdParams, idParams, list, localInstant, money, pageQuery } from '../schemas';

// The account's ledger (R-M3): balanced transactions with their entries.

export const ledgerTransactionSchema = z.object({
  id: z.string(),
  idempotency_key: z.string(),
  kind: z.string(),
  order_id: z.string().nullable(),
  description: z.string().nullable(),
  created_at: at,
  entries: z.array(z.object({ account: z.string(), amount: money.openapi({ example: '-700.00' }) })),
}).openapi('LedgerTransaction');

export function ledgerRoutes(deps: ApiDeps): RouteDef[] {
  const local = localInstant(deps.settings.offsetMinutes);
  const ledgerJson = (t: LedgerTransactionDto) => ({
    id: t.id,
    idempotency_key: t.idempotency_key,
    kind: t.kind,
    order_id: t.order_id,
    description: t.description,
    created_at: local(t.created_at),
    entries: t.entries.map((e) => ({ account: e.account, amount: new Decimal(e.amount).toFixed(2) })),
  });

  async function listLedger({ params, query, principal }: RouteContext<IdParams, z.infer<typeof pageQuery>, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    checkSeqCursor(query.cursor);
    const page = await deps.payments.listLedger(params.id, query);
    return { status: 200, body: { data: page.data.map(ledgerJson), next_cursor: page.next_cursor } };
  }

  return [
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/ledger',
      summary: 'Ledger transactions, newest first; each one balanced (entries sum to 0.00, R-M3)',
      access: 'owner',
      tags: ['payments'],
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page', schema: list(ledgerTransactionSchema) } },
      handler: listLedger,
    }),
  ];
}
