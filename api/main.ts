import { Client, Connection } from '@temporalio/client';
import { createDb, migrateLatest } from '../common/db';
import { ConfigError, loadConfig } from '../common/config';
import { createLogger } from '../common/logger';
import { temporalConnectionOptions } from '../common/temporal-connection';
import { createServices } from '../app/services';
import { createApp } from './app';
import { ensureOperatorKey } from './auth';
import { listen } from './server';

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
  const app = createApp({ db, temporal, payments: services.payments, catalog: services.catalog, logger, settings: { taskQueue: config.TEMPORAL_TASK_QUEUE, offsetMinutes: services.offsetMinutes, arrears: services.arrears, idempotencyLeaseMs: config.IDEMPOTENCY_LEASE_MS } });
  const server = await listen(app, config.PORT, config.HOST);
  logger.info({ url: `http://${config.HOST}:${config.PORT}` }, 'api listening');
  const stop = async () => {
    logger.info('shutting down api');
    await server.close();
    await connection.close();
    await db.destroy();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
