import { DefaultLogger, LogLevel, Runtime } from '@temporalio/worker';
import type { Logger } from '../common/logger';

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/**
 * Installs the Temporal SDK's runtime, once per process, before any connection: its own logs
 * (worker, workflow `log`, activity context) go into pino's JSON, and, given `sdkMetricsPort`,
 * its metrics (temporal_* — task slots, poll latencies, workflow and activity outcomes, sticky
 * cache) to the SDK's Prometheus exporter on 127.0.0.1 only: the worker's /metrics reads them
 * from there and serves them after quotaflow's own (workers/metrics-server.ts), so each replica
 * is one scrape target.
 */
export function installTemporalLogging(logger: Logger, opts: { sdkMetricsPort?: number | null } = {}): void {
  const sdk = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    // The process owns its signals and shuts down in order (API, worker, connections, servers).
    shutdownSignals: [],
    logger: new DefaultLogger(logger.level === 'warn' || logger.level === 'error' ? 'WARN' : 'INFO', (entry) => {
      sdk[PINO_LEVEL[entry.level]]({ ...entry.meta }, entry.message);
    }),
    ...(opts.sdkMetricsPort ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${opts.sdkMetricsPort}` } } } } : {}),
  });
}
