import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { canUpgrade } from '../../billing/subscription-rules';
import { z } from 'zod';
import { toIsoLocal } from '../../billing/calendar';
import { findEdition, findProduct, offersMode } from '../../catalog/catalog';
import { derivedId, newId } from '../../common/ids';
import { BillingAccountId, Edition, Product, SubscriptionStatus } from '../../common/search-attributes';
import {
  getStateQuery,
  purchaseOutcomeUpdate,
  renewUpdate,
  setAutoRenewUpdate,
  unsubscribeUpdate,
  upgradeUpdate,
} from '../../workflows/subscription.messages';
import type { PurchaseRequest, SubscriptionView } from '../../workflows/subscription.types';
import type { ApiDeps } from '../app';
import { assertAccountAccess } from '../auth';
import { ApiError, notFound, statusForCode } from '../errors';
import { defineRoute, RouteDef } from '../http';
import { viaUpdate } from '../workflow-errors';
import { decodeCursor, encodeCursor, idParams, list, pageQuery, termSchema } from '../schemas';

const TERMINAL = new Set(['released', 'unsubscribed']);

const instantOrNull = z.string().nullable();
export const termRowSchema = z.object({
  term_number: z.number().int(),
  kind: z.enum(['purchase', 'trial', 'renewal', 'manual_renewal']),
  edition: z.string(),
  starts_at: z.string(),
  ends_at: z.string(),
  order_id: z.string().nullable(),
}).openapi('SubscriptionTerm');

const subscriptionSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  product: z.string(),
  edition: z.string(),
  region: z.string(),
  quantity: z.number().int(),
  billing_mode: z.literal('yearly_monthly'),
  status: z.enum(['trial', 'active', 'grace', 'frozen', 'isolated', 'released', 'unsubscribed']),
  trial: z.boolean(),
  started_at: z.string(),
  expires_at: z.string(),
  auto_renew: z.boolean(),
  deduction_date: z.string().nullable(),
  renewal_period: termSchema,
  term_number: z.number().int(),
  grace_ends_at: instantOrNull,
  frozen_ends_at: instantOrNull,
  forecast: z.object({
    next_deduction_at: instantOrNull,
    deduction_attempts: z.array(z.string()),
    grace_ends_at: instantOrNull,
    frozen_ends_at: instantOrNull,
  }),
}).openapi('Subscription');

const purchaseBody = z.strictObject({
  account_id: z.string().min(1).max(64),
  product: z.string().min(1).max(64),
  edition: z.string().min(1).max(64),
  region: z.string().min(1).max(64),
  quantity: z.number().int().min(1).max(10_000),
  term: termSchema.optional(),
  auto_renew: z.boolean().default(false),
  deduction_day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a local date YYYY-MM-DD').optional(),
  trial: z.boolean().default(false),
}).superRefine((b, ctx) => {
  if (b.trial && b.term) ctx.addIssue({ code: 'custom', path: ['term'], message: 'a trial takes no term (it runs 30 days)' });
  if (!b.trial && !b.term) ctx.addIssue({ code: 'custom', path: ['term'], message: 'required unless trial is true' });
});

