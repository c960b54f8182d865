import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { addDays, addTerm, toIsoLocal } from '../../billing/calendar';
import { subscriptionForecast, validateDeductionDate, type SubscriptionStatus as BillingStatus } from '../../billing/renewal-schedule';
import { canChangeEdition, canRenewManually, canSwitchAutoRenew, canUnsubscribe, canUpgrade, TRIAL_DAYS } from '../../billing/subscription-rules';
import { findEdition, findProduct, offersMode } from '../../catalog/catalog';
import { derivedId, newId } from '../../common/ids';
import { BillingAccountId, Edition, Product, SubscriptionStatus } from '../../workflows/search-attributes';
import {
  commandFingerprint,
  getStateQuery,
  purchaseFingerprint,
  purchaseOutcomeUpdate,
  renewUpdate,
  setAutoRenewUpdate,
  unsubscribeUpdate,
  upgradeUpdate,
} from '../../workflows/subscription.messages';
import type { CommandOutcome, PurchaseOutcome, PurchaseRequest } from '../../workflows/subscription.types';
import { getAccount } from '../../store/accounts.store';
import { getSubscription, listSubscriptions as listSubscriptionRows, listSubscriptionTerms, subscriptionTimelineRows } from '../../store/subscriptions.store';
import type { ApiDeps } from '../app';
import { assertAccountAccess, Principal } from '../auth';
import { ApiError, notFound, statusForCode } from '../errors';
import { ownedSubscription } from '../ownership';
import { checkPromotion as checkPromotionIn } from '../promotions';
import { defineRoute, RouteContext, RouteDef } from '../http';
import { decodeCursor, encodeCursor, idParams, list, pageQuery, resourceId, termSchema } from '../schemas';
import { subscriptionSchema } from '../schemas/subscriptions';
import { unavailable, viaUpdate } from '../workflow-errors';

const TERMINAL = new Set(['released', 'unsubscribed']);
const localDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a local date YYYY-MM-DD');

export const termRowSchema = z.object({
  term_number: z.number().int(),
  kind: z.enum(['purchase', 'trial', 'renewal', 'manual_renewal']),
  edition: z.string(),
  starts_at: z.string(),
  ends_at: z.string(),
  order_id: z.string().nullable(),
}).openapi('SubscriptionTerm');


const purchaseBody = z.strictObject({
  account_id: z.string().min(1).max(64),
  product: z.string().min(1).max(64),
  edition: z.string().min(1).max(64),
  region: z.string().min(1).max(64),
  quantity: z.number().int().min(1).max(10_000),
  term: termSchema.optional(),
  auto_renew: z.boolean().default(false),
  deduction_day: localDate.optional(),
  trial: z.boolean().default(false),
  discount_id: resourceId.optional().openapi({ description: 'a promotional discount granted to the account, used for this order (R-P2); later orders of the subscription count it as a candidate' }),
}).superRefine((b, ctx) => {
  if (b.trial && b.term) ctx.addIssue({ code: 'custom', path: ['term'], message: 'a trial takes no term (it runs 30 days)' });
  if (!b.trial && !b.term) ctx.addIssue({ code: 'custom', path: ['term'], message: 'required unless trial is true' });
  if (b.trial && b.discount_id) ctx.addIssue({ code: 'custom', path: ['discount_id'], message: 'a free trial takes no discount' });
});
type PurchaseBody = z.infer<typeof purchaseBody>;

const renewBody = z.strictObject({
  term: termSchema,
  auto_renew: z.boolean().optional(),
  discount_id: resourceId.optional().openapi({ description: 'a promotional discount granted to the account, used for this order (R-P2)' }),
});

