import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createDb, migrateLatest } from '../common/db';
import { ConfigError, loadConfig } from '../common/config';
import { createLogger } from '../common/logger';
import { collectProcessMetrics } from '../common/metrics';
import { freePort } from '../common/net';
import { temporalConnectionOptions } from '../common/temporal-connection';
import { checkReadiness } from '../app/readiness';
import { WORKFLOW_BUNDLE_PATH } from './bundle';
import { createServices } from '../app/services';
import { createNotificationChannels } from './notification-channels';
import { startBackgroundLoops } from './background';
import { MetricsServer, sdkMetricsFrom, startMetricsServer } from './metrics-server';
import { installTemporalLogging } from './runtime';
import { createWorker } from './worker';

const DEFAULT_WORKER_METRICS_PORT = 9464;

// `npm run worker`: the production shape. Temporal and Postgres are external, given by
// TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / DATABASE_URL.
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('worker', config.LOG_LEVEL);
  const metricsPort = config.METRICS_PORT ?? DEFAULT_WORKER_METRICS_PORT;
  // The SDK's exporter listens on a loopback port of its own; /metrics below serves its text.
  const sdkMetricsPort = metricsPort ? await freePort() : null;
  installTemporalLogging(logger, { sdkMetricsPort });
  if (!config.DATABASE_URL) throw new ConfigError('DATABASE_URL is required for a standalone worker (npm start runs an embedded Postgres instead)');
  const db = createDb(config.DATABASE_URL);
  await migrateLatest(db);
  const services = createServices(config, db);
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const worker = await createWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps: { db, payments: services.payments, catalog: services.catalog },
    workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH },
  });
  let metrics: MetricsServer | null = null;
  if (metricsPort) {
    collectProcessMetrics();
    metrics = await startMetricsServer({
      port: metricsPort,
      host: config.METRICS_HOST ?? config.HOST,
      sdkMetrics: sdkMetricsFrom(sdkMetricsPort),
      // Ready: Postgres and Temporal answer and the worker is polling (not draining).
      readiness: () => checkReadiness({ db, pingTemporal: () => connection.workflowService.getSystemInfo({}), logger, draining: () => worker.getState() !== 'RUNNING' }),
    });
    logger.info({ url: `http://${config.METRICS_HOST ?? config.HOST}:${metrics.port}/metrics` }, 'worker metrics listening');
  }
  // Graceful shutdown: stop polling, let the tasks in flight finish (createWorker's
  // shutdownGraceTime), then the background loop's round, then the connections; exit 0.
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down worker: draining tasks in flight');
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const background = startBackgroundLoops({
      db, payments: services.payments, logger, temporal,
      channels: createNotificationChannels({ db, logger, offsetMinutes: services.offsetMinutes, smtpUrl: config.SMTP_URL, smtpFrom: config.SMTP_FROM }),
      webhooks: { timeoutMs: config.WEBHOOK_TIMEOUT_MS, backoffBaseMs: config.WEBHOOK_RETRY_BASE_MS },
    });
  logger.info({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE, taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
  await worker.run();
  await background.stop();
  await metrics?.close();
  await connection.close();
  await db.destroy();
  logger.info('worker stopped');
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
