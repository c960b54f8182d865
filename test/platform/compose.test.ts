import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Ajv from 'ajv';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { parse } from 'yaml';
import { registry } from '../../common/metrics';
import { dynamicConfigFileContent } from '../../common/temporal-dynamic-config';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

// Issue 14: CI has no Docker engine, so the production compose file and its Prometheus and
// Grafana files are checked here: against the compose specification's JSON schema, and for
// the things that would only show at `docker compose up` (a missing mounted file, a service
// that depends on a typo, a metric name the app does not export).
const ROOT = join(__dirname, '..', '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
// Compose reads YAML 1.1 merge keys (`<<: *anchor`); so must we.
const yaml = (p: string) => parse(read(p), { merge: true }) as any;

/** The metric names quotaflow exports (docs/production.md), as the app side must name them. */
const QUOTAFLOW_METRICS = [
  'quotaflow_http_requests_total', 'quotaflow_http_request_duration_seconds', 'quotaflow_charges_total', 'quotaflow_renewals_total',
  'quotaflow_subscriptions', 'quotaflow_settlement_lag_seconds', 'quotaflow_outbox_backlog', 'quotaflow_retry_bound_hit_total',
  'quotaflow_unacknowledged_releases',
];
const HISTOGRAM_SERIES = ['_bucket', '_sum', '_count'].map((s) => `quotaflow_http_request_duration_seconds${s}`);

describe('the metric names ops/ reads are the ones the app exports (issue 14)', () => {
  it('common/metrics.ts registers exactly the names of docs/production.md', async () => {
    const exported = (await registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('quotaflow_'));
    expect(exported.sort()).toEqual([...QUOTAFLOW_METRICS].sort());
    const doc = read('docs/production.md');
    for (const m of QUOTAFLOW_METRICS) expect(doc).toContain(`\`${m}\``);
  });
});

/** The metric names a PromQL expression reads; throws where it does not parse. */
function metricsIn(expr: string): string[] {
  const tree = promql.parse(expr);
  const names: string[] = [];
  let errorAt = -1;
  tree.iterate({
    enter: (n) => {
      if (n.type.isError && errorAt < 0) errorAt = n.from;
      if (n.name === 'Identifier') names.push(expr.slice(n.from, n.to));
    },
  });
  if (errorAt >= 0) throw new Error(`PromQL does not parse at ${errorAt}: ${expr}`);
  return names;
}

describe('docker-compose.yml (issue 14)', () => {
  const compose = yaml('docker-compose.yml');
  const services = compose.services as Record<string, any>;

  it('is valid against the compose specification schema', () => {
    // The schema as dclint ships it, kept current with compose-spec. Its $schema names draft-07 by
    // an https URL ajv does not know as a meta-schema; ajv's default dialect is draft-07 anyway.
    const schemaFile = join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');
    const { $schema: _dialect, ...schema } = JSON.parse(readFileSync(schemaFile, 'utf8'));
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    const ok = validate(compose);
    expect(validate.errors?.map((e) => `${e.instancePath} ${e.message}`) ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('runs the real Temporal server on Postgres with SQL visibility, not the dev server', () => {
    expect(services.temporal.image).toMatch(/^temporalio\/server:1\.29\./);
    expect(JSON.stringify(services.temporal)).not.toMatch(/start-dev/);
    expect(services.temporal.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'temporal-postgres', VISIBILITY_DBNAME: 'temporal_visibility' });
    expect(services.temporal.environment.ENABLE_ES).toBeUndefined();
    expect(services.temporal.depends_on['temporal-schema']).toEqual({ condition: 'service_completed_successfully' });
  });

  it('gives the server the dynamic config the dev server and the cluster tier run (issue 14 latency)', () => {
    expect(services.temporal.environment.DYNAMIC_CONFIG_FILE_PATH).toBe('/etc/temporal/config/dynamicconfig/quotaflow.yaml');
    expect(yaml('ops/temporal/dynamicconfig/quotaflow.yaml')).toEqual(dynamicConfigFileContent());
    expect(dynamicConfigFileContent()['history.transferProcessorMaxPollRPS']).toEqual([{ value: 200, constraints: {} }]);
  });

  it('runs the worker as 2 replicas and the API, after migrations and the namespace set-up', () => {
    expect(services.worker.deploy.replicas).toBe(2);
    expect(services.worker.command).toEqual(['node', 'dist/workers/main.js']);
    expect(services.api.command).toEqual(['node', 'dist/api/main.js']);
    for (const s of [services.worker, services.api]) {
      expect(s.depends_on).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        'temporal-setup': { condition: 'service_completed_successfully' },
      });
      expect(s.environment).toMatchObject({ TEMPORAL_ADDRESS: '${TEMPORAL_ADDRESS:-temporal:7233}', TEMPORAL_API_KEY: '${TEMPORAL_API_KEY:-}' });
    }
    expect(services.migrate.command).toEqual(['node', 'dist/scripts/migrate.js']);
  });

  it('has the Temporal UI, Prometheus and Grafana', () => {
    expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:/);
    expect(services.prometheus.image).toMatch(/^prom\/prometheus:/);
    expect(services.grafana.image).toMatch(/^grafana\/grafana:/);
  });

  it('depends only on services it defines, and mounts only files that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const d of deps) expect(`${name} → ${d}: ${d in services}`).toBe(`${name} → ${d}: true`);
      for (const v of (s.volumes ?? []) as string[]) {
        const source = v.split(':')[0];
        if (source.startsWith('.')) expect(`${name} mounts ${source}: ${existsSync(join(ROOT, source))}`).toBe(`${name} mounts ${source}: true`);
      }
    }
  });

  it('registers exactly the search attributes of workflows/search-attributes.ts', () => {
    const script = read('ops/temporal/create-namespace.sh');
    const listed = [...script.matchAll(/\b([A-Z][A-Za-z]+)=(Keyword|Datetime)\b/g)].map((m) => `${m[1]}=${m[2].toUpperCase()}`);
    expect(listed.sort()).toEqual(SEARCH_ATTRIBUTES.map((k) => `${k.name}=${k.type}`).sort());
  });

  it('its set-up scripts are valid sh', () => {
    for (const f of ['ops/temporal/setup-schema.sh', 'ops/temporal/create-namespace.sh']) {
      const r = spawnSync('sh', ['-n', join(ROOT, f)], { encoding: 'utf8' });
      expect(`${f}: ${r.status} ${r.stderr}`).toBe(`${f}: 0 `);
    }
  });
});

