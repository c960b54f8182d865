import { createServer, Server } from 'node:http';
import type { Readiness } from '../app/readiness';
import { metricsText, METRICS_CONTENT_TYPE } from '../common/metrics';

/**
 * The worker's small HTTP server (issue 14): GET /metrics (quotaflow's registry, then the Temporal
 * SDK's own metrics read from its exporter on loopback, so Prometheus scrapes one port per
 * replica), GET /health/live and GET /health/ready. The API serves the same from Express; the
 * worker has no Express, and node:http is all four routes need.
 */
export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export function startMetricsServer(opts: {
  port: number;
  host: string;
  readiness: () => Promise<Readiness>;
  /** the Temporal SDK's Prometheus text (its exporter's /metrics), appended to ours */
  sdkMetrics?: () => Promise<string>;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'GET only' } });
    if (path === '/metrics') {
      metricsText(opts.sdkMetrics).then(
        (text) => { res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE }); res.end(text); },
        () => json(500, { error: { code: 'INTERNAL', message: 'metrics could not be collected' } }),
      );
      return;
    }
    if (path === '/health/live') return json(200, { status: 'ok' });
    if (path === '/health/ready') {
      opts.readiness().then(
        (r) => (r.ready
          ? json(200, { status: 'ok', db: r.db, temporal: r.temporal })
          : json(503, { error: { code: r.code, message: `not ready: ${r.code}`, details: { db: r.db, temporal: r.temporal } } })),
        () => json(503, { error: { code: 'NOT_READY.UNKNOWN', message: 'readiness could not be checked' } }),
      );
      return;
    }
    json(404, { error: { code: 'NOT_FOUND', message: 'no such route: GET /metrics, /health/live or /health/ready' } });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : opts.port,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeIdleConnections();
        }),
      });
    });
  });
}

/** Reads the Temporal SDK exporter's text from its loopback port (null: the exporter is off). */
export function sdkMetricsFrom(port: number | null): (() => Promise<string>) | undefined {
  if (!port) return undefined;
  return async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2_000) });
    return res.ok ? res.text() : '';
  };
}