const listQuery = z.strictObject({
  account_id: z.string().min(1).max(64).optional(),
  status: subscriptionSchema.shape.status.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

/** The list's keyset cursor: created_at to the microsecond, and the id. Anything else is a 400. */
const listCursor = z.tuple([z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/), resourceId]);

type Row = Record<string, any>;
type Ctx<P = any, Q = any, B = any> = RouteContext<P, Q, B>;

export function subscriptionRoutes(deps: ApiDeps): RouteDef[] {
  const offset = deps.settings.offsetMinutes;
  const now = () => (deps.clock ? deps.clock.now().getTime() : Date.now());
  const iso = (ms: number | null) => (ms === null ? null : toIsoLocal(ms, offset));
  const ms = (d: Date | null) => (d ? new Date(d).getTime() : null);

  /**
   * The read model, as the API shows it. The forecast is the workflow's own function of the same
   * recorded facts (billing/renewal-schedule subscriptionForecast), so the list and the item
   * answer the same thing (issue #11).
   */
  function rowJson(r: Row, at: number) {
    const status = r.status as 'trial' | 'active' | 'grace' | 'frozen' | 'isolated' | 'released' | 'unsubscribed';
    const policy = r.arrears_policy ?? (r.product === 'workload-protection' ? 'isolate' : 'grace_then_freeze');
    const forecast = subscriptionForecast({
      status,
      expiresAt: ms(r.expires_at) as number,
      now: at,
      offsetMinutes: offset,
      autoRenew: r.auto_renew,
      deductionDate: r.deduction_date ?? null,
      periods: { graceDays: r.grace_days ?? 15, retentionDays: r.retention_days ?? 15 },
      policy,
      graceEndsAt: ms(r.grace_ends_at),
      frozenEndsAt: ms(r.frozen_ends_at),
      lastAttemptAt: ms(r.last_attempt_at),
    });
    return subscriptionJson({
      id: r.id, accountId: r.account_id, product: r.product, edition: r.edition, region: r.region, quantity: r.quantity, status, trial: r.trial,
      startedAt: ms(r.started_at) as number, expiresAt: ms(r.expires_at) as number, autoRenew: r.auto_renew, deductionDate: r.deduction_date ?? null,
      renewalPeriod: { unit: r.renewal_unit, count: r.renewal_count }, termNumber: r.term_number, graceEndsAt: ms(r.grace_ends_at), frozenEndsAt: ms(r.frozen_ends_at), forecast,
    });
  }

  function subscriptionJson(v: {
    id: string; accountId: string; product: string; edition: string; region: string; quantity: number; status: string; trial: boolean; startedAt: number; expiresAt: number;
    autoRenew: boolean; deductionDate: string | null; renewalPeriod: { unit: 'month' | 'year'; count: number }; termNumber: number; graceEndsAt: number | null; frozenEndsAt: number | null;
    forecast: { nextDeductionAt: number | null; deductionAttempts: number[]; graceEndsAt: number | null; frozenEndsAt: number | null };
  }) {
    return {
      id: v.id,
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

  const loadOwned = (principal: Principal | null, id: string): Promise<Row> => ownedSubscription(deps.db, principal, id) as Promise<Row>;

  /** R-C1…C3 from the catalog: the product, edition, region and mode must exist and be sold. */
  function catalogChoice(body: PurchaseBody) {
    const product = findProduct(deps.catalog, body.product);
    if (!product) throw new ApiError(422, 'CATALOG.UNKNOWN_PRODUCT', `no product ${body.product}`, { products: deps.catalog.products.map((p) => p.product) });
    const edition = findEdition(deps.catalog, body.product, body.edition);
    if (!edition) throw new ApiError(422, 'CATALOG.UNKNOWN_EDITION', `${body.product} has no edition ${body.edition}`, { editions: product.editions.map((e) => e.edition) });
    if (!deps.catalog.regions.includes(body.region)) throw new ApiError(422, 'CATALOG.UNKNOWN_REGION', `no region ${body.region}`, { regions: deps.catalog.regions });
    if (!offersMode(edition, 'yearly_monthly')) throw new ApiError(422, 'CATALOG.MODE_NOT_OFFERED', `${body.product}/${body.edition} is not sold yearly/monthly`);
    if (body.trial && !edition.trial_days) throw new ApiError(422, 'SUBSCRIPTION.NO_TRIAL', `${body.product}/${body.edition} has no free trial`);
    return product;
  }

  /** R-S3: a chosen deduction date is a real date, not past, before expiry; checked before money moves. */
  function checkDeductionDay(date: string | undefined, expiresAt: number, at: number): void {
    if (date === undefined) return;
    const problem = validateDeductionDate(date, expiresAt, at, offset);
    if (problem) throw new ApiError(400, 'VALIDATION.DEDUCTION_DATE', problem, { field: 'deduction_day' });
  }

  const checkPromotion = (accountId: string, discountId: string | undefined, scope: string, at: number) => checkPromotionIn(deps.db, accountId, discountId, scope, new Date(at));

  /**
   * Starts the subscription's workflow and learns how its purchase went, in one call
   * (update-with-start: the outcome update is in the workflow's first task, so a refused purchase
   * can never close the run before the API hears of it, issue #11 defect 5). The id comes from the
   * Idempotency-Key, and a closed workflow's id is never reused (REJECT_DUPLICATE, defect 8): a
   * retry after it closed is answered from its final state.
   */
  async function startPurchase(purchase: PurchaseRequest): Promise<PurchaseOutcome> {
    const workflowId = `subscription-${purchase.subscriptionId}`;
    const fingerprint = purchaseFingerprint(purchase);
    const startWorkflowOperation = new WithStartWorkflowOperation('subscriptionWorkflow', {
      workflowId,
      taskQueue: deps.settings.taskQueue,
      args: [{ purchase }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      staticSummary: `${purchase.product}/${purchase.edition} × ${purchase.quantity} for ${purchase.accountId}`,
      staticDetails: `Subscription ${purchase.subscriptionId}: ${purchase.trial ? '30-day trial' : `${purchase.term?.count} ${purchase.term?.unit}(s)`} in ${purchase.region}, auto-renew ${purchase.autoRenew ? 'on' : 'off'}.`,
      typedSearchAttributes: [
        { key: BillingAccountId, value: purchase.accountId },
        { key: Product, value: purchase.product },
        { key: Edition, value: purchase.edition },
        { key: SubscriptionStatus, value: 'pending' },
      ],
    });
    try {
      return await viaUpdate(deps.temporal, () => deps.temporal.workflow.executeUpdateWithStart(purchaseOutcomeUpdate, { args: [{ fingerprint }], startWorkflowOperation }));
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const view = await viaUpdate(deps.temporal, () => deps.temporal.workflow.getHandle(workflowId).query(getStateQuery));
      if (view.purchaseFingerprint && view.purchaseFingerprint !== fingerprint) throw new ApiError(422, 'IDEMPOTENCY.MISMATCH', 'this Idempotency-Key was used with a different purchase');
      return view.purchase ?? { ok: false, orderId: null, code: 'PAYMENT.FAILED', message: 'the purchase did not complete; nothing was bought' };
    }
  }

  /**
   * A check that depends on the time (a deduction date now past, a discount now expired) must not
   * refuse the replay of a request that already ran: the first outcome stands (issue #11, found
   * by the money model). So a refusal first asks whether the key's workflow exists.
   */
  async function unlessStarted(workflowId: string | null, check: () => Promise<void> | void): Promise<void> {
    try {
      await check();
    } catch (err) {
      if (workflowId === null) throw err;
      const exists = await deps.temporal.workflow.getHandle(workflowId).describe().then(() => true, () => false);
      if (!exists) throw err;
    }
  }

  async function purchase({ body, principal, req }: Ctx<unknown, unknown, PurchaseBody>) {
    assertAccountAccess(principal, body.account_id);
    const account = await getAccount(deps.db, body.account_id);
    if (!account) throw notFound('account', body.account_id);
    const product = catalogChoice(body);
    // The same Idempotency-Key names the same subscription (whichever key scope sends it), so a
    // retry after an API crash between "workflow started" and "response stored" finds the first.
    const key = req.header('idempotency-key');
    const subscriptionId = key ? derivedId('sub', `${body.account_id}:${key}`) : newId('sub');
    const at = now();
    await unlessStarted(key ? `subscription-${subscriptionId}` : null, async () => {
      checkDeductionDay(body.deduction_day, body.trial ? addDays(at, TRIAL_DAYS) : addTerm(at, body.term!, offset), at);
      await checkPromotion(body.account_id, body.discount_id, `${body.product}/${body.edition}`, at);
    });
    const periods = deps.settings.arrears[account.customer_level];
    const outcome = await startPurchase({
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
      discountId: body.discount_id ?? null,
      settings: { offsetMinutes: offset, graceDays: periods.graceDays, retentionDays: periods.retentionDays, policy: product.arrears_policy },
    });
    if (!outcome.ok) {
      const code = outcome.code ?? 'PAYMENT.FAILED';
      throw new ApiError(statusForCode(code), code, outcome.message ?? 'payment failed; nothing was bought');
    }
    return { status: 201, body: rowJson((await getSubscription(deps.db, subscriptionId)) as Row, now()) };
  }

  /**
   * A money-moving command on one subscription (renewal, upgrade, unsubscribe). The workflow
   * answers a key once (issue #11, defect 2); when the subscription's state now refuses the
   * command, or its workflow has closed, the API reads the key's first outcome from the workflow's
   * state, so a retry still gets it.
   */
  async function command<T>(row: Row, kind: 'renew' | 'upgrade' | 'unsubscribe', requestKey: string, fingerprint: string, refusal: (r: Row) => ApiError | null, run: () => Promise<T>, replayed: (o: CommandOutcome) => T): Promise<T> {
    const refused = refusal(row);
    // Refused as the subscription is now (or closed): the key may still be one it answered before.
    if (refused || TERMINAL.has(row.status)) {
      const view = await deps.temporal.workflow.getHandle(row.workflow_id).query(getStateQuery).catch((err) => { throw unavailable(err) ?? err; });
      const known = view.commands?.[`${kind}:${requestKey}`];
      if (known && known.fingerprint !== fingerprint) throw new ApiError(422, 'IDEMPOTENCY.MISMATCH', 'this Idempotency-Key was used with a different request');
      if (known) return replayed(known.outcome);
    }
    if (refused) throw refused;
    try {
      return await viaUpdate(deps.temporal, run);
    } catch (err) {
      // Answer as the ended subscription does: the key's first outcome, or its refusal. Found by
      // the money model's two-commands-at-once step on the system tier, where it answered 500.
      return command(await endedUnder(row, err), kind, requestKey, fingerprint, refusal, run, replayed);
    }
  }

  /**
   * The row as it is now, when an update failed because its run ended (an unsubscribe or a
   * release closed it) between our read of the row and the update reaching it: the server aborts
   * such an update. Any other failure is thrown again.
   */
  async function endedUnder(row: Row, err: unknown): Promise<Row> {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const now = (await getSubscription(deps.db, row.id)) as Row | undefined;
    if (!now || !TERMINAL.has(now.status)) throw err;
    return now;
  }

  // The rules' status checks (R-S5/R-S9, R-S11, R-S12) on a read-model row.
  const statusOf = (r: Row) => r.status as BillingStatus;

  async function renew({ params, body, principal, req }: Ctx<{ id: string }, unknown, z.infer<typeof renewBody>>) {
    const row = await loadOwned(principal, params.id);
    const requestKey = req.header('idempotency-key') ?? newId('req');
    const refusal = (r: Row) => (canRenewManually(statusOf(r)) ? null : new ApiError(409, 'STATE.NOT_RENEWABLE', `a ${r.status} subscription cannot be renewed`));
    const refused = refusal(row);
    const args = { term: body.term, autoRenew: body.auto_renew, discountId: body.discount_id ?? null, requestKey };
    if (!refused) {
      // A discount that has expired since the first request with this key does not refuse its replay.
      await checkPromotion(row.account_id, body.discount_id, `${row.product}/${row.edition}`, now()).catch(async (err) => {
        const view = await deps.temporal.workflow.getHandle(row.workflow_id).query(getStateQuery).catch(() => null);
        if (!view?.commands?.[`renew:${requestKey}`]) throw err;
      });
    }
    const result = await command(row, 'renew', requestKey, commandFingerprint.renew(args), refusal,
      () => deps.temporal.workflow.getHandle(row.workflow_id).executeUpdate(renewUpdate, { args: [args] }).then((r) => ({ ok: r.ok, code: r.code, message: r.message })),
      (o) => ({ ok: o.ok, code: o.code, message: o.message }));
    if (!result.ok) throw new ApiError(statusForCode(result.code ?? 'PAYMENT.FAILED'), result.code ?? 'PAYMENT.FAILED', result.message ?? 'payment failed');
    return { status: 201, body: rowJson(await loadOwned(principal, params.id), now()) };
  }

  async function setAutoRenew({ params, body, principal }: Ctx<{ id: string }, unknown, { enabled: boolean; deduction_date?: string | null }>) {
    const row = await loadOwned(principal, params.id);
    const ended = (r: Row) => new ApiError(409, 'STATE.ENDED', `auto-renew cannot change on a ${r.status} subscription`);
    if (!canSwitchAutoRenew(statusOf(row))) throw ended(row);
    await viaUpdate(deps.temporal, () => deps.temporal.workflow.getHandle(row.workflow_id).executeUpdate(setAutoRenewUpdate, { args: [{ enabled: body.enabled, deductionDate: body.deduction_date }] }))
      .catch(async (err) => { throw ended(await endedUnder(row, err)); });
    return { status: 200, body: rowJson(await loadOwned(principal, params.id), now()) };
  }

  async function unsubscribe({ params, principal, req }: Ctx<{ id: string }>) {
    const row = await loadOwned(principal, params.id);
    const requestKey = req.header('idempotency-key') ?? newId('req');
    const refusal = (r: Row) => (canUnsubscribe(statusOf(r)) ? null : new ApiError(409, 'STATE.NOT_ACTIVE', `only an active subscription can be unsubscribed (this one is ${r.status})`));
    const refund = await command(row, 'unsubscribe', requestKey, commandFingerprint.unsubscribe(), refusal,
      () => deps.temporal.workflow.getHandle(row.workflow_id).executeUpdate(unsubscribeUpdate, { args: [{ requestKey }] }).then((r) => r.refund),
      (o) => o.refund ?? '0.00');
    return { status: 200, body: { subscription: rowJson(await loadOwned(principal, params.id), now()), refund } };
  }

  async function upgrade({ params, body, principal, req }: Ctx<{ id: string }, unknown, { edition: string }>) {
    const row = await loadOwned(principal, params.id);
    if (!findEdition(deps.catalog, row.product, body.edition)) throw new ApiError(422, 'CATALOG.UNKNOWN_EDITION', `${row.product} has no edition ${body.edition}`);
    const requestKey = req.header('idempotency-key') ?? newId('req');
    const fingerprint = commandFingerprint.upgrade(body);
    const refusal = (r: Row) => (!canChangeEdition(statusOf(r))
      ? new ApiError(409, 'STATE.NOT_ACTIVE', `only an active subscription can be upgraded (this one is ${r.status})`)
      : !canUpgrade(r.product, r.edition, body.edition, deps.catalog) && r.edition !== body.edition
        ? new ApiError(422, 'SUBSCRIPTION.DOWNGRADE_REFUSED', `${r.product} cannot go from ${r.edition} to ${body.edition}: only upgrades to a higher edition are allowed`)
        : null);
    const result = await command(row, 'upgrade', requestKey, fingerprint, refusal,
      () => deps.temporal.workflow.getHandle(row.workflow_id).executeUpdate(upgradeUpdate, { args: [{ edition: body.edition, requestKey }] }).then((r) => ({ ok: r.ok, code: r.code, message: r.message, amount: r.charged })),
      (o) => ({ ok: o.ok, code: o.code, message: o.message, amount: o.amount }));
    if (!result.ok) throw new ApiError(statusForCode(result.code ?? 'PAYMENT.FAILED'), result.code ?? 'PAYMENT.FAILED', result.message ?? 'payment failed');
    return { status: 200, body: { subscription: rowJson(await loadOwned(principal, params.id), now()), charged: result.amount ?? '0.00' } };
  }

  async function listSubscriptions({ query, principal }: Ctx<unknown, z.infer<typeof listQuery>>) {
    const accountId = principal?.scope === 'customer' ? principal.accountId : query.account_id;
    if (principal?.scope === 'customer' && query.account_id && query.account_id !== principal.accountId) throw notFound('account', query.account_id);
    const cursor = decodeCursor(query.cursor);
    const parsed = cursor ? listCursor.safeParse(cursor) : null;
    if (query.cursor && !parsed?.success) throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
    // The cursor carries created_at to the microsecond: cut to milliseconds it would skip rows.
    const rows = await listSubscriptionRows(deps.db, { accountId, status: query.status, limit: query.limit + 1, before: parsed?.success ? parsed.data : null });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const at = now();
    return { status: 200, body: { data: page.map((r) => rowJson(r, at)), next_cursor: rows.length > query.limit && last ? encodeCursor([last.cursor_at, last.id]) : null } };
  }

  async function listTerms({ params, query, principal }: Ctx<{ id: string }, z.infer<typeof pageQuery>>) {
    await loadOwned(principal, params.id);
    const cursor = decodeCursor(query.cursor);
    if (query.cursor !== undefined && (!cursor || cursor.length !== 1 || !Number.isSafeInteger(cursor[0]))) throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
    const rows = await listSubscriptionTerms(deps.db, params.id, { afterTerm: cursor ? (cursor[0] as number) : 0, limit: query.limit + 1 });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const data = page.map((r) => ({ term_number: r.term_number, kind: r.kind, edition: r.edition, starts_at: iso(ms(r.starts_at)), ends_at: iso(ms(r.ends_at)), order_id: r.order_id }));
    return { status: 200, body: { data, next_cursor: rows.length > query.limit && last ? encodeCursor([last.term_number]) : null } };
  }

  async function timeline({ params, query, principal }: Ctx<{ id: string }, z.infer<typeof pageQuery>>) {
    await loadOwned(principal, params.id);
    // API.md: every list pages. Keyset on (at, how many items at that instant were shown).
    const cursor = decodeCursor(query.cursor);
    if (query.cursor !== undefined && (!cursor || cursor.length !== 2 || !Number.isSafeInteger(cursor[0]) || !Number.isSafeInteger(cursor[1]))) {
      throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
    }
    const { events, orders, notes } = await subscriptionTimelineRows(deps.db, params.id);
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
  }

  const tags = ['subscriptions'];
  return [
    defineRoute({
      method: 'post', path: '/v1/subscriptions', access: 'owner', tags, body: purchaseBody, idempotent: true,
      summary: 'Buy a subscription (R-S1) or start the free trial (R-S2); 402 with nothing created when payment fails',
      responses: {
        201: { description: 'bought', schema: subscriptionSchema },
        400: { description: 'bad input, e.g. VALIDATION.DEDUCTION_DATE (an impossible or past date); nothing charged' },
        402: { description: 'payment failed; nothing was created' },
        422: { description: 'refused by a rule (catalog, trial already used or not eligible, a discount that does not apply)' },
        503: { description: 'SERVICE.UNAVAILABLE: the workflow service did not answer in time; retry with the same Idempotency-Key' },
      },
      handler: purchase,
    }),
    defineRoute({
      method: 'get', path: '/v1/subscriptions/{id}', access: 'owner', tags, params: idParams,
      summary: 'Subscription state, dates and forecast (next deduction attempts, grace and freeze ends)',
      responses: { 200: { description: 'the subscription', schema: subscriptionSchema } },
      handler: async ({ params, principal }) => ({ status: 200, body: rowJson(await loadOwned(principal, params.id), now()) }),
    }),
    defineRoute({
      method: 'get', path: '/v1/subscriptions', access: 'owner', tags, query: listQuery,
      summary: 'List subscriptions from the read model, each with the same forecast as GET /v1/subscriptions/{id}',
      responses: { 200: { description: 'a page', schema: list(subscriptionSchema) } },
      handler: listSubscriptions,
    }),
    defineRoute({
      method: 'post', path: '/v1/subscriptions/{id}/renewals', access: 'owner', tags, params: idParams, body: renewBody, idempotent: true,
      summary: 'Manual renewal (R-S5) from active, grace or frozen; extends from the current expiry (R-S4). One renewal per Idempotency-Key, whichever key scope sends it',
      responses: { 201: { description: 'renewed', schema: subscriptionSchema }, 402: { description: 'payment failed; nothing changed' }, 409: { description: 'released or unsubscribed' } },
      handler: renew,
    }),
    defineRoute({
      method: 'put', path: '/v1/subscriptions/{id}/auto-renew', access: 'owner', tags, params: idParams,
      body: z.strictObject({ enabled: z.boolean(), deduction_date: localDate.nullable().optional() }),
      summary: 'Switch auto-renew on or off and choose the deduction date (R-S3)',
      responses: { 200: { description: 'updated', schema: subscriptionSchema }, 409: { description: 'ended' } },
      handler: setAutoRenew,
    }),
    defineRoute({
      method: 'post', path: '/v1/subscriptions/{id}/unsubscribe', access: 'owner', tags, params: idParams, idempotent: true,
      summary: 'Unsubscribe an active subscription; the unused part of every paid term and upgrade is refunded to cash, less earlier refunds (R-S11)',
      responses: { 200: { description: 'unsubscribed', schema: z.object({ subscription: subscriptionSchema, refund: z.string() }) }, 409: { description: 'not active' } },
      handler: unsubscribe,
    }),
    defineRoute({
      method: 'post', path: '/v1/subscriptions/{id}/upgrade', access: 'owner', tags, params: idParams, body: z.strictObject({ edition: z.string().min(1).max(64) }), idempotent: true,
      summary: 'Upgrade to a higher edition, paying the pro-rata difference on every paid term still ahead (R-S12); no downgrades',
      responses: { 200: { description: 'upgraded', schema: z.object({ subscription: subscriptionSchema, charged: z.string() }) }, 402: { description: 'payment failed' }, 409: { description: 'not active, or a bound server the new edition cannot protect (STATE.BOUND_SERVER_KIND, checked by the upgrade before it charges)' }, 422: { description: 'not an upgrade' } },
      handler: upgrade,
    }),
    defineRoute({
      method: 'get', path: '/v1/subscriptions/{id}/terms', access: 'owner', tags, params: idParams, query: pageQuery,
      summary: 'The terms of the subscription, oldest first: kind (purchase, trial, renewal, manual_renewal), edition, start, end, paying order',
      responses: { 200: { description: 'a page of terms', schema: list(termRowSchema) } },
      handler: listTerms,
    }),
    defineRoute({
      method: 'get', path: '/v1/subscriptions/{id}/timeline', access: 'owner', tags, params: idParams, query: pageQuery,
      summary: 'What happened and when: state changes, deduction attempts, payments, notifications',
      responses: { 200: { description: 'events, oldest first', schema: list(z.object({ at: z.string(), type: z.string(), status: z.string().nullable(), details: z.record(z.string(), z.unknown()) })) } },
      handler: timeline,
    }),
  ];
}
