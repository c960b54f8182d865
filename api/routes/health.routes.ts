import { z } from 'zod';
import { pingDatabase } from '../../store/health.store';
import type { ApiDeps } from '../app';
import { defineRoute, RouteDef } from '../http';

export function healthRoutes(deps: ApiDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/health',
      summary: 'Liveness and readiness of the database and Temporal',
      access: 'public',
      responses: {
        200: { description: 'ready', schema: z.object({ status: z.literal('ok'), db: z.string(), temporal: z.string() }) },
        503: { description: 'a dependency is down' },
      },
      handler: async () => {
        const [db, temporal] = await Promise.all([
          // Only up or down: an error's text (hosts, users, versions) is for the logs, not for anyone who asks.
          pingDatabase(deps.db).then(() => 'ok', (err: Error) => { deps.logger.warn({ err }, 'health: database down'); return 'down'; }),
          deps.temporal.workflowService.getSystemInfo({}).then(() => 'ok', (err: Error) => { deps.logger.warn({ err }, 'health: temporal down'); return 'down'; }),
        ]);
        const ok = db === 'ok' && temporal === 'ok';
        return { status: ok ? 200 : 503, body: { status: ok ? 'ok' : 'degraded', db, temporal } };
      },
    }),
  ];
}
