import { z } from 'zod';
import { checkReadiness } from '../../app/readiness';
import type { ApiDeps } from '../app';
import { ApiError } from '../errors';
import { defineRoute, RouteDef } from '../http';

const dependency = z.enum(['ok', 'down']);

export function healthRoutes(deps: ApiDeps): RouteDef[] {
  const readiness = () => checkReadiness({ db: deps.db, pingTemporal: () => deps.temporal.workflowService.getSystemInfo({}), logger: deps.logger, draining: deps.draining });
  return [
    defineRoute({
      method: 'get',
      path: '/health',
      summary: 'Liveness and readiness of the database and Temporal (kept for v1 clients; see /health/ready)',
      access: 'public',
      responses: {
        200: { description: 'ready', schema: z.object({ status: z.literal('ok'), db: z.string(), temporal: z.string() }) },
        503: { description: 'a dependency is down' },
      },
      handler: async () => {
        const r = await readiness();
        const ok = r.db === 'ok' && r.temporal === 'ok';
        return { status: ok ? 200 : 503, body: { status: ok ? 'ok' : 'degraded', db: r.db, temporal: r.temporal } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/health/live',
      summary: 'Liveness: the process answers (checks nothing else, so a database outage restarts no replica)',
      access: 'public',
      responses: { 200: { description: 'the process is up', schema: z.object({ status: z.literal('ok') }) } },
      handler: async () => ({ status: 200, body: { status: 'ok' } }),
    }),
    defineRoute({
      method: 'get',
      path: '/health/ready',
      summary: 'Readiness: Postgres and Temporal answer and the process is not shutting down',
      access: 'public',
      responses: {
        200: { description: 'ready to serve', schema: z.object({ status: z.literal('ok'), db: dependency, temporal: dependency }) },
        503: { description: 'NOT_READY.DATABASE, NOT_READY.TEMPORAL or NOT_READY.SHUTTING_DOWN; details name each dependency ok or down' },
      },
      handler: async () => {
        const r = await readiness();
        if (!r.ready) {
          const why = r.code === 'NOT_READY.SHUTTING_DOWN' ? 'this process is shutting down' : `${r.code === 'NOT_READY.DATABASE' ? 'Postgres' : 'Temporal'} does not answer`;
          throw new ApiError(503, r.code, `not ready: ${why}`, { db: r.db, temporal: r.temporal, retry_after_seconds: 5 });
        }
        return { status: 200, body: { status: 'ok', db: r.db, temporal: r.temporal } };
      },
    }),
  ];
}