const listQuery = z.strictObject({
  account_id: z.string().min(1).max(64).optional(),
  status: subscriptionSchema.shape.status.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

export function subscriptionRoutes(deps: ApiDeps): RouteDef[] {
  const offset = deps.settings.offsetMinutes;
  const iso = (ms: number | null) => (ms === null ? null : toIsoLocal(ms, offset));

  function viewToJson(v: SubscriptionView) {
    return {
      id: v.subscriptionId,
      account_id: v.accountId,
      product: v.product,
      edition: v.edition,
      region: v.region,
      quantity: v.quantity,
      billing_mode: 'yearly_monthly' as const,
      status: v.status,
      trial: v.trial,
      started_at: iso(v.startedAt),
      expires_at: iso(v.expiresAt),
      auto_renew: v.autoRenew,
      deduction_date: v.deductionDate,
      renewal_period: v.renewalPeriod,
      term_number: v.termNumber,
      grace_ends_at: iso(v.graceEndsAt),
      frozen_ends_at: iso(v.frozenEndsAt),
      forecast: {
        next_deduction_at: iso(v.forecast.nextDeductionAt),
        deduction_attempts: v.forecast.deductionAttempts.map((a) => iso(a) as string),
        grace_ends_at: iso(v.forecast.graceEndsAt),
        frozen_ends_at: iso(v.forecast.frozenEndsAt),
      },
    };
  }

  function rowToJson(r: Record<string, any>) {
    const ms = (d: Date | null) => (d ? new Date(d).getTime() : null);
    const ended = TERMINAL.has(r.status);
    return {
      id: r.id,
      account_id: r.account_id,
      product: r.product,
      edition: r.edition,
      region: r.region,
      quantity: r.quantity,
      billing_mode: 'yearly_monthly' as const,
      status: r.status,
      trial: r.trial,
      started_at: iso(ms(r.started_at)),
      expires_at: iso(ms(r.expires_at)),
      auto_renew: r.auto_renew,
      deduction_date: r.deduction_date ? toIsoLocal(new Date(r.deduction_date).getTime(), 0).slice(0, 10) : null,
      renewal_period: { unit: r.renewal_unit, count: r.renewal_count },
      term_number: r.term_number,
      grace_ends_at: iso(ms(r.grace_ends_at)),
      frozen_ends_at: iso(ms(r.frozen_ends_at)),
      forecast: {
        next_deduction_at: null,
        deduction_attempts: [],
        grace_ends_at: ended ? null : iso(ms(r.grace_ends_at)),
        frozen_ends_at: ended ? null : iso(ms(r.frozen_ends_at)),
      },
    };
  }

  async function loadOwned(principal: Parameters<typeof assertAccountAccess>[0], id: string) {
    const row = await deps.db('subscriptions').where({ id }).first();
    if (!row) throw notFound('subscription', id);
    assertAccountAccess(principal, row.account_id, 'subscription', id);
    return row;
  }

  /** Live state from the workflow (with its forecast); the read model once it has ended. */
  async function currentView(row: Record<string, any>) {
    if (TERMINAL.has(row.status)) return rowToJson(row);
    try {
      const view = await deps.temporal.workflow.getHandle(row.workflow_id).query(getStateQuery);
      return viewToJson(view);
    } catch (err) {
      deps.logger.warn({ err, subscriptionId: row.id }, 'workflow query failed; answering from the read model');
      return rowToJson(row);
    }
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/subscriptions',
      summary: 'Buy a subscription (R-S1) or start the free trial (R-S2); 402 with nothing created when payment fails',
      access: 'owner',
      tags: ['subscriptions'],
      body: purchaseBody,
      idempotent: true,
      responses: {
        201: { description: 'bought', schema: subscriptionSchema },
        402: { description: 'payment failed; nothing was created' },
        422: { description: 'refused by a rule (catalog, trial already used)' },
      },
      handler: async ({ body, principal, req }) => {
        assertAccountAccess(principal, body.account_id);
        const account = await deps.db('accounts').where({ id: body.account_id }).first();
        if (!account) throw notFound('account', body.account_id);
        const product = findProduct(deps.catalog, body.product);
        if (!product) throw new ApiError(422, 'CATALOG.UNKNOWN_PRODUCT', `no product ${body.product}`, { products: deps.catalog.products.map((p) => p.product) });
        const edition = findEdition(deps.catalog, body.product, body.edition);
        if (!edition) throw new ApiError(422, 'CATALOG.UNKNOWN_EDITION', `${body.product} has no edition ${body.edition}`, { editions: product.editions.map((e) => e.edition) });
        if (!deps.catalog.regions.includes(body.region)) throw new ApiError(422, 'CATALOG.UNKNOWN_REGION', `no region ${body.region}`, { regions: deps.catalog.regions });
        if (!offersMode(edition, 'yearly_monthly')) throw new ApiError(422, 'CATALOG.MODE_NOT_OFFERED', `${body.product}/${body.edition} is not sold yearly/monthly`);
        if (body.trial && !edition.trial_days) throw new ApiError(422, 'SUBSCRIPTION.NO_TRIAL', `${body.product}/${body.edition} has no free trial`);

        const level = account.customer_level as 'standard' | 'key_account';
        const periods = deps.settings.arrears[level];
        // The same Idempotency-Key names the same subscription, so even a retry after an API
        // crash between "workflow started" and "response stored" finds the first purchase.
        const key = req.header('idempotency-key');
        const subscriptionId = key ? derivedId('sub', `${body.account_id}:${key}`) : newId('sub');
        const purchase: PurchaseRequest = {
          subscriptionId,
          accountId: body.account_id,
          product: body.product,
          edition: body.edition,
          region: body.region,
          quantity: body.quantity,
          term: body.term ?? null,
          trial: body.trial,
          autoRenew: body.auto_renew,
          deductionDate: body.deduction_day ?? null,
          settings: { offsetMinutes: offset, graceDays: periods.graceDays, retentionDays: periods.retentionDays, policy: product.arrears_policy },
        };
        const workflowId = `subscription-${subscriptionId}`;
        let handle;
        try {
          handle = await deps.temporal.workflow.start('subscriptionWorkflow', {
            workflowId,
            taskQueue: deps.settings.taskQueue,
            args: [{ purchase }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            staticSummary: `${body.product}/${body.edition} × ${body.quantity} for ${body.account_id}`,
            staticDetails: `Subscription ${subscriptionId}: ${body.trial ? '30-day trial' : `${body.term?.count} ${body.term?.unit}(s)`} in ${body.region}, auto-renew ${body.auto_renew ? 'on' : 'off'}.`,
            typedSearchAttributes: [
              { key: BillingAccountId, value: body.account_id },
              { key: Product, value: body.product },
              { key: Edition, value: body.edition },
              { key: SubscriptionStatus, value: 'pending' },
            ],
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          handle = deps.temporal.workflow.getHandle(workflowId); // an earlier, closed attempt
        }
        const outcome = await handle.executeUpdate(purchaseOutcomeUpdate);
        if (!outcome.ok) {
          const code = outcome.code ?? 'PAYMENT.FAILED';
          throw new ApiError(statusForCode(code), code, outcome.message ?? 'payment failed; nothing was bought');
        }
        const view = await handle.query(getStateQuery);
        return { status: 201, body: viewToJson(view) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/subscriptions/{id}',
      summary: 'Subscription state, dates and forecast (next deduction attempts, grace and freeze ends)',
      access: 'owner',
      tags: ['subscriptions'],
      params: idParams,
      responses: { 200: { description: 'the subscription', schema: subscriptionSchema } },
      handler: async ({ params, principal }) => {
        const row = await loadOwned(principal, params.id);
        return { status: 200, body: await currentView(row) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/subscriptions',
      summary: 'List subscriptions from the read model',
      access: 'owner',
      tags: ['subscriptions'],
      query: listQuery,
      responses: { 200: { description: 'a page', schema: list(subscriptionSchema) } },
      handler: async ({ query, principal }) => {
        const accountId = principal?.scope === 'customer' ? principal.accountId : query.account_id;
        if (principal?.scope === 'customer' && query.account_id && query.account_id !== principal.accountId) {
          throw notFound('account', query.account_id);
        }
        // The cursor carries created_at to the microsecond: cut to milliseconds it would skip rows.
        const q = deps.db('subscriptions')
          .select('subscriptions.*', deps.db.raw(`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at`))
          .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
          .limit(query.limit + 1);
        if (accountId) q.where({ account_id: accountId });
        if (query.status) q.where({ status: query.status });
        const cursor = decodeCursor(query.cursor);
        if (query.cursor && !cursor) throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
        if (cursor) q.whereRaw('(created_at, id) < (?::timestamptz, ?)', [cursor[0], cursor[1]]);
        const rows = await q;
        const page = rows.slice(0, query.limit);
        const last = page[page.length - 1];
        return {
          status: 200,
          body: {
            data: page.map(rowToJson),
            next_cursor: rows.length > query.limit && last ? encodeCursor([last.cursor_at, last.id]) : null,
          },
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/subscriptions/{id}/renewals',
      summary: 'Manual renewal (R-S5) from active, grace or frozen; extends from the current expiry (R-S4)',
      access: 'owner',
      tags: ['subscriptions'],
      params: idParams,
      body: z.strictObject({ term: termSchema, auto_renew: z.boolean().optional() }),
      idempotent: true,
      responses: { 201: { description: 'renewed', schema: subscriptionSchema }, 402: { description: 'payment failed; nothing changed' }, 409: { description: 'released or unsubscribed' } },
      handler: async ({ params, body, principal, req }) => {
        const row = await loadOwned(principal, params.id);
        if (TERMINAL.has(row.status)) throw new ApiError(409, 'STATE.NOT_RENEWABLE', `a ${row.status} subscription cannot be renewed`);
        const requestKey = req.header('idempotency-key') ?? newId('req');
        const result = await viaUpdate(() => deps.temporal.workflow.getHandle(row.workflow_id).executeUpdate(renewUpdate, { args: [{ term: body.term, autoRenew: body.auto_renew, requestKey }] }));
        if (!result.ok) throw new ApiError(statusForCode(result.code ?? 'PAYMENT.FAILED'), result.code ?? 'PAYMENT.FAILED', result.message ?? 'payment failed');
        return { status: 201, body: viewToJson(result.view) };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/subscriptions/{id}/auto-renew',
      summary: 'Switch auto-renew on or off and choose the deduction date (R-S3)',
      access: 'owner',
      tags: ['subscriptions'],
      params: idParams,
      body: z.strictObject({ enabled: z.boolean(), deduction_date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a local date YYYY-MM-DD').nullable().optional() }),
      responses: { 200: { description: 'updated', schema: subscriptionSchema }, 409: { description: 'ended' } },
      handler: async ({ params, body, principal }) => {
        const row = await loadOwned(principal, params.id);
        if (TERMINAL.has(row.status)) throw new ApiError(409, 'STATE.ENDED', `auto-renew cannot change on a ${row.status} subscription`);
        const view = await viaUpdate(() => deps.temporal.workflow.getHandle(row.workflow_id).executeUpdate(setAutoRenewUpdate, { args: [{ enabled: body.enabled, deductionDate: body.deduction_date }] }));
        return { status: 200, body: viewToJson(view) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/subscriptions/{id}/unsubscribe',
      summary: 'Unsubscribe an active subscription; the unused part is refunded to cash (R-S11)',
      access: 'owner',
      tags: ['subscriptions'],
      params: idParams,
      idempotent: true,
      responses: { 200: { description: 'unsubscribed', schema: z.object({ subscription: subscriptionSchema, refund: z.string() }) }, 409: { description: 'not active' } },
      handler: async ({ params, principal, req }) => {
        const row = await loadOwned(principal, params.id);
        if (row.status !== 'active') throw new ApiError(409, 'STATE.NOT_ACTIVE', `only an active subscription can be unsubscribed (this one is ${row.status})`);
        const requestKey = req.header('idempotency-key') ?? newId('req');
        const result = await viaUpdate(() => deps.temporal.workflow.getHandle(row.workflow_id).executeUpdate(unsubscribeUpdate, { args: [{ requestKey }] }));
        return { status: 200, body: { subscription: viewToJson(result.view), refund: result.refund } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/subscriptions/{id}/upgrade',
      summary: 'Upgrade to a higher edition, paying the pro-rata difference (R-S12); no downgrades',
      access: 'owner',
      tags: ['subscriptions'],
      params: idParams,
      body: z.strictObject({ edition: z.string().min(1).max(64) }),
      idempotent: true,
      responses: { 200: { description: 'upgraded', schema: z.object({ subscription: subscriptionSchema, charged: z.string() }) }, 402: { description: 'payment failed' }, 409: { description: 'not active, or a bound server the new edition cannot protect (STATE.BOUND_SERVER_KIND, checked by the upgrade before it charges)' }, 422: { description: 'not an upgrade' } },
      handler: async ({ params, body, principal, req }) => {
        const row = await loadOwned(principal, params.id);
        if (!findEdition(deps.catalog, row.product, body.edition)) throw new ApiError(422, 'CATALOG.UNKNOWN_EDITION', `${row.product} has no edition ${body.edition}`);
        if (!canUpgrade(row.product, row.edition, body.edition, deps.catalog)) {
          throw new ApiError(422, 'SUBSCRIPTION.DOWNGRADE_REFUSED', `${row.product} cannot go from ${row.edition} to ${body.edition}: only upgrades to a higher edition are allowed`);
        }
        if (row.status !== 'active') throw new ApiError(409, 'STATE.NOT_ACTIVE', `only an active subscription can be upgraded (this one is ${row.status})`);
        const requestKey = req.header('idempotency-key') ?? newId('req');
        const result = await viaUpdate(() => deps.temporal.workflow.getHandle(row.workflow_id).executeUpdate(upgradeUpdate, { args: [{ edition: body.edition, requestKey }] }));
        if (!result.ok) throw new ApiError(statusForCode(result.code ?? 'PAYMENT.FAILED'), result.code ?? 'PAYMENT.FAILED', result.message ?? 'payment failed');
        return { status: 200, body: { subscription: viewToJson(result.view), charged: result.charged ?? '0.00' } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/subscriptions/{id}/terms',
      summary: 'The terms of the subscription, oldest first: kind (purchase, trial, renewal, manual_renewal), edition, start, end, paying order',
      access: 'owner',
      tags: ['subscriptions'],
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page of terms', schema: list(termRowSchema) } },
      handler: async ({ params, query, principal }) => {
        await loadOwned(principal, params.id);
        const cursor = decodeCursor(query.cursor);
        if (query.cursor !== undefined && (!cursor || cursor.length !== 1 || typeof cursor[0] !== 'number')) {
          throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
        }
        const rows = await deps.db('subscription_terms')
          .where({ subscription_id: params.id })
          .andWhere('term_number', '>', cursor ? (cursor[0] as number) : 0)
          .orderBy('term_number')
          .limit(query.limit + 1);
        const page = rows.slice(0, query.limit);
        const last = page[page.length - 1];
        return {
          status: 200,
          body: {
            data: page.map((r) => ({
              term_number: r.term_number,
              kind: r.kind,
              edition: r.edition,
              starts_at: toIsoLocal(new Date(r.starts_at).getTime(), offset),
              ends_at: toIsoLocal(new Date(r.ends_at).getTime(), offset),
              order_id: r.order_id,
            })),
            next_cursor: rows.length > query.limit && last ? encodeCursor([last.term_number]) : null,
          },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/subscriptions/{id}/timeline',
      summary: 'What happened and when: state changes, deduction attempts, payments, notifications',
      access: 'owner',
      tags: ['subscriptions'],
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'events, oldest first', schema: list(z.object({ at: z.string(), type: z.string(), status: z.string().nullable(), details: z.record(z.string(), z.unknown()) })) } },
      handler: async ({ params, query, principal }) => {
        await loadOwned(principal, params.id);
        // API.md: every list pages. Keyset on (at, how many items at that instant were shown).
        const cursor = decodeCursor(query.cursor);
        if (query.cursor !== undefined && (!cursor || cursor.length !== 2 || typeof cursor[0] !== 'number' || typeof cursor[1] !== 'number')) {
          throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
        }
        const [events, orders, notes] = await Promise.all([
          deps.db('subscription_events').where({ subscription_id: params.id }).orderBy('seq'),
          deps.db('orders').where({ subscription_id: params.id }).orderBy('created_at'),
          deps.db('notifications').where({ subscription_id: params.id, channel: 'email' }).orderBy('id'),
        ]);
        const items = [
          ...events.map((e) => ({ at: new Date(e.at).getTime(), type: e.type, status: e.status, details: e.details })),
          ...orders.map((o) => ({ at: new Date(o.created_at).getTime(), type: `payment.${o.status}`, status: null, details: { order_id: o.id, kind: o.kind, due: o.due, coupon: o.coupon, cash: o.cash, credit: o.credit, card: o.card } })),
          ...notes.map((n) => ({ at: new Date(n.created_at).getTime(), type: 'notification', status: null, details: { template: n.template, delivery: n.status } })),
        ].sort((a, b) => a.at - b.at);
        const [afterAt, seenAtThatInstant] = (cursor as [number, number] | null) ?? [-Infinity, 0];
        const rest = items.filter((i, k) => i.at > afterAt || (i.at === afterAt && k - items.findIndex((x) => x.at === afterAt) >= seenAtThatInstant));
        const page = rest.slice(0, query.limit);
        const last = page[page.length - 1];
        const next = rest.length > query.limit && last ? encodeCursor([last.at, page.filter((i) => i.at === last.at).length + (last.at === afterAt ? seenAtThatInstant : 0)]) : null;
        return { status: 200, body: { data: page.map((i) => ({ ...i, at: iso(i.at) as string })), next_cursor: next } };
      },
    }),
  ];
}

