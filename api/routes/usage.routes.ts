import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import Decimal from 'decimal.js';
import { z } from 'zod';
import {
  accountWorkflowId,
  disableProtection,
  enableProtection,
  insertUsageRecords,
  WakeAccounts,
  IngestOutcome,
  markWorkflowStarted,
  NewUsageRecord,
  ProtectionConflictError,
  ProtectionRow,
  withRemaining,
  getProtection,
  getUsageAccount,
  listUsagePackages,
  packagesByIds,
  startedUsageAccounts,
} from '../../store/usage.store';
import { accountLevels, getAccount } from '../../store/accounts.store';
import { getBillWithLines, listBills } from '../../store/settlement.store';
import { getAccountServer, protectingBinding } from '../../store/servers.store';
import { toIsoLocal } from '../../billing/calendar';
import { isDecimalString } from '../../billing/money';
import { drawUnitsPerContentUnit, isUsageQuantityTooLarge, MAX_PACKAGES_PER_PURCHASE, MAX_USAGE_RECORD_QUANTITY, nextResetAt, packagePeriods, ResetPolicy, usageRecordProblem } from '../../billing/usage';
import { findEdition, findProduct, offersMode, packageMetrics } from '../../catalog/catalog';
import { derivedId, newId } from '../../common/ids';
import { ArrearsStatus, BillingAccountId } from '../../workflows/search-attributes';
import { accountWakeSignal, buyPackagesUpdate, getAccountStateQuery } from '../../workflows/account.messages';
import type { ApiDeps } from '../app';
import { assertAccountAccess, Principal } from '../auth';
import { ApiError, notFound, statusForCode } from '../errors';
import { viaUpdate } from '../workflow-errors';
import { defineRoute, RouteDef } from '../http';
import { decodeCursor, encodeCursor, idParams, list, termSchema } from '../schemas';

// SPEC §7 over HTTP: pay-per-use protection on/off (R-U1), usage records (R-U3), usage packages
// (R-U4), hourly bills (R-U2) and the account's arrears state (R-U5). Usage facts are written
// straight to Postgres (R-U3: never a workflow message per record); the account's workflow
// (`account-<id>`) is started the first time it is needed and settles them every hour.

/** R-U3: the most records one request may carry (also stated in the OpenAPI description). */
export const USAGE_BATCH_LIMIT = 1000;

const accountId = z.string().min(1).max(64);
// Bounded to the columns' numeric(20,6): at most 14 integer digits (a longer one would be a database error).
const decimal6 = (what: string) => z.string().max(21).refine((s) => isDecimalString(s, 6) && s.split('.')[0].length <= 14, `${what} must be a decimal string with at most 14 digits before the point and 6 after, e.g. "3" or "1.5"`);
const positive6 = (what: string) => decimal6(what).refine((s) => !/^0(\.0*)?$/.test(s), `${what} must be greater than zero`);
const isoInstant = z.string().datetime({ offset: true });

const enableBody = z.strictObject({
  account_id: accountId,
  server_id: z.string().min(1).max(64),
  product: z.string().min(1).max(64),
  edition: z.string().min(1).max(64),
  quantity: z.number().int().min(1).max(10_000),
});

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

/** R-U3: one usage record; validated on its own so one bad record never refuses its batch. */
export const usageRecordSchema = z.strictObject({
  id: z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
  account_id: accountId,
  resource_id: z.string().min(1).max(128),
  metric: z.string().min(1).max(64),
  quantity: decimal6('quantity'),
  period_start: isoInstant,
  period_end: isoInstant,
}).openapi('UsageRecord');

const recordsBody = z.strictObject({
  records: z.array(z.unknown()).min(1).max(USAGE_BATCH_LIMIT).openapi({
    description: `At most ${USAGE_BATCH_LIMIT} usage records (and 1 MB) per request. Each is a UsageRecord `
      + '{ id, account_id, resource_id, metric, quantity, period_start, period_end } and is validated on its own: '
      + 'the answer has one result per record, in order. Ingestion is idempotent on (account_id, id). A record whose '
      + 'period ended more than 2 hours ago is refused (USAGE.TOO_LATE); one up to 2 hours late is billed in the next settlement.',
    example: [{ id: 'scan-000001', account_id: 'acc_7k3m9q2r8t4v6w1x5y0z', resource_id: 'img_web-frontend', metric: 'image_scans', quantity: '1', period_start: '2026-03-20T10:15:00+08:00', period_end: '2026-03-20T10:15:00+08:00' }],
  }),
});

