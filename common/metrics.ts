import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// quotaflow's metrics (issue 14), one registry per process, in Prometheus text through
// prom-client. The names and labels are the contract with ops/ (alerts.yml, the Grafana
// dashboard) and are listed in docs/production.md; test/platform/compose.test.ts fails on any
// other quotaflow_* name in a query, and test/api/metrics.api.test.ts scrapes them.
//
// The registry lives here, under every layer that counts something: the API (requests), the
// payment engine (charges) and the worker (renewals and retry bounds, reported by workflows
// through a sink: workflows/metrics.sinks.ts). Workflows themselves never import it (they are
// deterministic; a counter bumped in workflow code would count again on every replay).

export const registry = new Registry();

export const httpRequests = new Counter({
  name: 'quotaflow_http_requests_total',
  help: 'HTTP requests answered, by route template (never the raw path), method and status',
  labelNames: ['route', 'method', 'status'] as const,
  registers: [registry],
});

export const httpRequestDuration = new Histogram({
  name: 'quotaflow_http_request_duration_seconds',
  help: 'HTTP request latency from the first byte read to the last byte written',
  labelNames: ['route', 'method', 'status'] as const,
  // A purchase runs a workflow update (tens of ms on a quiet server); the tail is what matters.
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export type ChargeOutcome = 'paid' | 'refused' | 'failed';

export const charges = new Counter({
  name: 'quotaflow_charges_total',
  help: 'Charges decided, by outcome (paid, refused: the customer cannot pay, failed: the card did not answer in time) and path (the sources that paid or were to pay, in collection order: coupon+cash+credit+card; free when nothing was due)',
  labelNames: ['outcome', 'path'] as const,
  registers: [registry],
});

export type RenewalResult = 'due' | 'attempted' | 'succeeded' | 'failed';

export const renewals = new Counter({
  name: 'quotaflow_renewals_total',
  help: 'Auto-renew deductions (R-S3): due (a term\'s first attempt came due), attempted (every attempt, daily retries included), succeeded, failed',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const retryBoundHits = new Counter({
  name: 'quotaflow_retry_bound_hit_total',
  help: 'Activity calls that exhausted their bounded first try (a minute of retries) and went on as regular activities retried without end (workflows/bounded-activities.ts)',
  labelNames: ['activity'] as const,
  registers: [registry],
});

/** What the scrape-time gauges read from Postgres (store/metrics.store.ts). */
export interface OperationalSnapshot {
  subscriptionsByStatus: Record<string, number>;
  /** the largest now − settled_through over accounts settling pay-per-use (0 when none) */
  settlementLagSeconds: number;
  outboxBacklogByKind: Record<string, number>;
  /** releases (R-I4) no status-change endpoint has acknowledged yet */
  unacknowledgedReleases: number;
}

// One query round per scrape feeds all three gauges: the first gauge collected reads, the others
// reuse that answer for a second.
let snapshotSource: (() => Promise<OperationalSnapshot>) | null = null;
let lastSnapshot: { at: number; value: Promise<OperationalSnapshot | null> } | null = null;

function snapshot(): Promise<OperationalSnapshot | null> {
  if (!snapshotSource) return Promise.resolve(null);
  const now = Date.now();
  if (!lastSnapshot || now - lastSnapshot.at > 1000) {
    // A database that does not answer leaves the gauges out of this scrape rather than failing
    // it: the request and charge counters still reach Prometheus, and /health/ready says why.
    lastSnapshot = { at: now, value: snapshotSource().catch(() => null) };
  }
  return lastSnapshot.value;
}

/**
 * The gauges read from Postgres at scrape time. Only the process given a source reports them
 * (the API: one answer per deployment, not one per worker replica, so sums over instances stay
 * right); others leave them out.
 */
export function setOperationalSource(source: (() => Promise<OperationalSnapshot>) | null): void {
  snapshotSource = source;
  lastSnapshot = null;
}

new Gauge({
  name: 'quotaflow_subscriptions',
  help: 'Subscriptions by status, read from Postgres at scrape',
  labelNames: ['status'] as const,
  registers: [registry],
  async collect() {
    const s = await snapshot();
    this.reset();
    for (const [status, n] of Object.entries(s?.subscriptionsByStatus ?? {})) this.set({ status }, n);
  },
});

new Gauge({
  name: 'quotaflow_settlement_lag_seconds',
  help: 'The largest now − settled_through over accounts settling pay-per-use (R-U1), read at scrape',
  registers: [registry],
  async collect() {
    const s = await snapshot();
    this.reset();
    if (s) this.set(s.settlementLagSeconds);
  },
});

new Gauge({
  name: 'quotaflow_outbox_backlog',
  help: 'Outbox entries waiting for delivery, by kind (a notification channel, or signal), read at scrape',
  labelNames: ['kind'] as const,
  registers: [registry],
  async collect() {
    const s = await snapshot();
    this.reset();
    for (const [kind, n] of Object.entries(s?.outboxBacklogByKind ?? {})) this.set({ kind }, n);
  },
});

// Issue #15: a seller that fails to release in time pays the cost, so a release no endpoint has
// acknowledged stays visible to operators (GET /v1/status-changes?unacknowledged=true) and here.
new Gauge({
  name: 'quotaflow_unacknowledged_releases',
  help: 'Resource release calls (R-I4) no status-change endpoint has acknowledged yet, read at scrape',
  registers: [registry],
  async collect() {
    const s = await snapshot();
    this.reset();
    if (s) this.set(s.unacknowledgedReleases);
  },
});

let processMetrics = false;
/**
 * Node's process metrics under their usual names (process_cpu_seconds_total,
 * nodejs_eventloop_lag_seconds, …): once per process, by its main, not by tests.
 */
export function collectProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: registry });
}

/** The registry in Prometheus text, with any extra text (the Temporal SDK's own metrics) after it. */
export async function metricsText(extra?: () => Promise<string>): Promise<string> {
  const own = await registry.metrics();
  const more = extra ? await extra().catch(() => '') : '';
  return more ? `${own.trimEnd()}\n${more}` : own;
}

export const METRICS_CONTENT_TYPE = registry.contentType;
