import type { Knex } from 'knex';
import { z } from 'zod';
import { toIsoLocal } from '../../billing/calendar';
import { newId } from '../../common/ids';
import { accountTopUpSignal } from '../../workflows/account.messages';
import { topUpSignal } from '../../workflows/subscription.messages';
import { createAccountWithKey, getAccount, updateAccountContact } from '../../store/accounts.store';
import { deliverSignals, enqueueSignals, PendingSignal } from '../../store/outbox.store';
import { lapsingSubscriptionWorkflows } from '../../store/subscriptions.store';
import { startedUsageWorkflows } from '../../store/usage.store';
import type { ApiDeps } from '../app';
import { assertAccountAccess } from '../auth';
import { ApiError, notFound } from '../errors';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { currencyField, IdParams, idParams, positiveMoneyString } from '../schemas';
import { accountSchema, contactFields } from '../schemas/accounts';
import { errorDoc } from '../schemas/responses';

const createAccountBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  currency: z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code such as USD').default('USD'),
  customer_level: z.enum(['standard', 'key_account']).default('standard'),
  ...contactFields,
});

const patchAccountBody = z
  .strictObject(contactFields)
  .refine((b) => Object.values(b).some((v) => v !== undefined), { message: 'name at least one of email, phone, language' });

export async function loadAccount(deps: ApiDeps, accountId: string) {
  const row = await getAccount(deps.db, accountId);
  if (!row) throw notFound('account', accountId);
  const b = await deps.payments.getBalances(accountId);
  // R-T1: instants in billing local time, like every other route.
  const local = (v: string | Date) => toIsoLocal(new Date(v).getTime(), deps.settings.offsetMinutes);
  return {
    id: row.id,
    name: row.name,
    currency: row.currency,
    customer_level: row.customer_level,
    cash: b.cash,
    credit_limit: b.credit_limit,
    credit_used: b.credit_used,
    locked: b.locked,
    card: b.card ? { ...b.card, bound_at: local(b.card.bound_at) } : null,
    auto_binding: row.auto_binding,
    email: row.email ?? null,
    phone: row.phone ?? null,
    language: (row.language ?? 'en') as 'en' | 'zh-CN',
    created_at: local(row.created_at),
  };
}

/**
 * A top-up is a payment fact: the account's lapsing subscriptions hear of it (R-S6/S7/S9, they
 * try to renew at once when auto-renew is on), and so does its pay-per-use workflow (R-U5). The
 * signals are written with the money (store/outbox.store), so Temporal being down at that moment
 * delays them, never loses them (issue #11, defect 10).
 */
async function topUpSignals(trx: Knex.Transaction, accountId: string, amount: string): Promise<PendingSignal[]> {
  const lapsing = await lapsingSubscriptionWorkflows(trx, accountId);
  const usage = await startedUsageWorkflows(trx, accountId);
  return [
    ...lapsing.map((workflowId) => ({ workflowId, signal: topUpSignal.name, payload: { amount } })),
    ...usage.map((workflowId) => ({ workflowId, signal: accountTopUpSignal.name, payload: { amount } })),
  ];
}

export function accountRoutes(deps: ApiDeps): RouteDef[] {
  // Issue #15: the owner (or an operator) sets where messages go; only the fields given change.
  async function patchAccount({ params, body, principal }: RouteContext<IdParams, unknown, z.infer<typeof patchAccountBody>>): Promise<RouteResult> {
    assertAccountAccess(principal, params.id);
    const found = await updateAccountContact(deps.db, params.id, { email: body.email, phone: body.phone, language: body.language });
    if (!found) throw notFound('account', params.id);
    return { status: 200, body: await loadAccount(deps, params.id) };
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/accounts',
      summary: 'Create an account and its customer API key (shown once)',
      access: 'operator',
      tags: ['accounts'],
      body: createAccountBody,
      idempotent: true,
      responses: { 201: { description: 'created', schema: accountSchema.extend({ api_key: z.string().nullable().openapi({ description: 'the customer API key, shown once; null when an Idempotency-Key replay answers (secrets are never stored)' }) }) } },
      handler: async ({ body }) => {
        const id = newId('acc');
        const contact = { email: body.email ?? null, phone: body.phone ?? null, language: body.language ?? 'en' };
        const key = await createAccountWithKey(deps.db, { id, name: body.name, currency: body.currency, customerLevel: body.customer_level, contact });
        return { status: 201, body: { ...(await loadAccount(deps, id)), api_key: key.secret } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}',
      summary: 'Account with balances, card on file and customer level',
      access: 'owner',
      tags: ['accounts'],
      params: idParams,
      responses: { 200: { description: 'the account', schema: accountSchema } },
      handler: async ({ params, principal }) => {
        assertAccountAccess(principal, params.id);
        return { status: 200, body: await loadAccount(deps, params.id) };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/accounts/{id}',
      summary: 'Set the contact fields: email, phone (E.164) and the language of messages (en, zh-CN); null clears a field',
      access: 'owner',
      tags: ['accounts'],
      params: idParams,
      body: patchAccountBody,
      responses: { 200: { description: 'the account', schema: accountSchema }, 400: errorDoc('VALIDATION.BODY: not an email address, not E.164, or nothing to change') },
      handler: patchAccount,
    }),
    defineRoute({
      method: 'post',
      path: '/v1/accounts/{id}/top-ups',
      summary: 'Pay cash into the account (a payment fact, signalled to its running workflows)',
      access: 'owner',
      tags: ['accounts'],
      params: idParams,
      body: z.strictObject({ amount: positiveMoneyString, currency: currencyField }),
      idempotent: true,
      responses: { 201: { description: 'credited', schema: z.object({ transaction_id: z.string(), account: accountSchema }) } },
      handler: async ({ params, body, principal, req }) => {
        assertAccountAccess(principal, params.id);
        const account = await loadAccount(deps, params.id);
        if (body.currency !== undefined && body.currency !== account.currency) {
          throw new ApiError(400, 'VALIDATION.CURRENCY', `the account is billed in ${account.currency}, not ${body.currency}`, { currency: body.currency, account_currency: account.currency });
        }
        const key = req.header('idempotency-key') ?? newId('topup');
        let queued: number[] = [];
        const t = await deps.payments.topUp({
          accountId: params.id,
          amount: body.amount,
          idempotencyKey: `topup:${params.id}:${key}`,
          alsoWrite: async (trx) => { queued = await enqueueSignals(trx, await topUpSignals(trx, params.id, body.amount)); },
        });
        // Delivered at once when Temporal answers; otherwise the worker's loop keeps trying.
        if (queued.length > 0) {
          await deliverSignals(deps.db, deps.temporal, { ids: queued, deadlineMs: 1_500 }).catch((err) => deps.logger.warn({ err }, 'top-up signals left to the outbox loop'));
        }
        return { status: 201, body: { transaction_id: t.transactionId, account: await loadAccount(deps, params.id) } };
      },
    }),
  ];
}