const recordResult = z.object({
  id: z.string().nullable(),
  status: z.enum(['accepted', 'duplicate', 'rejected']),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

const packageBody = z.strictObject({
  account_id: accountId,
  metric: z.string().min(1).max(64).openapi({ description: "a metered service's metric (image_scans) or an edition's pay-per-use quota-hours: quota_hours.<product>.<edition>" }),
  content: positive6('content'),
  count: z.number().int().min(1).max(MAX_PACKAGES_PER_PURCHASE),
  term: termSchema,
  reset: z.enum(['none', 'monthly', 'yearly']),
}).superRefine((b, ctx) => {
  try {
    packagePeriods(b.term, b.reset);
  } catch (e) {
    ctx.addIssue({ code: 'custom', path: ['reset'], message: (e as Error).message });
  }
});

export const usagePackageSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  purchase_id: z.string(),
  metric: z.string(),
  content: z.string(),
  remaining: z.string(),
  reset: z.enum(['none', 'monthly', 'yearly']),
  term: termSchema,
  purchased_at: z.string(),
  expires_at: z.string(),
  next_reset_at: z.string().nullable(),
  status: z.enum(['active', 'expired']),
}).openapi('UsagePackage');

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

const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

const PROBLEM_MESSAGES = {
  'USAGE.TOO_LATE': 'the record\'s period ended more than 2 hours ago; late usage is accepted for 2 hours only (R-U3)',
  'USAGE.IN_FUTURE': 'the record\'s period ends in the future; report usage once it has happened',
} as const;

/** "1.500000" → "1.5": quantities as the client would write them (never through a float). */
const trimDecimal = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
const sixPlaces = (s: string) => new Decimal(s).toFixed(6);

