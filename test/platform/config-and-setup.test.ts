import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../common/config';
import { temporalConnectionOptions } from '../../common/temporal-connection';

describe('configuration is validated at start (issue #3)', () => {
  it('issue #15: SMTP and status change call settings (an empty SMTP_URL means unset)', () => {
    expect(loadConfig({ SMTP_URL: '' }).SMTP_URL).toBeUndefined();
    expect(loadConfig({ SMTP_URL: 'smtps://user:p%40ss@mail.example.com:465', SMTP_FROM: 'Billing <billing@example.com>' })).toMatchObject({ SMTP_URL: 'smtps://user:p%40ss@mail.example.com:465', SMTP_FROM: 'Billing <billing@example.com>', SMS_PROVIDER: 'sandbox', WEBHOOK_RETRY_BASE_MS: 30_000, WEBHOOK_TIMEOUT_MS: 10_000 });
  });

  it('takes the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 3000, TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', BILLING_UTC_OFFSET: '+08:00', GRACE_DAYS_STANDARD: 15, RETENTION_DAYS_KEY_ACCOUNT: 30, IDEMPOTENCY_LEASE_MS: 120_000 });
  });

  it.each([
    ['PORT', 'eighty', /PORT/],
    ['BILLING_UTC_OFFSET', '8', /BILLING_UTC_OFFSET: must look like \+08:00/],
    ['GRACE_DAYS_STANDARD', '-1', /GRACE_DAYS_STANDARD/],
    ['DATABASE_URL', 'not a url', /DATABASE_URL/],
    ['QUOTAFLOW_OPERATOR_KEY', 'short', /QUOTAFLOW_OPERATOR_KEY: must be at least 24 characters/],
    ['SMTP_URL', 'http://mail.example.com', /SMTP_URL: must look like smtp:\/\/user:pass@host:587/],
    ['SMTP_FROM', 'billing at example', /SMTP_FROM: must be an address/],
    ['SMS_PROVIDER', 'carrier-pigeon', /SMS_PROVIDER/],
    ['WEBHOOK_RETRY_BASE_MS', '0', /WEBHOOK_RETRY_BASE_MS/],
    ['IDEMPOTENCY_LEASE_MS', '500', /IDEMPOTENCY_LEASE_MS/],
  ])('refuses %s=%s with a message naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});

describe('Temporal TLS and API key settings (issue 14)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qf-tls-'));
  const pem = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const cert = pem('client.pem', '-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n');
  const key = pem('client.key', '-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n');
  const ca = pem('ca.pem', '-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n');

  it.each([
    ['a CA path that does not exist', { TEMPORAL_TLS_CA: '/nonexistent/ca.pem' }, /TEMPORAL_TLS_CA: no such file \(got "\/nonexistent\/ca.pem"\)/],
    ['a certificate path that does not exist', { TEMPORAL_TLS_CERT: '/nonexistent/client.pem', TEMPORAL_TLS_KEY: key }, /TEMPORAL_TLS_CERT: no such file/],
    ['a directory as the CA', { TEMPORAL_TLS_CA: dir }, /TEMPORAL_TLS_CA: no such file/],
    ['a certificate without its key', { TEMPORAL_TLS_CERT: cert }, /TEMPORAL_TLS_KEY: required when TEMPORAL_TLS_CERT is set/],
    ['a key without its certificate', { TEMPORAL_TLS_KEY: key }, /TEMPORAL_TLS_CERT: required when TEMPORAL_TLS_KEY is set/],
  ])('refuses %s with a message naming the variable', (_what, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('connects in plain text when nothing is set (and an empty value counts as unset)', () => {
    expect(temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_TLS_CA: '', TEMPORAL_API_KEY: '' }))).toEqual({ address: 'temporal:7233' });
  });

  it('mTLS: the CA and the client certificate pair, read from the files', () => {
    const o = temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key }));
    expect(o.address).toBe('temporal.internal:7233');
    expect(Buffer.from(o.tls!.serverRootCACertificate!).toString()).toContain('Y2E=');
    expect(Buffer.from(o.tls!.clientCertPair!.crt).toString()).toContain('Y2VydA==');
    expect(Buffer.from(o.tls!.clientCertPair!.key).toString()).toContain('a2V5');
    expect(o.apiKey).toBeUndefined();
  });

  it('Temporal Cloud with an API key: TLS with the system trust store, and the key', () => {
    const o = temporalConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233', TEMPORAL_API_KEY: 'secret-key' }));
    expect(o).toEqual({ address: 'eu-west-1.aws.api.temporal.io:7233', tls: {}, apiKey: 'secret-key' });
  });
});

describe('npm run setup:temporal (issue #3)', () => {
  const script = join(__dirname, '..', '..', 'scripts', 'setup-temporal.mjs');
  const run = (args: string[]) => spawnSync(process.execPath, [script, ...args], {
    env: { PATH: '/nonexistent', QUOTAFLOW_CACHE_DIR: mkdtempSync(join(tmpdir(), 'qf-cache-')), HOME: tmpdir() },
    encoding: 'utf8',
  });

  it('names what is missing when neither pip nor go can provide the CLI', () => {
    const r = run(['--cli']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/neither pip \(with python3\) nor go is installed/);
  });

  it('names java when the time-skipping test server cannot run', () => {
    const r = run(['--test-server']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/`java` \(17\+\) is not installed/);
  });
});

describe('the Go-built tools of the cluster tier (issue 14)', () => {
  it.each([
    ['setup-temporal-cluster.mjs', /cannot build the Temporal server 1\.29\.1: `go` is not installed/],
    ['setup-promtool.mjs', /cannot build promtool 3\.5\.0: `go` is not installed/],
  ])('%s names go when it is missing', (name, message) => {
    const r = spawnSync(process.execPath, [join(__dirname, '..', '..', 'scripts', name)], {
      env: { PATH: '/nonexistent', QUOTAFLOW_CACHE_DIR: mkdtempSync(join(tmpdir(), 'qf-cache-')), HOME: tmpdir() },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
  });
});
