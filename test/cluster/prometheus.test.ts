import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { charges, httpRequestDuration, httpRequests, registry, renewals, retryBoundHits } from '../../common/metrics';

// Issue 14: Prometheus' own checker on ops/prometheus/ — the rule and config syntax, the alert
// annotations' templates, and the alerts' unit tests (alerts.test.yml: each fires on the series
// it is for, after its `for`, and not on healthy ones). promtool is built from the Go module
// proxy by `npm run setup:promtool`, like the Temporal server, which is why this lives in the
// cluster tier; `npm test` checks the same files' structure without it (compose.test.ts).
const ROOT = join(__dirname, '..', '..');
const PROM_DIR = join(ROOT, 'ops', 'prometheus');

function promtoolPath(): string {
  const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');
  const manifest = join(cacheDir, 'promtool-3.5.0', 'manifest.json');
  if (!existsSync(manifest)) throw new Error(`no promtool at ${manifest}: run \`npm run setup:promtool\` (npm run test:cluster does)`);
  return JSON.parse(readFileSync(manifest, 'utf8')).binaries.promtool.path as string;
}

function promtool(...args: string[]): { status: number | null; output: string } {
  return promtoolWith(undefined, ...args);
}

function promtoolWith(input: string | undefined, ...args: string[]): { status: number | null; output: string } {
  const r = spawnSync(promtoolPath(), args, { cwd: PROM_DIR, encoding: 'utf8', timeout: 60_000, input });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('ops/prometheus, checked by promtool 3.5.0', () => {
  it('accepts the alert rules', () => {
    const r = promtool('check', 'rules', 'alerts.yml');
    // every rule of the file, as promtool counts them (one alert per rule)
    const rules = (parse(readFileSync(join(PROM_DIR, 'alerts.yml'), 'utf8')).groups as { rules: unknown[] }[]).flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(6);
    expect(r.output).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
    expect(r.status).toBe(0);
  });

  it('accepts the scrape config with its rule file', () => {
    // The config names the rule file where compose mounts it; point it at the repo's copy.
    const config = parse(readFileSync(join(PROM_DIR, 'prometheus.yml'), 'utf8'));
    expect(config.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    config.rule_files = [join(PROM_DIR, 'alerts.yml')];
    const file = join(mkdtempSync(join(tmpdir(), 'qf-prom-')), 'prometheus.yml');
    writeFileSync(file, stringify(config));
    const r = promtool('check', 'config', file);
    expect(r.output).toMatch(/is valid prometheus config file syntax/);
    expect(r.status).toBe(0);
  });

  it('passes the alert rules\' unit tests (alerts.test.yml)', () => {
    const r = promtool('test', 'rules', 'alerts.test.yml');
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });

  it('lints what quotaflow exports (promtool check metrics: names, units, help, types)', async () => {
    // One sample of each, as after a little traffic, so every family has series to lint.
    httpRequests.inc({ route: '/v1/subscriptions', method: 'POST', status: '201' });
    httpRequestDuration.observe({ route: '/v1/subscriptions', method: 'POST', status: '201' }, 0.042);
    charges.inc({ outcome: 'paid', path: 'coupon+cash+card' });
    renewals.inc({ result: 'due' });
    retryBoundHits.inc({ activity: 'renewTerm' });
    const r = promtoolWith(await registry.metrics(), 'check', 'metrics');
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('alerts only on metrics the app exports now (or Prometheus\' own `up`)', async () => {
    const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const rules = parse(readFileSync(join(PROM_DIR, 'alerts.yml'), 'utf8')).groups.flatMap((g: { rules: { alert: string; expr: string }[] }) => g.rules);
    for (const rule of rules) {
      const tree = promql.parse(rule.expr);
      const names: string[] = [];
      tree.iterate({ enter: (n) => { if (n.name === 'Identifier') names.push(rule.expr.slice(n.from, n.to)); } });
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect({ alert: rule.alert, name, exported: name === 'up' || exported.has(name) }).toEqual({ alert: rule.alert, name, exported: true });
    }
  });
});
