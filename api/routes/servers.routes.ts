import { z } from 'zod';
import { PERMANENT_REFUSALS } from '../../billing/binding-rules';
import { toIsoLocal } from '../../billing/calendar';
import type { ApiDeps } from '../app';
import { assertAccountAccess, Principal } from '../auth';
import { ApiError, notFound } from '../errors';
import { defineRoute, RouteDef } from '../http';
import { decodeCursor, encodeCursor, idParams, list } from '../schemas';
import {
  bindQuota,
  BindingRow,
  getLiveBinding,
  getServer,
  listServers,
  listSubscriptionBindings,
  registerServer,
  ServerWithBinding,
  setAutoBinding,
  unbind,
  updateServer,
} from '../../store/servers.store';
import { getAccount } from '../../store/accounts.store';
import { getSubscription } from '../../store/subscriptions.store';
import { accountSchema } from '../schemas/accounts';
import { loadAccount } from './accounts.routes';
import { bindingSchema } from '../schemas/bindings';

// SPEC §6 over HTTP: servers (R-Q1), bindings of yearly/monthly quotas to servers (R-Q1, R-Q3),
// automatic binding (R-Q2), and how R-Q4 shows: a binding is `active` while its quota protects
// the server and `suspended` while the quota is frozen or isolated (remembered, restored by a
// renewal); a released or unsubscribed quota's bindings are deleted and no longer listed.

const kindSchema = z.enum(['host', 'container']);
const agentSchema = z.enum(['online', 'offline']);
const powerSchema = z.enum(['running', 'stopped']);


export const serverSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  region: z.string(),
  kind: kindSchema,
  agent: agentSchema,
  power: powerSchema,
  protected: z.boolean().openapi({ description: 'the server holds an active quota (its binding is `active`)' }),
  binding: bindingSchema.nullable(),
  created_at: z.string(),
  updated_at: z.string(),
}).openapi('Server');

const registerBody = z.strictObject({
  account_id: z.string().min(1).max(64),
  region: z.string().min(1).max(64),
  kind: kindSchema,
  agent: agentSchema,
  power: powerSchema.default('running'),
});

const patchBody = z.strictObject({ agent: agentSchema.optional(), power: powerSchema.optional() })
  .refine((b) => b.agent !== undefined || b.power !== undefined, 'give agent or power (or both)');

