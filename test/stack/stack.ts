import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import knex from 'knex';
import { createDb, ensureDatabase, migrateLatest } from '../../common/db';
import { freePort } from '../../common/net';
import { ManagedProcess, startProcess, waitFor } from './processes';

const ROOT = join(__dirname, '..', '..');
const WORKER_MAIN = join(ROOT, 'dist', 'workers', 'main.js');
const API_MAIN = join(ROOT, 'dist', 'api', 'main.js');

/**
 * quotaflow as production runs it: the compiled worker (N separate OS processes) and the
 * compiled API (one more), configured only through their environment, against a tier's Temporal
 * server (the cluster tier's real server, or the system tier's dev server) and Postgres (each
 * tier's support/global-setup.ts). Each stack has
 * its own database and task queue, so test files never see each other's data or tasks.
 *
 * Later tests (API smoke tests, the money model, fault tests that kill a worker) build on this:
 * `stack.workers[i].stop()` and `stack.addWorker()` restart pieces, `stack.http` speaks to the API.
 */
export interface Stack {
  apiUrl: string;
  operatorKey: string;
  databaseUrl: string;
  taskQueue: string;
  temporal: { address: string; namespace: string };
  workers: StackWorker[];
  api: ManagedProcess | null;
  /** the environment every quotaflow process of this stack gets */
  env: NodeJS.ProcessEnv;
  http: HttpClient;
  /** starts one more worker process (with extra environment, e.g. QUOTAFLOW_FAULT) and waits until it polls */
  addWorker(env?: Record<string, string>): Promise<StackWorker>;
  /** starts the API again (after it was stopped or killed) on the same port, with extra environment */
  startApi(env?: Record<string, string>): Promise<ManagedProcess>;
  /** stops the API, then the workers (SIGTERM, SIGKILL after 15 s), then drops the database */
  stop(): Promise<void>;
}

/** A worker process and where its metrics server answers (/metrics, /health/live, /health/ready). */
export interface StackWorker extends ManagedProcess {
  metricsUrl: string;
}