describe('Prometheus: scrape config and alert rules (issue 14)', () => {
  it('scrapes the API on :3000/metrics, every worker replica on METRICS_PORT, and the Temporal server', () => {
    const prom = yaml('ops/prometheus/prometheus.yml');
    const compose = yaml('docker-compose.yml');
    const job = (name: string) => prom.scrape_configs.find((j: any) => j.job_name === name);
    expect(job('quotaflow-api')).toMatchObject({ metrics_path: '/metrics', static_configs: [{ targets: ['api:3000'] }] });
    expect(job('quotaflow-worker')).toMatchObject({ metrics_path: '/metrics', dns_sd_configs: [{ names: ['worker'], type: 'A', port: Number(compose.services.worker.environment.METRICS_PORT) }] });
    const temporalMetricsPort = compose.services.temporal.environment.PROMETHEUS_ENDPOINT.split(':')[1];
    expect(job('temporal-server').static_configs[0].targets).toEqual([`temporal:${temporalMetricsPort}`]);
    expect(prom.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    expect(compose.services.prometheus.volumes).toContain('./ops/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro');
  });

  const rules = (yaml('ops/prometheus/alerts.yml').groups as { name: string; rules: any[] }[]).flatMap((g) => g.rules);

  it('alerts on settlement lag over 2 h, renewal failure rate, retries at their bound and outbox backlog', () => {
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(byName.QuotaflowSettlementLagHigh.expr).toMatch(/quotaflow_settlement_lag_seconds\) > 7200/);
    expect(byName.QuotaflowRenewalFailureRateHigh.expr).toMatch(/quotaflow_renewals_total\{result="failed"\}/);
    expect(byName.QuotaflowRetriesExhausted.expr).toMatch(/quotaflow_retry_bound_hit_total/);
    expect(byName.QuotaflowOutboxBacklog.expr).toMatch(/quotaflow_outbox_backlog/);
  });

  it('every alert has unit tests in alerts.test.yml (promtool runs them in the cluster tier)', () => {
    const tests = yaml('ops/prometheus/alerts.test.yml');
    expect(tests.rule_files).toEqual(['alerts.yml']);
    const tested = new Set(tests.tests.flatMap((t: any) => t.alert_rule_test.map((a: any) => a.alertname)));
    expect(rules.map((r) => r.alert).filter((a) => !tested.has(a))).toEqual([]);
  });

  it('every rule has an alert name, a PromQL expression over known metrics, a severity and a summary', () => {
    for (const r of rules) {
      expect(Object.keys(r).filter((k) => !['alert', 'expr', 'for', 'labels', 'annotations'].includes(k))).toEqual([]);
      expect(r.alert).toMatch(/^Quotaflow[A-Za-z]+$/);
      for (const m of metricsIn(r.expr)) expect([...QUOTAFLOW_METRICS, 'up']).toContain(m);
      if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smh]$/);
      expect(['page', 'warn']).toContain(r.labels.severity);
      expect(r.annotations.summary).toEqual(expect.any(String));
    }
  });
});

describe('Grafana: provisioned datasource and dashboard (issue 14)', () => {
  const dashboard = JSON.parse(read('ops/grafana/dashboards/quotaflow.json'));
  const exprs: string[] = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));

  it('the dashboard reads the provisioned Prometheus datasource', () => {
    const ds = yaml('ops/grafana/provisioning/datasources/prometheus.yml').datasources[0];
    expect(ds).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    for (const p of dashboard.panels) expect(p.datasource).toEqual({ type: 'prometheus', uid: ds.uid });
    const provider = yaml('ops/grafana/provisioning/dashboards/quotaflow.yml').providers[0];
    expect(yaml('docker-compose.yml').services.grafana.volumes).toContain(`./ops/grafana/dashboards:${provider.options.path}:ro`);
  });

  it('has a panel for every quotaflow metric, each query valid PromQL over known metrics', () => {
    const used = new Set<string>();
    // Grafana substitutes $__rate_interval before Prometheus sees the query.
    for (const e of exprs) for (const m of metricsIn(e.replace(/\$__rate_interval/g, '5m'))) used.add(m);
    for (const m of used) expect([...QUOTAFLOW_METRICS, ...HISTOGRAM_SERIES]).toContain(m);
    for (const m of QUOTAFLOW_METRICS) expect([...used].some((u) => u.startsWith(m))).toBe(true);
    expect(dashboard.panels.map((p: any) => p.title)).toEqual(expect.arrayContaining([
      'HTTP requests by route and status', 'HTTP latency by route (p50, p99)', 'Charges by outcome and path',
      'Renewals: due, attempted, succeeded, failed', 'Subscriptions by status', 'Settlement lag', 'Outbox backlog', 'Retries that hit their bound',
    ]));
  });
});
