import type { Express } from 'express';
import type { Server } from 'node:http';

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/** Listens, and closes gracefully: stop accepting, let in-flight requests finish, drop idle sockets. */
export function listen(app: Express, port: number, host: string): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server: Server = app.listen(port, host);
    server.once('error', reject);
    server.once('listening', () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), 10_000).unref();
        }),
      });
    });
  });
}
