import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from '../api/app';
import { ensureOperatorKey } from '../api/auth';
import { listen } from '../api/server';
import { ConfigError, loadConfig } from '../common/config';
import { createDb, ensureDatabase, migrateLatest } from '../common/db';
import { startEmbeddedPostgres } from '../common/embedded-postgres';
import { createLogger } from '../common/logger';
import { resolveTemporalCli, startDevServer } from '../common/temporal-dev-server';
import { WORKFLOW_BUNDLE_PATH } from '../workers/bundle';
import { createServices } from '../app/services';
import { createNotificationChannels } from '../workers/notification-channels';
import { startBackgroundLoops } from '../workers/background';
import { installTemporalLogging } from '../workers/runtime';
import { createWorker } from '../workers/worker';

// `npm start`: the whole stack on embedded defaults — Temporal dev server (with Web UI),
// PostgreSQL, migrations, the worker and the API — all state under QUOTAFLOW_DATA_DIR, so a
// second start finds the first one's accounts, subscriptions and running workflows.
async function main(): Promise<void> {
  const config = loadConfig();
  if (config.TEMPORAL_TLS_CERT || config.TEMPORAL_TLS_CA || config.TEMPORAL_API_KEY) {
    throw new ConfigError('TEMPORAL_TLS_* / TEMPORAL_API_KEY are for `npm run worker` and `npm run api` against an external Temporal; `npm start` runs its own local dev server without TLS');
  }
  const logger = createLogger('start', config.LOG_LEVEL);
  installTemporalLogging(logger);
  mkdirSync(config.dataDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      await stop().catch((err) => logger.error({ err }, 'error while stopping'));
    }
  };

  try {
    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      const pg = await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'postgres'), port: config.POSTGRES_PORT, persistent: true });
      stops.push(() => pg.stop());
      databaseUrl = await ensureDatabase(pg.url, 'quotaflow');
      logger.info({ port: config.POSTGRES_PORT }, 'embedded postgres running');
    }
    const db = createDb(databaseUrl);
    stops.push(() => db.destroy());
    const applied = await migrateLatest(db);
    logger.info({ applied }, 'migrations up to date');

    const [host, port] = config.TEMPORAL_ADDRESS.split(':');
    const cli = resolveTemporalCli(config.QUOTAFLOW_CACHE_DIR, config.TEMPORAL_CLI_PATH);
    const temporalServer = await startDevServer({
      cli, dataDir: join(config.dataDir, 'temporal'), port: Number(port ?? 7233), uiPort: config.TEMPORAL_UI_PORT, namespace: config.TEMPORAL_NAMESPACE, logger,
    });
    stops.push(() => temporalServer.stop());
    void host;

    const services = createServices(config, db);
    const nativeConnection = await NativeConnection.connect({ address: temporalServer.address });
    stops.push(() => nativeConnection.close());
    const worker = await createWorker({
      connection: nativeConnection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      deps: { db, payments: services.payments, catalog: services.catalog },
      workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH },
    });
    const workerDone = worker.run();
    stops.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerDone;
    });

    const connection = await Connection.connect({ address: temporalServer.address });
    stops.push(() => connection.close());
    const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    const background = startBackgroundLoops({
      db, payments: services.payments, logger, temporal,
      channels: createNotificationChannels({ db, logger, offsetMinutes: services.offsetMinutes, smtpUrl: config.SMTP_URL, smtpFrom: config.SMTP_FROM }),
      webhooks: { timeoutMs: config.WEBHOOK_TIMEOUT_MS, backoffBaseMs: config.WEBHOOK_RETRY_BASE_MS },
    });
    stops.push(() => background.stop());
    const operatorKey = await bootstrapOperatorKey(config.QUOTAFLOW_OPERATOR_KEY, config.dataDir);
    await ensureOperatorKey(db, operatorKey);
    const app = createApp({
      db, temporal, payments: services.payments, catalog: services.catalog, logger: createLogger('api', config.LOG_LEVEL),
      settings: { taskQueue: config.TEMPORAL_TASK_QUEUE, offsetMinutes: services.offsetMinutes, arrears: services.arrears, idempotencyLeaseMs: config.IDEMPOTENCY_LEASE_MS },
    });
    const server = await listen(app, config.PORT, config.HOST);
    stops.push(() => server.close());

    const api = `http://${config.HOST}:${server.port}`;
    process.stdout.write([
      '',
      'quotaflow is running',
      `  API           ${api}`,
      `  API docs      ${api}/docs   (OpenAPI: ${api}/v1/openapi.json)`,
      `  Temporal UI   ${temporalServer.uiUrl}`,
      `  Temporal gRPC ${temporalServer.address}  namespace ${config.TEMPORAL_NAMESPACE}`,
      `  operator key  ${operatorKey}`,
      `  data          ${config.dataDir}`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'));

    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    logger.info('stopping');
  } finally {
    await stopAll();
  }
}

/** QUOTAFLOW_OPERATOR_KEY, or one made at first start and kept in the data dir (API.md). */
async function bootstrapOperatorKey(fromEnv: string | undefined, dataDir: string): Promise<string> {
  if (fromEnv) return fromEnv;
  const file = join(dataDir, 'operator-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = `qf_op_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`quotaflow failed to start: ${err instanceof ConfigError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
