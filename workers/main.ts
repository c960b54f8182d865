import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createDb, migrateLatest } from '../common/db';
import { ConfigError, loadConfig } from '../common/config';
import { createLogger } from '../common/logger';
import { temporalConnectionOptions } from '../common/temporal-connection';
import { WORKFLOW_BUNDLE_PATH } from './bundle';
import { createServices } from '../app/services';
import { createNotificationChannels } from './notification-channels';
import { startBackgroundLoops } from './background';
import { installTemporalLogging } from './runtime';
import { createWorker } from './worker';

// `npm run worker`: the production shape. Temporal and Postgres are external, given by
// TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / DATABASE_URL.
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('worker', config.LOG_LEVEL);
  installTemporalLogging(logger);
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
  const stop = () => {
    logger.info('shutting down worker');
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const background = startBackgroundLoops({
      db, payments: services.payments, logger, temporal,
      channels: createNotificationChannels({ db, logger, offsetMinutes: services.offsetMinutes, smtpUrl: config.SMTP_URL, smtpFrom: config.SMTP_FROM }),
      webhooks: { timeoutMs: config.WEBHOOK_TIMEOUT_MS, backoffBaseMs: config.WEBHOOK_RETRY_BASE_MS },
    });
  logger.info({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE, taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
  await worker.run();
  await background.stop();
  await connection.close();
  await db.destroy();
}

main().catch((err) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
