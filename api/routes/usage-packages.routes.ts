import Decimal from 'decimal.js';
import { z } from 'zod';
import { drawUnitsPerContentUnit, MAX_PACKAGES_PER_PURCHASE, nextResetAt, packagePeriods, ResetPolicy } from '../../billing/usage';
import { packageMetrics } from '../../catalog/catalog';
import { derivedId, newId } from '../../common/ids';
import { accountWorkflowId, listUsagePackages, packagesByIds, withRemaining } from '../../store/usage.store';
import { buyPackagesUpdate } from '../../workflows/account.messages';
import { accountWorkflow } from '../account-workflow';
import type { ApiDeps } from '../app';
import { apiClock } from '../clock';
import { ApiError, statusForCode } from '../errors';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { IdParams, idParams, list, localInstant, pageQuery, seqPage, termSchema, trimDecimal } from '../schemas';
import { accountIdField, positive6 } from '../schemas/usage';
import { viaUpdate } from '../workflow-errors';

// R-U4 over HTTP: prepaid usage packages, bought through the account's workflow (which charges
// them) and read with what is left in their current period.

const packageBody = z.strictObject({
  account_id: accountIdField,
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

export function usagePackageRoutes(deps: ApiDeps): RouteDef[] {
  const offset = deps.settings.offsetMinutes;
  const local = localInstant(offset);
  const now = apiClock(deps);
  const { ensureAccountWorkflow } = accountWorkflow(deps);
  const packageMetricNames = [...packageMetrics(deps.catalog).keys()]; // R-U4: services and quota-hours

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
      purchased_at: local(purchasedAt),
      expires_at: local(expiresAt),
      next_reset_at: nextReset !== null && nextReset < expiresAt && !expired ? local(nextReset) : null,
      status: expired ? 'expired' as const : 'active' as const,
    };
  }

  async function buyPackages({ body, principal, req }: RouteContext<unknown, unknown, z.infer<typeof packageBody>>): Promise<RouteResult> {
    const account = await ownedAccount(deps.db, principal, body.account_id);
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
  }

  async function listPackages({ params, query, principal }: RouteContext<IdParams, z.infer<typeof pageQuery>, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    const at = now();
    return { status: 200, body: await seqPage((p) => listUsagePackages(deps.db, params.id, p), query, async (rows) => (await withRemaining(deps.db, rows, at, offset)).map((p) => packageJson(p, at))) };
  }

  const tags = ['pay-per-use'];
  return [
    defineRoute({
      method: 'post',
      path: '/v1/usage-packages',
      summary: `Buy prepaid usage packages (R-U4): at most ${MAX_PACKAGES_PER_PURCHASE} at once, of a metered service's metric (image_scans) or of an edition's pay-per-use quota-hours (quota_hours.<product>.<edition>, e.g. quota_hours.host-security.enterprise); usage draws on them first, earliest expiry first`,
      access: 'owner',
      tags,
      body: packageBody,
      idempotent: true,
      responses: {
        201: { description: 'bought', schema: z.object({ purchase_id: z.string(), order_id: z.string().nullable(), amount: z.string(), packages: z.array(usagePackageSchema) }) },
        402: { description: 'payment failed; nothing was bought' },
        422: { description: 'unknown metric' },
      },
      handler: buyPackages,
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/usage-packages',
      summary: 'Usage packages with what is left in their current period (R-U4)',
      access: 'owner',
      tags,
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'a page, newest first', schema: list(usagePackageSchema) } },
      handler: listPackages,
    }),
  ];
}
