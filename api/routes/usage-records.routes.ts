import { z } from 'zod';
import { isUsageQuantityTooLarge, MAX_USAGE_RECORD_QUANTITY, usageRecordProblem } from '../../billing/usage';
import { accountLevels } from '../../store/accounts.store';
import { IngestOutcome, insertUsageRecords, NewUsageRecord, startedUsageAccounts } from '../../store/usage.store';
import { accountWorkflow } from '../account-workflow';
import type { ApiDeps } from '../app';
import { apiClock } from '../clock';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { accountIdField, decimal6 } from '../schemas/usage';

// R-U3 over HTTP: metered usage (R-C4) in batches. Usage facts are written straight to Postgres
// (never a workflow message per record); the account's workflow settles them every hour.

/** R-U3: the most records one request may carry (also stated in the OpenAPI description). */
export const USAGE_BATCH_LIMIT = 1000;

const isoInstant = z.string().datetime({ offset: true });

/** R-U3: one usage record; validated on its own so one bad record never refuses its batch. */
export const usageRecordSchema = z.strictObject({
  id: z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
  account_id: accountIdField,
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

const PROBLEM_MESSAGES = {
  'USAGE.TOO_LATE': 'the record\'s period ended more than 2 hours ago; late usage is accepted for 2 hours only (R-U3)',
  'USAGE.IN_FUTURE': 'the record\'s period ends in the future; report usage once it has happened',
} as const;

export function usageRecordRoutes(deps: ApiDeps): RouteDef[] {
  const offset = deps.settings.offsetMinutes;
  const now = apiClock(deps);
  const { ensureAccountWorkflow, wake } = accountWorkflow(deps);
  const metricPrices = new Map(deps.catalog.services.map((s) => [s.metric, s.unit_price]));

  async function reportUsage({ body, principal }: RouteContext<unknown, unknown, z.infer<typeof recordsBody>>): Promise<RouteResult> {
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
  }

  return [
    defineRoute({
      method: 'post',
      path: '/v1/usage-records',
      summary: `Report metered usage (R-U3, R-C4): a batch of at most ${USAGE_BATCH_LIMIT} records, each accepted, duplicate or rejected on its own`,
      access: 'owner',
      tags: ['pay-per-use'],
      body: recordsBody,
      idempotent: true,
      responses: { 200: { description: 'one result per record, in order', schema: z.object({ results: z.array(recordResult) }) } },
      handler: reportUsage,
    }),
  ];
}