const listServersQuery = z.strictObject({
  account_id: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

const bindBody = z.strictObject({
  subscription_id: z.string().min(1).max(64),
  server_id: z.string().min(1).max(64),
});

/** R-Q1 refusals: a pair that can never fit is 422; a conflict with the current state is 409. */
const refusalStatus = (code: Parameters<typeof PERMANENT_REFUSALS.has>[0]) => (PERMANENT_REFUSALS.has(code) ? 422 : 409);

function parseCursor(cursor: string | undefined): { createdAt: string; id: string } | null {
  const c = decodeCursor(cursor);
  if (cursor && (!c || typeof c[0] !== 'string' || typeof c[1] !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(c[0]))) throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
  return c ? { createdAt: c[0] as string, id: c[1] as string } : null;
}

const nextCursor = <T extends { cursor_at: string; id: string }>(rows: T[], limit: number) => {
  const last = rows[limit - 1];
  return rows.length > limit && last ? encodeCursor([last.cursor_at, last.id]) : null;
};

export function serverRoutes(deps: ApiDeps): RouteDef[] {
  // R-T1: instants in billing local time, like every other route.
  const local = (d: Date | string) => toIsoLocal(new Date(d).getTime(), deps.settings.offsetMinutes);

  const bindingJson = (b: BindingRow) => ({
    id: b.id,
    account_id: b.account_id,
    subscription_id: b.subscription_id,
    server_id: b.server_id,
    product: b.product,
    edition: b.edition,
    region: b.region,
    status: b.suspended_at ? ('suspended' as const) : ('active' as const),
    created_at: local(b.created_at),
  });

  const serverJson = (s: ServerWithBinding) => {
    const binding = s.binding ? bindingJson(s.binding) : null;
    return {
      id: s.id,
      account_id: s.account_id,
      region: s.region,
      kind: s.kind,
      agent: s.agent,
      power: s.power,
      protected: binding?.status === 'active',
      binding,
      created_at: local(s.created_at),
      updated_at: local(s.updated_at),
    };
  };

  /** Tenant isolation: another account's server is "not found". */
  async function loadServer(principal: Principal | null, id: string): Promise<ServerWithBinding> {
    const server = await getServer(deps.db, id);
    if (!server) throw notFound('server', id);
    assertAccountAccess(principal, server.account_id, 'server', id);
    return server;
  }

  async function loadSubscription(principal: Principal | null, id: string) {
    const row = await getSubscription(deps.db, id);
    if (!row) throw notFound('subscription', id);
    assertAccountAccess(principal, row.account_id, 'subscription', id);
    return row as { id: string; account_id: string };
  }

  async function loadBinding(principal: Principal | null, id: string): Promise<BindingRow> {
    const b = await getLiveBinding(deps.db, id);
    if (!b) throw notFound('binding', id);
    assertAccountAccess(principal, b.account_id, 'binding', id);
    return b;
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/servers',
      summary: 'Register a server (R-Q1); with auto-binding on it gets an available quota at once (R-Q2)',
      access: 'owner',
      tags: ['servers'],
      body: registerBody,
      idempotent: true,
      responses: {
        201: { description: 'registered; `binding` is the quota it got automatically, or null', schema: serverSchema },
        422: { description: 'unknown region' },
      },
      handler: async ({ body, principal }) => {
        assertAccountAccess(principal, body.account_id);
        const account = await getAccount(deps.db, body.account_id);
        if (!account) throw notFound('account', body.account_id);
        if (!deps.catalog.regions.includes(body.region)) throw new ApiError(422, 'CATALOG.UNKNOWN_REGION', `no region ${body.region}`, { regions: deps.catalog.regions });
        const server = await registerServer(deps.db, deps.catalog, { accountId: body.account_id, region: body.region, kind: body.kind, agent: body.agent, power: body.power, at: new Date() });
        return { status: 201, body: serverJson(server) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/servers',
      summary: "List servers with their bindings (a customer key sees its own account's only)",
      access: 'owner',
      tags: ['servers'],
      query: listServersQuery,
      responses: { 200: { description: 'a page, newest first', schema: list(serverSchema) } },
      handler: async ({ query, principal }) => {
        if (principal?.scope === 'customer' && query.account_id && query.account_id !== principal.accountId) throw notFound('account', query.account_id);
        const accountId = principal?.scope === 'customer' ? principal.accountId : query.account_id ?? null;
        const rows = await listServers(deps.db, { accountId, limit: query.limit + 1, after: parseCursor(query.cursor) });
        return { status: 200, body: { data: rows.slice(0, query.limit).map(serverJson), next_cursor: nextCursor(rows, query.limit) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/servers/{id}',
      summary: 'A server, its agent and power state, and its binding',
      access: 'owner',
      tags: ['servers'],
      params: idParams,
      responses: { 200: { description: 'the server', schema: serverSchema } },
      handler: async ({ params, principal }) => ({ status: 200, body: serverJson(await loadServer(principal, params.id)) }),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/servers/{id}',
      summary: "Report the agent's status or the power state; an agent coming online for the first time gets its automatic binding (R-Q2)",
      access: 'owner',
      tags: ['servers'],
      params: idParams,
      body: patchBody,
      responses: { 200: { description: 'the server', schema: serverSchema } },
      handler: async ({ params, body, principal }) => {
        await loadServer(principal, params.id);
        const r = await updateServer(deps.db, deps.catalog, params.id, { agent: body.agent, power: body.power, at: new Date() });
        if (!r) throw notFound('server', params.id);
        return { status: 200, body: serverJson(r.after) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/bindings',
      summary: 'Bind a yearly/monthly quota to a server (R-Q1): agent online, same region, free quota (R-Q3)',
      access: 'owner',
      tags: ['servers'],
      body: bindBody,
      idempotent: true,
      responses: {
        201: { description: 'bound', schema: bindingSchema },
        409: { description: 'BINDING.AGENT_OFFLINE, BINDING.QUOTA_FULL, BINDING.ALREADY_BOUND or BINDING.NOT_PROTECTED' },
        422: { description: 'BINDING.REGION_MISMATCH, BINDING.SERVER_KIND, BINDING.BILLING_MODE or BINDING.ACCOUNT_MISMATCH' },
      },
      handler: async ({ body, principal }) => {
        await loadSubscription(principal, body.subscription_id);
        await loadServer(principal, body.server_id);
        let result;
        try {
          result = await bindQuota(deps.db, deps.catalog, { subscriptionId: body.subscription_id, serverId: body.server_id });
        } catch (err) {
          // The unique live binding per server (migration 001) is the last line behind R-Q1.
          if ((err as { code?: string }).code === '23505') throw new ApiError(409, 'BINDING.ALREADY_BOUND', `server ${body.server_id} is already bound`);
          throw err;
        }
        if ('missing' in result) throw notFound(result.missing, result.missing === 'server' ? body.server_id : body.subscription_id);
        if ('refusal' in result) {
          const { code, message } = result.refusal;
          throw new ApiError(refusalStatus(code), code, message, { subscription_id: body.subscription_id, server_id: body.server_id });
        }
        return { status: 201, body: bindingJson(result.binding) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/bindings/{id}',
      summary: 'A live binding (active, or suspended while its quota is frozen, R-Q4)',
      access: 'owner',
      tags: ['servers'],
      params: idParams,
      responses: { 200: { description: 'the binding', schema: bindingSchema } },
      handler: async ({ params, principal }) => ({ status: 200, body: bindingJson(await loadBinding(principal, params.id)) }),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/bindings/{id}',
      summary: 'Unbind: the quota is free again and the server unprotected (a suspended binding may be removed too)',
      access: 'owner',
      tags: ['servers'],
      params: idParams,
      responses: { 204: { description: 'unbound' } },
      handler: async ({ params, principal }) => {
        await loadBinding(principal, params.id);
        if (!(await unbind(deps.db, params.id))) throw notFound('binding', params.id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/subscriptions/{id}/bindings',
      summary: "The subscription's live bindings, oldest first (R-Q3: never more than its quantity)",
      access: 'owner',
      tags: ['servers'],
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page', schema: list(bindingSchema) } },
      handler: async ({ params, query, principal }) => {
        await loadSubscription(principal, params.id);
        const rows = await listSubscriptionBindings(deps.db, { subscriptionId: params.id, limit: query.limit + 1, after: parseCursor(query.cursor) });
        return { status: 200, body: { data: rows.slice(0, query.limit).map(bindingJson), next_cursor: nextCursor(rows, query.limit) } };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/accounts/{id}/auto-binding',
      summary: 'Switch automatic binding of newly registered servers on or off (R-Q2); servers already registered are left as they are',
      access: 'owner',
      tags: ['servers'],
      params: idParams,
      body: z.strictObject({ enabled: z.boolean() }),
      responses: { 200: { description: 'the account', schema: accountSchema } },
      handler: async ({ params, body, principal }) => {
        assertAccountAccess(principal, params.id);
        if (!(await setAutoBinding(deps.db, params.id, body.enabled))) throw notFound('account', params.id);
        return { status: 200, body: await loadAccount(deps, params.id) };
      },
    }),
  ];
}
