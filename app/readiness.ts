import type { Knex } from 'knex';
import type { Logger } from '../common/logger';
import { pingDatabase } from '../store/health.store';

// Probes (issue 14), the same for the API and the worker's metrics server:
//  - live: the process answers (its event loop turns). Nothing else: a liveness probe that
//    checks dependencies gets every replica restarted when Postgres blips, which fixes nothing.
//  - ready: Postgres and Temporal answer, and the process is not draining. A replica that is
//    not ready is taken out of the load balancer (API) or only reported (worker).

export type Dependency = 'ok' | 'down';

export interface Readiness {
  ready: boolean;
  /** a stable code for the first reason it is not ready */
  code: 'READY' | 'NOT_READY.DATABASE' | 'NOT_READY.TEMPORAL' | 'NOT_READY.SHUTTING_DOWN';
  db: Dependency;
  temporal: Dependency;
}

export interface ReadinessDeps {
  db: Knex;
  /** any cheap call that reaches the Temporal frontend (getSystemInfo) */
  pingTemporal: () => Promise<unknown>;
  logger: Logger;
  /** true once SIGTERM arrived: stop taking new work before the process goes */
  draining?: () => boolean;
  timeoutMs?: number;
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}

export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  const ms = deps.timeoutMs ?? 2_000;
  const [db, temporal] = await Promise.all([
    // Only up or down: an error's text (hosts, users, versions) is for the logs, not for anyone who asks.
    within(pingDatabase(deps.db), ms).then((): Dependency => 'ok', (err: Error): Dependency => { deps.logger.warn({ err }, 'readiness: database down'); return 'down'; }),
    within(deps.pingTemporal(), ms).then((): Dependency => 'ok', (err: Error): Dependency => { deps.logger.warn({ err }, 'readiness: temporal down'); return 'down'; }),
  ]);
  const code = deps.draining?.() ? 'NOT_READY.SHUTTING_DOWN' : db === 'down' ? 'NOT_READY.DATABASE' : temporal === 'down' ? 'NOT_READY.TEMPORAL' : 'READY';
  return { ready: code === 'READY', code, db, temporal };
}
