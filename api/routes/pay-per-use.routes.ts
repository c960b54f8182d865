import { z } from 'zod';
import { findEdition, findProduct, offersMode } from '../../catalog/catalog';
import { disableProtection, enableProtection, getProtection, ProtectionConflictError, ProtectionRow } from '../../store/usage.store';
import { getAccountServer, protectingBinding } from '../../store/servers.store';
import { accountWorkflow } from '../account-workflow';
import type { ApiDeps } from '../app';
import { assertAccountAccess, Principal } from '../auth';
import { apiClock } from '../clock';
import { ApiError, notFound } from '../errors';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { IdParams, idParams, localInstant, sixPlaces } from '../schemas';
import { accountIdField } from '../schemas/usage';

// SPEC §7 over HTTP: pay-per-use protection of a server on and off (R-U1). The facts are written
// straight to Postgres; the account's workflow (`account-<id>`) is started the first time it is
// needed and settles them every hour (R-U2).

const enableBody = z.strictObject({
  account_id: accountIdField,
  server_id: z.string().min(1).max(64),
  product: z.string().min(1).max(64),
  edition: z.string().min(1).max(64),
  quantity: z.number().int().min(1).max(10_000),
});
type EnableBody = z.infer<typeof enableBody>;

export const protectionSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  server_id: z.string(),
  product: z.string(),
  edition: z.string(),
  quantity: z.number().int(),
  billing_mode: z.literal('pay_per_use'),
  hourly_price: z.string(),
  status: z.enum(['active', 'frozen', 'disabled', 'released']),
  enabled_at: z.string(),
  disabled_at: z.string().nullable(),
}).openapi('PayPerUseProtection');

export function payPerUseRoutes(deps: ApiDeps): RouteDef[] {
  const offset = deps.settings.offsetMinutes;
  const local = localInstant(offset);
  const now = apiClock(deps);
  const { ensureAccountWorkflow, wake } = accountWorkflow(deps);

  function protectionJson(p: ProtectionRow) {
    return {
      id: p.id,
      account_id: p.account_id,
      server_id: p.server_id,
      product: p.product,
      edition: p.edition,
      quantity: p.quantity,
      billing_mode: 'pay_per_use' as const,
      hourly_price: sixPlaces(p.hourly_price),
      status: p.status,
      enabled_at: local(p.enabled_at),
      disabled_at: p.disabled_at === null ? null : local(p.disabled_at),
    };
  }

  async function ownedProtection(principal: Principal | null, id: string): Promise<ProtectionRow> {
    const row = await getProtection(deps.db, id);
    if (!row) throw notFound('pay-per-use protection', id);
    assertAccountAccess(principal, row.account_id, 'pay-per-use protection', id);
    return row;
  }

  async function enablePayPerUse({ body, principal }: RouteContext<unknown, unknown, EnableBody>): Promise<RouteResult> {
    const account = await ownedAccount(deps.db, principal, body.account_id);
    const server = await getAccountServer(deps.db, body.account_id, body.server_id);
    if (!server) throw notFound('server', body.server_id);
    const product = findProduct(deps.catalog, body.product);
    if (!product) throw new ApiError(422, 'CATALOG.UNKNOWN_PRODUCT', `no product ${body.product}`, { products: deps.catalog.products.map((p) => p.product) });
    const edition = findEdition(deps.catalog, body.product, body.edition);
    if (!edition) throw new ApiError(422, 'CATALOG.UNKNOWN_EDITION', `${body.product} has no edition ${body.edition}`, { editions: product.editions.map((e) => e.edition) });
    // R-C1: which editions may be used pay-per-use is catalog data.
    if (!offersMode(edition, 'pay_per_use') || edition.pay_per_use_hourly === null) {
      throw new ApiError(422, 'CATALOG.MODE_NOT_OFFERED', `${body.product}/${body.edition} is not offered pay-per-use`, {
        pay_per_use_editions: product.editions.filter((e) => offersMode(e, 'pay_per_use')).map((e) => e.edition),
      });
    }
    if (!edition.server_kinds.includes(server.kind)) {
      throw new ApiError(422, 'PAY_PER_USE.SERVER_KIND', `${body.product}/${body.edition} does not protect ${server.kind} servers`, { server_kinds: edition.server_kinds });
    }
    // A server is protected by a yearly/monthly quota or pay-per-use, not both.
    const bound = await protectingBinding(deps.db, body.server_id);
    if (bound) throw new ApiError(409, 'PAY_PER_USE.SERVER_PROTECTED', `server ${body.server_id} is protected by a bound quota (binding ${bound.id}); unbind it first`);
    const at = now();
    await ensureAccountWorkflow(account, at);
    try {
      const row = await enableProtection(deps.db, {
        accountId: body.account_id,
        serverId: body.server_id,
        product: body.product,
        edition: body.edition,
        quantity: body.quantity,
        hourlyPrice: edition.pay_per_use_hourly,
        at: new Date(at),
        rest: { wake, offsetMinutes: offset },
      });
      return { status: 201, body: protectionJson(row) };
    } catch (err) {
      if (err instanceof ProtectionConflictError) throw new ApiError(409, err.code, err.message);
      if ((err as { code?: string }).code === '23505') throw new ApiError(409, 'PAY_PER_USE.ALREADY_ENABLED', `server ${body.server_id} already has pay-per-use protection`);
      throw err;
    }
  }

  async function getPayPerUse({ params, principal }: RouteContext<IdParams, unknown, unknown>): Promise<RouteResult> {
    return { status: 200, body: protectionJson(await ownedProtection(principal, params.id)) };
  }

  async function disablePayPerUse({ params, principal }: RouteContext<IdParams, unknown, unknown>): Promise<RouteResult> {
    await ownedProtection(principal, params.id);
    const row = await disableProtection(deps.db, params.id, new Date(now()));
    if (!row) throw notFound('pay-per-use protection', params.id);
    return { status: 200, body: protectionJson(row) };
  }

  const tags = ['pay-per-use'];
  return [
    defineRoute({
      method: 'post',
      path: '/v1/pay-per-use',
      summary: 'Turn on pay-per-use protection for a server (R-U1): billed per second while on and the server runs, settled hourly',
      access: 'owner',
      tags,
      body: enableBody,
      idempotent: true,
      responses: {
        201: { description: 'enabled', schema: protectionSchema },
        409: { description: 'the server already has pay-per-use or a bound quota, or the account is in arrears' },
        422: { description: 'the edition is not offered pay-per-use, or does not fit the server kind' },
      },
      handler: enablePayPerUse,
    }),
    defineRoute({
      method: 'get',
      path: '/v1/pay-per-use/{id}',
      summary: 'A pay-per-use protection',
      access: 'owner',
      tags,
      params: idParams,
      responses: { 200: { description: 'the protection', schema: protectionSchema } },
      handler: getPayPerUse,
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/pay-per-use/{id}',
      summary: 'Turn pay-per-use protection off (R-U1): billing stops at this second; turning it off again changes nothing',
      access: 'owner',
      tags,
      params: idParams,
      responses: { 200: { description: 'disabled', schema: protectionSchema } },
      handler: disablePayPerUse,
    }),
  ];
}
