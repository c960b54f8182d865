import { z } from 'zod';
import { newId } from '../../common/ids';
import { topUpSignal } from '../../workflows/subscription.messages';
import type { ApiDeps } from '../app';
import { assertAccountAccess, issueApiKey } from '../auth';
import { notFound } from '../errors';
import { defineRoute, RouteDef } from '../http';
import { idParams, positiveMoneyString } from '../schemas';

export const accountSchema = z.object({
  id: z.string(),
  name: z.string(),
  currency: z.string(),
  customer_level: z.enum(['standard', 'key_account']),
  cash: z.string(),
  credit_limit: z.string(),
  credit_used: z.string(),
  locked: z.string(),
  card: z.object({ last4: z.string().optional(), token_hint: z.string() }).nullable(),
  auto_binding: z.boolean(),
  created_at: z.string(),
}).openapi('Account');

const createAccountBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  currency: z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code such as USD').default('USD'),
  customer_level: z.enum(['standard', 'key_account']).default('standard'),
});

export async function loadAccount(deps: ApiDeps, accountId: string) {
  const row = await deps.db('accounts').where({ id: accountId }).first();
  if (!row) throw notFound('account', accountId);
  const b = await deps.payments.getBalances(accountId);
  return {
    id: row.id,
    name: row.name,
    currency: row.currency,
    customer_level: row.customer_level,
    cash: b.cash,
    credit_limit: b.credit_limit,
    credit_used: b.credit_used,
    locked: b.locked,
    card: b.card,
    auto_binding: row.auto_binding,
    created_at: new Date(row.created_at).toISOString(),
  };
}

/**
 * A top-up is a payment fact: the account's lapsing subscriptions hear of it (R-S6/S7/S9, they
 * try to renew at once when auto-renew is on). A workflow that just ended is not an error.
 */
async function signalTopUp(deps: ApiDeps, accountId: string, amount: string): Promise<void> {
  const lapsing = await deps.db('subscriptions').where({ account_id: accountId }).whereIn('status', ['grace', 'frozen', 'isolated']).pluck('workflow_id');
  await Promise.all(lapsing.map((workflowId: string) => deps.temporal.workflow.getHandle(workflowId).signal(topUpSignal, { amount }).catch((err) => {
    deps.logger.warn({ err, workflowId }, 'top-up signal not delivered');
  })));
}

export function accountRoutes(deps: ApiDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/accounts',
      summary: 'Create an account and its customer API key (shown once)',
      access: 'operator',
      tags: ['accounts'],
      body: createAccountBody,
      idempotent: true,
      responses: { 201: { description: 'created', schema: accountSchema.extend({ api_key: z.string() }) } },
      handler: async ({ body }) => {
        const id = newId('acc');
        const key = await deps.db.transaction(async (trx) => {
          await trx('accounts').insert({ id, name: body.name, currency: body.currency, customer_level: body.customer_level });
          return issueApiKey(trx, { scope: 'customer', accountId: id, label: 'created with the account' });
        });
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
      method: 'post',
      path: '/v1/accounts/{id}/top-ups',
      summary: 'Pay cash into the account (a payment fact, signalled to its running workflows)',
      access: 'owner',
      tags: ['accounts'],
      params: idParams,
      body: z.strictObject({ amount: positiveMoneyString }),
      idempotent: true,
      responses: { 201: { description: 'credited', schema: z.object({ transaction_id: z.string(), account: accountSchema }) } },
      handler: async ({ params, body, principal, req }) => {
        assertAccountAccess(principal, params.id);
        await loadAccount(deps, params.id);
        const key = req.header('idempotency-key') ?? newId('topup');
        const t = await deps.payments.topUp({ accountId: params.id, amount: body.amount, idempotencyKey: `topup:${params.id}:${key}` });
        await signalTopUp(deps, params.id, body.amount);
        return { status: 201, body: { transaction_id: t.transactionId, account: await loadAccount(deps, params.id) } };
      },
    }),
  ];
}
