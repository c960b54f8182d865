import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../common/config';

describe('configuration is validated at start (issue #3)', () => {
  it('takes the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 3000, TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', BILLING_UTC_OFFSET: '+08:00', GRACE_DAYS_STANDARD: 15, RETENTION_DAYS_KEY_ACCOUNT: 30 });
  });

  it.each([
    ['PORT', 'eighty', /PORT/],
    ['BILLING_UTC_OFFSET', '8', /BILLING_UTC_OFFSET: must look like \+08:00/],
    ['GRACE_DAYS_STANDARD', '-1', /GRACE_DAYS_STANDARD/],
    ['DATABASE_URL', 'not a url', /DATABASE_URL/],
    ['QUOTAFLOW_OPERATOR_KEY', 'short', /QUOTAFLOW_OPERATOR_KEY: must be at least 24 characters/],
  ])('refuses %s=%s with a message naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
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
