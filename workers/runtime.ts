import { DefaultLogger, LogLevel, Runtime } from '@temporalio/worker';
import type { Logger } from '../common/logger';

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/** Routes the Temporal SDK's own logs (worker, workflow `log`, activity context) into pino's JSON. */
export function installTemporalLogging(logger: Logger): void {
  const sdk = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    // The process owns its signals and shuts down in order (API, worker, connections, servers).
    shutdownSignals: [],
    logger: new DefaultLogger(logger.level === 'warn' || logger.level === 'error' ? 'WARN' : 'INFO', (entry) => {
      sdk[PINO_LEVEL[entry.level]]({ ...entry.meta }, entry.message);
    }),
  });
}
