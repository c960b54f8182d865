import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../common/config';
import { postgresTargetFromUrl, resolveClusterServer, startTemporalCluster, ClusterServerHandle } from '../../common/temporal-cluster';
import { temporalConnectionOptions } from '../../common/temporal-connection';
import { makeTestPki, TestPki } from './support/certs';
import { Stack, startStack } from '../stack/stack';

// Issue 14: a Temporal cluster that only speaks mutual TLS, with a CA made at test time, and
// quotaflow's own settings (TEMPORAL_TLS_CA / _CERT / _KEY) as its processes read them.
describe('Temporal over mutual TLS', () => {
  let pki: TestPki;
  let server: ClusterServerHandle;
  beforeAll(async () => {
    const runDir = join(process.env.QUOTAFLOW_STACK_RUN_DIR!, 'tls');
    pki = makeTestPki(join(runDir, 'pki'));
    const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');
    const clientOptions = temporalConnectionOptions(settings({ TEMPORAL_TLS_CA: pki.ca, TEMPORAL_TLS_CERT: pki.client.cert, TEMPORAL_TLS_KEY: pki.client.key }));
    server = await startTemporalCluster({
      install: resolveClusterServer(cacheDir),
      postgres: postgresTargetFromUrl(process.env.QUOTAFLOW_TEST_PG_ADMIN_URL!),
      // Its own databases: two servers on one set would join one membership ring.
      databases: { main: 'temporal_tls', visibility: 'temporal_tls_visibility' },
      runDir: join(runDir, 'temporal'),
      tls: {
        caFile: pki.ca, serverCertFile: pki.server.cert, serverKeyFile: pki.server.key, requireClientAuth: true,
        internalClientCertFile: pki.internalClient.cert, internalClientKeyFile: pki.internalClient.key, serverName: 'localhost',
      },
      adminConnection: { tls: clientOptions.tls },
    });
  }, 180_000);
  afterAll(async () => { await server?.stop(); }, 60_000);

  const settings = (env: Record<string, string>) => loadConfig({ TEMPORAL_ADDRESS: server?.address ?? '127.0.0.1:1', ...env });
  /**
   * What a client gets: the server's version, or the error it was refused with. The SDK's client
   * retries a refused handshake until its connect timeout, so a refusal takes that long.
   */
  const clientConnects = async (env: Record<string, string>, connectTimeout = 10_000): Promise<string> => {
    try {
      const conn = await Connection.connect({ ...temporalConnectionOptions(settings(env)), connectTimeout });
      try {
        return (await conn.workflowService.getSystemInfo({})).serverVersion ?? '?';
      } finally {
        await conn.close();
      }
    } catch (err) {
      return `refused: ${(err as Error).message}`;
    }
  };
  const workerConnects = async (env: Record<string, string>): Promise<string> => {
    try {
      const conn = await NativeConnection.connect(temporalConnectionOptions(settings(env)));
      try {
        return (await conn.workflowService.getSystemInfo({})).serverVersion ?? '?';
      } finally {
        await conn.close();
      }
    } catch (err) {
      return `refused: ${(err as Error).message}`;
    }
  };

  it('a client and a worker connection with the CA and a certificate it signed are let in', async () => {
    const env = { TEMPORAL_TLS_CA: pki.ca, TEMPORAL_TLS_CERT: pki.client.cert, TEMPORAL_TLS_KEY: pki.client.key };
    expect(await clientConnects(env)).toBe('1.29.1');
    expect(await workerConnects(env)).toBe('1.29.1');
  });

  it.each([
    ['without TLS', (): Record<string, string> => ({})],
    ['with the CA but no client certificate', () => ({ TEMPORAL_TLS_CA: pki.ca })],
    ['with a client certificate from another CA', () => ({ TEMPORAL_TLS_CA: pki.ca, TEMPORAL_TLS_CERT: pki.otherClient.cert, TEMPORAL_TLS_KEY: pki.otherClient.key })],
  ])('is refused %s', async (_what, env) => {
    // The SDK says "Failed to connect before the deadline" (client) or names the TLS alert
    // (worker: CertificateRequired, a closed connection); either way nothing gets through.
    expect(await clientConnects(env(), 2_000)).toMatch(/^refused: /);
    expect(await workerConnects(env())).toMatch(/^refused: /);
  });

  it('without the CA the client does not trust the server (its certificate is from a private CA)', async () => {
    expect(await clientConnects({ TEMPORAL_TLS_CERT: pki.client.cert, TEMPORAL_TLS_KEY: pki.client.key }, 2_000)).toMatch(/^refused: /);
  });

  describe('quotaflow\'s worker and API processes with TEMPORAL_TLS_* set', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({
        workers: 1,
        temporal: { address: server.address, namespace: server.namespace },
        env: { TEMPORAL_TLS_CA: pki.ca, TEMPORAL_TLS_CERT: pki.client.cert, TEMPORAL_TLS_KEY: pki.client.key },
      });
    }, 180_000);
    afterAll(async () => { await stack?.stop(); }, 60_000);

    it('run a purchase over mTLS', async () => {
      const { http, operatorKey } = stack;
      const acc = (await http.post('/v1/accounts', operatorKey, { name: 'TLS' })).body;
      expect((await http.post(`/v1/accounts/${acc.id}/top-ups`, acc.api_key, { amount: '30.00' }, 't1')).status).toBe(201);
      const buy = await http.post('/v1/subscriptions', acc.api_key, {
        account_id: acc.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 },
      }, 'p1');
      expect(buy.status).toBe(201);
      expect((await http.get(`/v1/subscriptions/${buy.body.id}`, acc.api_key)).body.status).toBe('active');
      expect((await http.get(`/v1/accounts/${acc.id}`, acc.api_key)).body.cash).toBe('5.00');
    });
  });

  it.each([
    ['worker', 'workers/main.js'],
    ['api', 'api/main.js'],
  ])('the %s process stops at start, naming the variable, when a certificate comes without its key', (_name, main) => {
    const r = spawnSync(process.execPath, [join(__dirname, '..', '..', 'dist', main)], {
      env: { PATH: process.env.PATH, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', TEMPORAL_ADDRESS: server.address, TEMPORAL_TLS_CERT: pki.client.cert },
      encoding: 'utf8', timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/TEMPORAL_TLS_KEY: required when TEMPORAL_TLS_CERT is set/);
  });
});
