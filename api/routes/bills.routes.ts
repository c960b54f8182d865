import Decimal from 'decimal.js';
import { z } from 'zod';
import { getBillWithLines, listBills } from '../../store/settlement.store';
import { getUsageAccount } from '../../store/usage.store';
import { getAccountStateQuery } from '../../workflows/account.messages';
import type { ApiDeps } from '../app';
import { notFound } from '../errors';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { IdParams, idParams, list, localInstant, pageQuery, seqPage, sixPlaces, trimDecimal } from '../schemas';

// R-U2 and R-U5 over HTTP: the hourly pay-per-use bills with their lines, and the account's
// settlement and arrears state.

const billLineSchema = z.object({
  kind: z.enum(['protection', 'usage']),
  resource_id: z.string(),
  protection_id: z.string().nullable(),
  product: z.string().nullable(),
  edition: z.string().nullable(),
  metric: z.string().nullable(),
  seconds: z.number().int().nullable(),
  quantity: z.string(),
  unit_price: z.string(),
  covered: z.string().openapi({ description: 'drawn from usage packages (R-U4): units of the metric for a usage line, quota-seconds of quota-hour packages for a protection line' }),
  billed_quantity: z.string(),
  amount: z.string(),
});

export const billSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  hour_start: z.string(),
  hour_end: z.string(),
  currency: z.string(),
  total: z.string(),
  status: z.enum(['pending', 'paid', 'failed', 'unpaid']).openapi({ description: 'unpaid: billed while the account is in arrears, collected with the whole outstanding amount (R-U5)' }),
  order_id: z.string().nullable(),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  created_at: z.string(),
  paid_at: z.string().nullable(),
  lines: z.array(billLineSchema).optional(),
}).openapi('Bill');

const arrearsSchema = z.object({
  account_id: z.string(),
  arrears_status: z.enum(['none', 'grace', 'frozen', 'released']),
  arrears_since: z.string().nullable(),
  grace_ends_at: z.string().nullable(),
  frozen_ends_at: z.string().nullable(),
  outstanding: z.string(),
  settled_through: z.string().nullable(),
  next_settlement_at: z.string().nullable(),
});

const billParams = z.strictObject({ id: z.string().min(1).max(64), bill_id: z.string().min(1).max(64) });

export function billRoutes(deps: ApiDeps): RouteDef[] {
  const toLocal = localInstant(deps.settings.offsetMinutes);
  const local = (v: Date | number | null) => (v === null ? null : toLocal(v));

  function billJson(b: any, lines?: any[]) {
    return {
      id: b.id,
      account_id: b.account_id,
      hour_start: local(b.hour_start) as string,
      hour_end: local(b.hour_end) as string,
      currency: b.currency,
      total: new Decimal(b.total).toFixed(2),
      status: b.status,
      order_id: b.order_id,
      failure: b.failure_code ? { code: b.failure_code, message: b.failure_message ?? '' } : null,
      created_at: local(b.created_at) as string,
      paid_at: local(b.paid_at),
      ...(lines ? {
        lines: lines.map((l) => ({
          kind: l.kind,
          resource_id: l.resource_id,
          protection_id: l.protection_id,
          product: l.product,
          edition: l.edition,
          metric: l.metric,
          seconds: l.seconds,
          quantity: trimDecimal(l.quantity),
          unit_price: sixPlaces(l.unit_price),
          covered: trimDecimal(l.covered),
          billed_quantity: trimDecimal(l.billed_quantity),
          // R-M2: line amounts are unrounded (shown to 6 places); the total is rounded once.
          amount: sixPlaces(l.amount),
        })),
      } : {}),
    };
  }

  async function listAccountBills({ params, query, principal }: RouteContext<IdParams, z.infer<typeof pageQuery>, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    return { status: 200, body: await seqPage((p) => listBills(deps.db, params.id, p), query, (rows) => rows.map((b) => billJson(b))) };
  }

  async function getBill({ params, principal }: RouteContext<z.infer<typeof billParams>, unknown, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    const found = await getBillWithLines(deps.db, params.id, params.bill_id);
    if (!found) throw notFound('bill', params.bill_id);
    return { status: 200, body: billJson(found.bill, found.lines) };
  }

  async function getArrears({ params, principal }: RouteContext<IdParams, unknown, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    const row = await getUsageAccount(deps.db, params.id);
    const live = row?.workflow_started_at ? await deps.temporal.workflow.getHandle(row.workflow_id).query(getAccountStateQuery).catch((err) => {
      deps.logger.warn({ err, accountId: params.id }, 'account workflow query failed; answering from the read model');
      return null;
    }) : null;
    // Live state from the workflow; the read model when it cannot answer.
    const ms = (d: Date | null | undefined) => (d ? new Date(d).getTime() : null);
    const body = live
      ? { status: live.arrears.status, since: live.arrears.since, graceEndsAt: live.arrears.graceEndsAt, frozenEndsAt: live.arrears.frozenEndsAt, outstanding: live.outstandingTotal, nextSettlementAt: live.nextSettlementAt }
      : { status: row?.arrears_status ?? 'none', since: ms(row?.arrears_since), graceEndsAt: ms(row?.grace_ends_at), frozenEndsAt: ms(row?.frozen_ends_at), outstanding: new Decimal(row?.outstanding ?? 0).toFixed(2), nextSettlementAt: null };
    return {
      status: 200,
      body: {
        account_id: params.id,
        arrears_status: body.status,
        arrears_since: local(body.since),
        grace_ends_at: local(body.graceEndsAt),
        frozen_ends_at: local(body.frozenEndsAt),
        outstanding: body.outstanding,
        settled_through: local(ms(row?.settled_through)),
        next_settlement_at: local(body.nextSettlementAt),
      },
    };
  }

  const tags = ['pay-per-use'];
  return [
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/bills',
      summary: 'Hourly pay-per-use bills (R-U2), newest first; a bill\'s lines are at /bills/{bill_id}',
      access: 'owner',
      tags,
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page, newest first', schema: list(billSchema) } },
      handler: listAccountBills,
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/bills/{bill_id}',
      summary: 'One hourly bill with its per-resource lines: seconds, unit price, quantity, amount (R-U1, R-C4, R-U4)',
      access: 'owner',
      tags,
      params: billParams,
      responses: { 200: { description: 'the bill', schema: billSchema } },
      handler: getBill,
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/arrears',
      summary: 'Pay-per-use settlement and arrears state (R-U2, R-U5): status, deadlines, outstanding amount',
      access: 'owner',
      tags,
      params: idParams,
      responses: { 200: { description: 'the state', schema: arrearsSchema } },
      handler: getArrears,
    }),
  ];
}