export interface StackOptions {
  workers?: number;
  api?: boolean;
  /** defaults to the tier's Temporal server */
  temporal?: { address: string; namespace: string };
  /** a Postgres server of the test's own (one it stops and starts); defaults to the tier's */
  adminUrl?: string;
  /** added to every quotaflow process's environment (e.g. TEMPORAL_TLS_*) */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  for (const f of [WORKER_MAIN, API_MAIN, join(ROOT, 'dist', 'workflow-bundle.js')]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` (npm run test:cluster and test:system do)`);
  }
  const adminUrl = opts.adminUrl ?? required('QUOTAFLOW_TEST_PG_ADMIN_URL');
  const temporal = opts.temporal ?? { address: required('QUOTAFLOW_STACK_TEMPORAL_ADDRESS'), namespace: required('QUOTAFLOW_STACK_TEMPORAL_NAMESPACE') };
  const id = randomBytes(5).toString('hex');
  const logDir = join(required('QUOTAFLOW_STACK_RUN_DIR'), `stack-${id}`);
  mkdirSync(logDir, { recursive: true });
  const dbName = `qf_cluster_${id}`;
  const databaseUrl = await ensureDatabase(adminUrl, dbName);
  // Migrate once before any process starts: each process migrates at start too, and on a fresh
  // database three processes racing to create knex's migration table can fail one of them.
  const db = createDb(databaseUrl, { pool: { min: 0, max: 1 } });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }
  const operatorKey = `qf_op_cluster_${randomBytes(18).toString('hex')}`;
  const taskQueue = `quotaflow-${id}`;
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    ...opts.env,
  };
  const timeout = opts.startTimeoutMs ?? 90_000;
  const workers: StackWorker[] = [];
  let api: ManagedProcess | null = null;
  const stop = async () => {
    await api?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    const admin = knex({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } });
    try {
      await admin.raw(`drop database if exists "${dbName}" with (force)`);
    } finally {
      await admin.destroy();
    }
  };
  const addWorker = async (extra: Record<string, string> = {}): Promise<StackWorker> => {
    // Each worker's metrics server on a port of its own (the default 9464 would collide). A port
    // free when chosen can be taken by another process's outgoing connection (it is in the
    // ephemeral range) in the seconds before the worker listens: then the worker exits with
    // EADDRINUSE and starts again on another port. Seen once in ~40 fresh-clone runs.
    for (let tries = 1; ; tries += 1) {
      const n = workers.length + 1;
      const metricsPort = extra.METRICS_PORT ?? String(await freePort());
      const proc = startProcess({ name: `worker-${n}`, command: process.execPath, args: [WORKER_MAIN], env: { ...env, METRICS_PORT: metricsPort, ...extra }, logFile: join(logDir, `worker-${n}${tries > 1 ? `-try${tries}` : ''}.log`), cwd: ROOT });
      const w: StackWorker = Object.assign(proc, { metricsUrl: `http://127.0.0.1:${metricsPort}` });
      workers.push(w);
      try {
        // workers/main.ts logs this once its Temporal worker is created and about to poll.
        await waitFor(`worker-${n} to start polling`, w, timeout, () => w.log().includes('"msg":"worker running"'));
        return w;
      } catch (err) {
        const portTaken = w.exitCode() !== null && w.log().includes('EADDRINUSE') && extra.METRICS_PORT === undefined;
        if (!portTaken || tries >= 3) throw err;
        workers.splice(workers.indexOf(w), 1);
      }
    }
  };
  const port = await freePort();
  const apiUrl = opts.api === false ? '' : `http://127.0.0.1:${port}`;
  let apiStarts = 0;
  const startApi = async (extra: Record<string, string> = {}) => {
    apiStarts += 1;
    const apiEnv = { ...env, PORT: String(port), HOST: '127.0.0.1', QUOTAFLOW_OPERATOR_KEY: operatorKey, ...extra };
    const proc = startProcess({ name: 'api', command: process.execPath, args: [API_MAIN], env: apiEnv, logFile: join(logDir, `api-${apiStarts}.log`), cwd: ROOT });
    api = proc;
    // /health answers 200 once the API reaches both Postgres and Temporal.
    await waitFor('the API to answer /health', proc, timeout, async () => (await fetch(`${apiUrl}/health`, { signal: AbortSignal.timeout(5_000) })).status === 200);
    return proc;
  };
  try {
    // Started together (each takes a few seconds to load the workflow bundle), waited for together.
    await Promise.all(Array.from({ length: opts.workers ?? 2 }, () => addWorker()));
    if (opts.api !== false) await startApi();
    return {
      apiUrl, operatorKey, databaseUrl, taskQueue, temporal, workers, env,
      get api() { return api; },
      http: httpClient(apiUrl),
      addWorker,
      startApi,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

export interface HttpResponse {
  status: number;
  body: any;
}

/** JSON over HTTP to the API, with a key and, for POSTs that create or move money, an Idempotency-Key. */
export interface HttpClient {
  get(path: string, key: string): Promise<HttpResponse>;
  post(path: string, key: string, body: unknown, idempotencyKey?: string): Promise<HttpResponse>;
  put(path: string, key: string, body: unknown): Promise<HttpResponse>;
}

export function httpClient(baseUrl: string): HttpClient {
  const call = async (method: string, path: string, key: string, body?: unknown, idempotencyKey?: string): Promise<HttpResponse> => {
    const headers: Record<string, string> = { Authorization: `Bearer ${key}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    const res = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed };
  };
  return {
    get: (path, key) => call('GET', path, key),
    post: (path, key, body, idem) => call('POST', path, key, body, idem),
    put: (path, key, body) => call('PUT', path, key, body),
  };
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tier through \`npm run test:cluster\` or \`npm run test:system\` (their global setup sets it)`);
  return v;
}

// The parent's environment minus quotaflow's own settings, so nothing set for the test run (a
// DATABASE_URL, a TEMPORAL_ADDRESS) leaks into a process that should only see the stack's.
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(TEMPORAL_|QUOTAFLOW_|DATABASE_URL$|PORT$|HOST$|POSTGRES_PORT$|JEST_|NODE_OPTIONS$)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}
