import request from 'supertest';
import type { Express } from 'express';
import { ApiDeps, createApp } from '../../api/app';
import { ensureOperatorKey } from '../../api/auth';
import { DEFAULT_ARREARS } from '../../billing/renewal-schedule';
import { defaultCatalog } from '../../catalog/catalog';
import { createLogger } from '../../common/logger';
import { createWorld, OFFSET_MINUTES, TASK_QUEUE, World } from './world';

export const OPERATOR_KEY = 'qf_op_test_operator_key_0123456789';

/**
 * The API over HTTP (supertest) against the real worker, the time-skipping Temporal server
 * and Postgres. `op` and `as(key)` send requests with a key; `newCustomer()` makes an account
 * through the API and returns its id and customer key.
 */
export interface ApiWorld extends World {
  app: Express;
  /** What `app` was built from: a test builds a variant with one dependency swapped (`createApp({ ...w.deps, db })`). */
  deps: ApiDeps;
  op: () => ReturnType<typeof authed>;
  as: (key: string) => ReturnType<typeof authed>;
  newCustomer(opts?: { name?: string; customer_level?: 'standard' | 'key_account'; cash?: string }): Promise<{ id: string; key: string }>;
  /** Sets the API's clock to the test server's time (env.sleep does it by itself). */
  syncClock(): Promise<void>;
}

function authed(app: Express, key: string | null) {
  const wrap = (r: request.Test) => (key ? r.set('Authorization', `Bearer ${key}`) : r);
  return {
    get: (path: string) => wrap(request(app).get(path)),
    post: (path: string, body?: object, idempotencyKey?: string) => {
      const r = wrap(request(app).post(path));
      if (idempotencyKey) r.set('Idempotency-Key', idempotencyKey);
      return body === undefined ? r : r.send(body);
    },
    put: (path: string, body?: object) => wrap(request(app).put(path)).send(body ?? {}),
    patch: (path: string, body?: object) => wrap(request(app).patch(path)).send(body ?? {}),
    delete: (path: string) => wrap(request(app).delete(path)),
  };
}

export async function createApiWorld(opts: { rateLimitPerMinute?: number; clock?: { now(): Date } } = {}): Promise<ApiWorld> {
  const world = await createWorld();
  await ensureOperatorKey(world.db, OPERATOR_KEY);
  // The API reads the time of the time-skipping server, as production's API reads the same clock
  // as its workflows: what it validates (a deduction date) and computes (a forecast) agrees with them.
  let skew = 0;
  const syncClock = async () => { skew = (await world.env.currentTimeMs()) - Date.now(); };
  await syncClock();
  const sleep = world.env.sleep.bind(world.env);
  world.env.sleep = async (duration: Parameters<typeof sleep>[0]) => { await sleep(duration); await syncClock(); };
  const deps: ApiDeps = {
    db: world.db,
    temporal: world.env.client,
    payments: world.payments,
    catalog: defaultCatalog,
    logger: createLogger('api-test', process.env.LOG_LEVEL ?? 'silent'),
    settings: { taskQueue: TASK_QUEUE, offsetMinutes: OFFSET_MINUTES, arrears: DEFAULT_ARREARS, rateLimitPerMinute: opts.rateLimitPerMinute ?? 100_000 },
    clock: opts.clock ?? { now: () => new Date(Date.now() + skew) },
  };
  const app = createApp(deps);
  let n = 0;
  return {
    ...world,
    app,
    deps,
    op: () => authed(app, OPERATOR_KEY),
    as: (key: string) => authed(app, key),
    syncClock,
    async newCustomer(o = {}) {
      const res = await authed(app, OPERATOR_KEY).post('/v1/accounts', { name: o.name ?? `Customer ${++n}`, ...(o.customer_level ? { customer_level: o.customer_level } : {}) });
      if (res.status !== 201) throw new Error(`account creation failed: ${res.status} ${JSON.stringify(res.body)}`);
      const c = { id: res.body.id as string, key: res.body.api_key as string };
      if (o.cash) {
        const t = await authed(app, c.key).post(`/v1/accounts/${c.id}/top-ups`, { amount: o.cash }, `seed-${c.id}`);
        if (t.status !== 201) throw new Error(`top-up failed: ${t.status} ${JSON.stringify(t.body)}`);
      }
      return c;
    },
  };
}