export function usageRoutes(deps: ApiDeps): RouteDef[] {
  const offset = deps.settings.offsetMinutes;
  const local = (v: Date | number | null) => (v === null ? null : toIsoLocal(new Date(v).getTime(), offset));
  /** The API's clock: the host's, or the one the deps carry (tests follow the time-skipping server). */
  const now = () => (deps.clock ? deps.clock.now().getTime() : Date.now());
  const metricPrices = new Map(deps.catalog.services.map((s) => [s.metric, s.unit_price]));
  const packageMetricNames = [...packageMetrics(deps.catalog).keys()]; // R-U4: services and quota-hours

  async function ownedAccount(principal: Principal | null, id: string) {
    assertAccountAccess(principal, id);
    const row = await getAccount(deps.db, id);
    if (!row) throw notFound('account', id);
    return row;
  }

  /**
   * R-I2: the account's workflow is started the first time pay-per-use needs it, with an explicit
   * id-conflict policy (a running one is reused). The usage row remembers it, so later requests
   * make no call to Temporal.
   */
  async function ensureAccountWorkflow(account: { id: string; customer_level: 'standard' | 'key_account' }, at: number): Promise<void> {
    const row = await getUsageAccount(deps.db, account.id);
    if (row?.workflow_started_at) return;
    const periods = deps.settings.arrears[account.customer_level];
    try {
      await deps.temporal.workflow.start('accountWorkflow', {
        workflowId: accountWorkflowId(account.id),
        taskQueue: deps.settings.taskQueue,
        args: [{ start: { accountId: account.id, since: at, settings: { offsetMinutes: offset, graceDays: periods.graceDays, retentionDays: periods.retentionDays } } }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        typedSearchAttributes: [
          { key: BillingAccountId, value: account.id },
          { key: ArrearsStatus, value: 'none' },
        ],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    await markWorkflowStarted(deps.db, account.id, new Date(at));
  }

  /**
   * R-U2 at rest: wakes the workflows of accounts that had nothing to settle, one signal per
   * account (never one per record, R-U3). Called before the fact commits (leaveRest); a workflow
   * that no longer runs has nothing to wake.
   */
  const wake: WakeAccounts = async (accountIds) => {
    await Promise.all(accountIds.map(async (id) => {
      try {
        await deps.temporal.workflow.getHandle(accountWorkflowId(id)).signal(accountWakeSignal);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }));
  };

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
      enabled_at: local(p.enabled_at) as string,
      disabled_at: local(p.disabled_at),
    };
  }

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

  function packageJson(p: any, at: number) {
    const purchasedAt = new Date(p.purchased_at).getTime();
    const expiresAt = new Date(p.expires_at).getTime();
    const expired = expiresAt <= at;
    const nextReset = nextResetAt(purchasedAt, p.reset as ResetPolicy, at, offset);
    return {
      id: p.id,
      account_id: p.account_id,
      purchase_id: p.purchase_id,
      metric: p.metric,
      content: trimDecimal(p.content),
      // R-U4: drawn in draw units (quota-seconds for quota-hours); shown in the content's unit.
      remaining: expired ? '0' : trimDecimal(new Decimal(p.remaining).div(drawUnitsPerContentUnit(p.metric)).toFixed(6)),
      reset: p.reset,
      term: { unit: p.term_unit, count: p.term_count },
      purchased_at: local(purchasedAt) as string,
      expires_at: local(expiresAt) as string,
      next_reset_at: nextReset !== null && nextReset < expiresAt && !expired ? local(nextReset) : null,
      status: expired ? 'expired' as const : 'active' as const,
    };
  }

  async function page<T>(read: (p: { beforeSeq: number | null; limit: number }) => Promise<any[]>, query: { limit: number; cursor?: string }, map: (rows: any[]) => Promise<T[]> | T[]) {
    const cursor = decodeCursor(query.cursor);
    if (query.cursor && !cursor) throw new ApiError(400, 'VALIDATION.CURSOR', 'cursor is not one this API issued');
    const rows = await read({ beforeSeq: cursor ? Number(cursor[0]) : null, limit: query.limit + 1 });
    const kept = rows.slice(0, query.limit);
    return { data: await map(kept), next_cursor: rows.length > query.limit ? encodeCursor([kept[kept.length - 1].seq]) : null };
  }

  async function ownedProtection(principal: Principal | null, id: string): Promise<ProtectionRow> {
    const row = await getProtection(deps.db, id);
    if (!row) throw notFound('pay-per-use protection', id);
    assertAccountAccess(principal, row.account_id, 'pay-per-use protection', id);
    return row;
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/pay-per-use',
      summary: 'Turn on pay-per-use protection for a server (R-U1): billed per second while on and the server runs, settled hourly',
      access: 'owner',
      tags: ['pay-per-use'],
      body: enableBody,
      idempotent: true,
      responses: {
        201: { description: 'enabled', schema: protectionSchema },
        409: { description: 'the server already has pay-per-use or a bound quota, or the account is in arrears' },
        422: { description: 'the edition is not offered pay-per-use, or does not fit the server kind' },
      },
      handler: async ({ body, principal }) => {
        const account = await ownedAccount(principal, body.account_id);
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
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/pay-per-use/{id}',
      summary: 'A pay-per-use protection',
      access: 'owner',
      tags: ['pay-per-use'],
      params: idParams,
      responses: { 200: { description: 'the protection', schema: protectionSchema } },
      handler: async ({ params, principal }) => ({ status: 200, body: protectionJson(await ownedProtection(principal, params.id)) }),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/pay-per-use/{id}',
      summary: 'Turn pay-per-use protection off (R-U1): billing stops at this second; turning it off again changes nothing',
      access: 'owner',
      tags: ['pay-per-use'],
      params: idParams,
      responses: { 200: { description: 'disabled', schema: protectionSchema } },
      handler: async ({ params, principal }) => {
        await ownedProtection(principal, params.id);
        const row = await disableProtection(deps.db, params.id, new Date(now()));
        if (!row) throw notFound('pay-per-use protection', params.id);
        return { status: 200, body: protectionJson(row) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/usage-records',
      summary: `Report metered usage (R-U3, R-C4): a batch of at most ${USAGE_BATCH_LIMIT} records, each accepted, duplicate or rejected on its own`,
      access: 'owner',
      tags: ['pay-per-use'],
      body: recordsBody,
      idempotent: true,
      responses: { 200: { description: 'one result per record, in order', schema: z.object({ results: z.array(recordResult) }) } },
      handler: async ({ body, principal }) => {
        const at = now();
        const results: z.infer<typeof recordResult>[] = new Array(body.records.length);
        const valid: NewUsageRecord[] = [];
        const where: number[] = [];
        const reject = (i: number, id: unknown, code: string, message: string) => {
          results[i] = { id: typeof id === 'string' ? id : null, status: 'rejected', error: { code, message } };
        };
        body.records.forEach((raw, i) => {
          const parsed = usageRecordSchema.safeParse(raw);
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            reject(i, (raw as { id?: unknown } | null)?.id, 'VALIDATION.RECORD', `${['records', i, ...issue.path.map(String)].join('.')}: ${issue.message}`);
            return;
          }
          const r = parsed.data;
          if (principal?.scope !== 'operator' && principal?.accountId !== r.account_id) return reject(i, r.id, 'NOT_FOUND', `account ${r.account_id} does not exist`);
          if (isUsageQuantityTooLarge(r.quantity)) return reject(i, r.id, 'USAGE.QUANTITY_TOO_LARGE', `quantity ${r.quantity} is more than one record may carry (${MAX_USAGE_RECORD_QUANTITY}); report it as several records`);
          if (!metricPrices.has(r.metric)) return reject(i, r.id, 'USAGE.UNKNOWN_METRIC', `no metered service has the metric ${r.metric} (known: ${[...metricPrices.keys()].join(', ')})`);
          const start = Date.parse(r.period_start);
          const end = Date.parse(r.period_end);
          const problem = usageRecordProblem(start, end, at);
          if (problem === 'USAGE.PERIOD_ORDER') return reject(i, r.id, problem, 'period_end is before period_start');
          // Refused by time unless it was accepted before: a retried record answers `duplicate`.
          const refusal = problem === null ? undefined : { code: problem, message: PROBLEM_MESSAGES[problem] };
          valid.push({ id: r.id, accountId: r.account_id, resourceId: r.resource_id, metric: r.metric, quantity: r.quantity, periodStart: start, periodEnd: end, refusal });
          where.push(i);
        });
        if (valid.length) {
          // Every account named must exist (an operator may report for many); each gets its workflow.
          const ids = [...new Set(valid.map((r) => r.accountId))];
          const started = new Set<string>(await startedUsageAccounts(deps.db, ids));
          const missing = ids.filter((id) => !started.has(id));
          const known = missing.length ? await accountLevels(deps.db, missing) : [];
          for (const a of known) await ensureAccountWorkflow(a, at);
          const absent = new Set(missing.filter((id) => !known.some((a: { id: string }) => a.id === id)));
          const kept: number[] = [];
          valid.forEach((r, k) => {
            if (absent.has(r.accountId)) reject(where[k], r.id, 'NOT_FOUND', `account ${r.accountId} does not exist`);
            else kept.push(k);
          });
          const outcomes: IngestOutcome[] = await insertUsageRecords(deps.db, kept.map((k) => valid[k]), { now: at, offsetMinutes: offset, wake });
          outcomes.forEach((o, j) => {
            const k = kept[j];
            results[where[k]] = o.status === 'rejected' ? { id: valid[k].id, status: 'rejected', error: { code: o.code, message: o.message } } : { id: valid[k].id, status: o.status };
          });
        }
        return { status: 200, body: { results } };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/usage-packages',
      summary: `Buy prepaid usage packages (R-U4): at most ${MAX_PACKAGES_PER_PURCHASE} at once, of a metered service's metric (image_scans) or of an edition's pay-per-use quota-hours (quota_hours.<product>.<edition>, e.g. quota_hours.host-security.enterprise); usage draws on them first, earliest expiry first`,
      access: 'owner',
      tags: ['pay-per-use'],
      body: packageBody,
      idempotent: true,
      responses: {
        201: { description: 'bought', schema: z.object({ purchase_id: z.string(), order_id: z.string().nullable(), amount: z.string(), packages: z.array(usagePackageSchema) }) },
        402: { description: 'payment failed; nothing was bought' },
        422: { description: 'unknown metric' },
      },
      handler: async ({ body, principal, req }) => {
        const account = await ownedAccount(principal, body.account_id);
        if (!packageMetricNames.includes(body.metric)) throw new ApiError(422, 'USAGE.UNKNOWN_METRIC', `no usage package is sold for the metric ${body.metric}`, { metrics: packageMetricNames });
        const at = now();
        await ensureAccountWorkflow(account, at);
        // The same Idempotency-Key names the same purchase, so a retry never pays twice (R-P5).
        const key = req.header('idempotency-key');
        const purchaseId = key ? derivedId('upp', `${body.account_id}:${key}`) : newId('upp');
        const result = await viaUpdate(deps.temporal, () => deps.temporal.workflow.getHandle(accountWorkflowId(body.account_id)).executeUpdate(buyPackagesUpdate, {
          args: [{ purchaseId, metric: body.metric, content: body.content, count: body.count, term: body.term, reset: body.reset }],
        }));
        if (!result.ok) {
          const code = result.code ?? 'PAYMENT.FAILED';
          throw new ApiError(statusForCode(code), code, result.message ?? 'payment failed; nothing was bought');
        }
        const rows = await packagesByIds(deps.db, result.packageIds);
        const withLeft = await withRemaining(deps.db, rows, now(), offset);
        return { status: 201, body: { purchase_id: purchaseId, order_id: result.orderId ?? null, amount: result.amount ?? '0.00', packages: withLeft.map((p) => packageJson(p, now())) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/usage-packages',
      summary: 'Usage packages with what is left in their current period (R-U4)',
      access: 'owner',
      tags: ['pay-per-use'],
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page, newest first', schema: list(usagePackageSchema) } },
      handler: async ({ params, query, principal }) => {
        await ownedAccount(principal, params.id);
        const at = now();
        return { status: 200, body: await page((p) => listUsagePackages(deps.db, params.id, p), query, async (rows) => (await withRemaining(deps.db, rows, at, offset)).map((p) => packageJson(p, at))) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/bills',
      summary: 'Hourly pay-per-use bills (R-U2), newest first; a bill\'s lines are at /bills/{bill_id}',
      access: 'owner',
      tags: ['pay-per-use'],
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page, newest first', schema: list(billSchema) } },
      handler: async ({ params, query, principal }) => {
        await ownedAccount(principal, params.id);
        return { status: 200, body: await page((p) => listBills(deps.db, params.id, p), query, (rows) => rows.map((b) => billJson(b))) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/bills/{bill_id}',
      summary: 'One hourly bill with its per-resource lines: seconds, unit price, quantity, amount (R-U1, R-C4, R-U4)',
      access: 'owner',
      tags: ['pay-per-use'],
      params: z.strictObject({ id: z.string().min(1).max(64), bill_id: z.string().min(1).max(64) }),
      responses: { 200: { description: 'the bill', schema: billSchema } },
      handler: async ({ params, principal }) => {
        await ownedAccount(principal, params.id);
        const found = await getBillWithLines(deps.db, params.id, params.bill_id);
        if (!found) throw notFound('bill', params.bill_id);
        return { status: 200, body: billJson(found.bill, found.lines) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/arrears',
      summary: 'Pay-per-use settlement and arrears state (R-U2, R-U5): status, deadlines, outstanding amount',
      access: 'owner',
      tags: ['pay-per-use'],
      params: idParams,
      responses: { 200: { description: 'the state', schema: arrearsSchema } },
      handler: async ({ params, principal }) => {
        await ownedAccount(principal, params.id);
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
      },
    }),
  ];
}
