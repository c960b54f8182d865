import { z } from 'zod';
import { toIsoLocal } from '../../billing/calendar';
import { ApiKeyRow, getAccount, issueApiKey, listApiKeys, revokeApiKey } from '../../store/accounts.store';
import type { ApiDeps } from '../app';
import { assertAccountAccess, Principal } from '../auth';
import { ApiError, notFound } from '../errors';
import { defineRoute, RouteDef } from '../http';
import { decodeCursor, encodeCursor, idParams, list, pageQuery } from '../schemas';

// API keys (issue #4): customer keys per account, operator keys for the whole API. Secrets are
// shown once, in the 201 that creates them; only their hash is stored; revocation is final.

export const apiKeySchema = z.object({
  id: z.string(),
  scope: z.enum(['customer', 'operator']),
  account_id: z.string().nullable(),
  label: z.string().nullable(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
}).openapi('ApiKey');

const createdKeySchema = apiKeySchema.extend({
  secret: z.string().nullable().openapi({ description: 'the key itself, for Authorization: Bearer <secret>. Shown once; null when an Idempotency-Key replay answers (it is never stored)' }),
}).openapi('CreatedApiKey');

const keyBody = z.strictObject({ label: z.string().trim().min(1).max(100).optional() });

export function keyRoutes(deps: ApiDeps): RouteDef[] {
  const local = (v: Date | string | null) => (v === null ? null : toIsoLocal(new Date(v).getTime(), deps.settings.offsetMinutes));
  const keyJson = (k: ApiKeyRow) => ({ id: k.id, scope: k.scope, account_id: k.account_id, label: k.label, created_at: local(k.created_at) as string, revoked_at: local(k.revoked_at) });

  /** Newest first, keyset-paginated on (created_at, id); the cursor keeps Postgres' microseconds (a JS Date would drop them). */
  async function page(filter: { accountId?: string; scope: 'customer' | 'operator' }, query: { limit: number; cursor?: string }) {
    const cursor = decodeCursor(query.cursor);
    if (query.cursor !== undefined && (!cursor || cursor.length !== 2 || typeof cursor[0] !== 'string' || typeof cursor[1] !== 'string' || Number.isNaN(Date.parse(cursor[0])))) {
      throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
    }
    const rows = await listApiKeys(deps.db, { ...filter, limit: query.limit + 1, before: cursor ? [cursor[0] as string, cursor[1] as string] : null });
    const kept = rows.slice(0, query.limit);
    const last = kept[kept.length - 1];
    return { data: kept.map(keyJson), next_cursor: rows.length > query.limit && last ? encodeCursor([last.created_text, last.id]) : null };
  }

  async function existingAccount(principal: Principal | null, accountId: string): Promise<void> {
    assertAccountAccess(principal, accountId);
    if (!(await getAccount(deps.db, accountId))) throw notFound('account', accountId);
  }

  const tags = ['api keys'];
  return [
    defineRoute({
      method: 'post',
      path: '/v1/accounts/{id}/api-keys',
      summary: 'Issue another customer API key for the account; the secret is shown once',
      access: 'owner',
      tags,
      params: idParams,
      body: keyBody,
      idempotent: true,
      responses: { 201: { description: 'issued', schema: createdKeySchema } },
      handler: async ({ params, body, principal }) => {
        await existingAccount(principal, params.id);
        const k = await issueApiKey(deps.db, { scope: 'customer', accountId: params.id, label: body.label });
        return { status: 201, body: { ...keyJson(k.row), secret: k.secret } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/api-keys',
      summary: 'The account’s customer API keys, newest first (never their secrets), revoked ones included',
      access: 'owner',
      tags,
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page', schema: list(apiKeySchema) } },
      handler: async ({ params, query, principal }) => {
        await existingAccount(principal, params.id);
        return { status: 200, body: await page({ accountId: params.id, scope: 'customer' }, query) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/api-keys/{id}',
      summary: 'Revoke an API key at once (a customer its own account’s keys, an operator any key); revoking twice is not an error',
      access: 'owner',
      tags,
      params: idParams,
      responses: { 200: { description: 'the key, revoked', schema: apiKeySchema }, 409: { description: 'KEYS.LAST_OPERATOR_KEY: the last operator key cannot be revoked' } },
      handler: async ({ params, principal }) => {
        // Another account's key, or an operator key seen by a customer, "does not exist".
        const outcome = await revokeApiKey(deps.db, params.id, (key) => principal?.scope === 'operator' || (key.scope === 'customer' && key.account_id === principal?.accountId));
        if ('notFound' in outcome) throw notFound('api key', params.id);
        if ('lastOperatorKey' in outcome) throw new ApiError(409, 'KEYS.LAST_OPERATOR_KEY', 'this is the last active operator key; issue another before revoking it');
        return { status: 200, body: keyJson(outcome.revoked) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/operator-keys',
      summary: 'Issue an operator API key (any account, catalog, credit lines, coupons, discounts); the secret is shown once',
      access: 'operator',
      tags,
      body: keyBody,
      idempotent: true,
      responses: { 201: { description: 'issued', schema: createdKeySchema } },
      handler: async ({ body }) => {
        const k = await issueApiKey(deps.db, { scope: 'operator', accountId: null, label: body.label });
        return { status: 201, body: { ...keyJson(k.row), secret: k.secret } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/operator-keys',
      summary: 'Operator API keys, newest first (never their secrets), revoked ones included',
      access: 'operator',
      tags,
      query: pageQuery,
      responses: { 200: { description: 'a page', schema: list(apiKeySchema) } },
      handler: async ({ query }) => ({ status: 200, body: await page({ scope: 'operator' }, query) }),
    }),
  ];
}
