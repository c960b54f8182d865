import { Client, Connection } from '@temporalio/client';
import express from 'express';
import { createDb, migrateLatest } from '../common/db';
import { ConfigError, loadConfig } from '../common/config';
import { createLogger } from '../common/logger';
import { collectProcessMetrics } from '../common/metrics';
import { temporalConnectionOptions } from '../common/temporal-connection';
import { createServices } from '../app/services';
import { createApp } from './app';
import { ensureOperatorKey } from './auth';
import { metricsHandler } from './metrics';
import { listen, RunningServer } from './server';

// `npm run api`: the API alone against an external Temporal and Postgres.
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('api', config.LOG_LEVEL);
  if (!config.DATABASE_URL) throw new ConfigError('DATABASE_URL is required for a standalone API (npm start runs an embedded Postgres instead)');
  const db = createDb(config.DATABASE_URL);
  await migrateLatest(db);
  if (config.QUOTAFLOW_OPERATOR_KEY) await ensureOperatorKey(db, config.QUOTAFLOW_OPERATOR_KEY);
  const services = createServices(config, db);
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  collectProcessMetrics();
  let draining = false;
  // METRICS_PORT unset: /metrics on the API's own port. Set: on that port only (0: nowhere), so
  // the public listener can be exposed without it (docs/production.md).
  const separateMetrics = config.METRICS_PORT !== undefined;
  const app = createApp({
    db, temporal, payments: services.payments, catalog: services.catalog, logger,
    settings: { taskQueue: config.TEMPORAL_TASK_QUEUE, offsetMinutes: services.offsetMinutes, arrears: services.arrears, idempotencyLeaseMs: config.IDEMPOTENCY_LEASE_MS },
    draining: () => draining,
    serveMetrics: !separateMetrics,
  });
  const server = await listen(app, config.PORT, config.HOST);
  let metricsServer: RunningServer | null = null;
  if (separateMetrics && config.METRICS_PORT) {
    const metricsApp = express();
    metricsApp.get('/metrics', metricsHandler());
    metricsServer = await listen(metricsApp, config.METRICS_PORT, config.METRICS_HOST ?? config.HOST);
    logger.info({ url: `http://${config.METRICS_HOST ?? config.HOST}:${metricsServer.port}/metrics` }, 'api metrics listening');
  }
  logger.info({ url: `http://${config.HOST}:${server.port}` }, 'api listening');

  // Graceful shutdown: readiness fails at once (a load balancer stops sending), the listener
  // stops accepting, requests in flight get their answers, then the connections close. Hard
  // exit if that takes longer than 30 s (listen() already cuts connections at 10 s).
  let stopping: Promise<void> | null = null;
  const stop = (signal: string) => {
    if (stopping) return;
    draining = true;
    logger.info({ signal }, 'shutting down api: finishing requests in flight');
    setTimeout(() => { logger.error('api shutdown took over 30 s; exiting'); process.exit(1); }, 30_000).unref();
    stopping = (async () => {
      await server.close();
      await metricsServer?.close();
      await connection.close();
      await db.destroy();
      logger.info('api stopped');
    })().then(() => process.exit(0), (err) => { logger.error({ err }, 'api shutdown failed'); process.exit(1); });
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
