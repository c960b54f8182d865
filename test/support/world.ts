import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, WorkerOptions } from '@temporalio/worker';
import { createPaymentEngine, PaymentEngine } from '../../payments/payment-engine';
import { createSandboxGateway, SandboxCardGateway } from '../../payments/sandbox-gateway';
import { DEFAULT_ARREARS } from '../../billing/renewal-schedule';
import { defaultCatalog } from '../../catalog/catalog';
import type { Db } from '../../common/db';
import { newId } from '../../common/ids';
import { createWorker } from '../../workers/worker';
import { createActivities } from '../../activities';
import { createTestDb } from './db';
import { createTimeSkippingEnv, workflowBundle } from './temporal';

type Activities = ReturnType<typeof createActivities>;

export const OFFSET_MINUTES = 480; // R-T1 default +08:00
export const TASK_QUEUE = 'quotaflow-test';

/**
 * Everything a lifecycle test runs against, all real: a migrated Postgres database, the
 * payment engine with the sandbox gateway, the time-skipping Temporal server and a worker.
 */
export interface World {
  db: Db;
  env: TestWorkflowEnvironment;
  payments: PaymentEngine;
  gateway: SandboxCardGateway;
  worker: Worker;
  /** Runs `fn` (the worker polls for the whole file, from createWorld to close). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function createWorld(opts: {
  workerOverrides?: Partial<WorkerOptions>;
  /** Fault injection: the worker runs these activities instead of the real ones it is given. */
  wrapActivities?: (real: Activities) => Activities;
  /** Fault injection: workflow interceptor modules bundled with the workflows. */
  workflowInterceptorModules?: string[];
} = {}): Promise<World> {
  const [t, env, bundle] = await Promise.all([createTestDb(), createTimeSkippingEnv(), workflowBundle(opts.workflowInterceptorModules)]);
  const gateway = createSandboxGateway();
  // Activities read the time-skipping server's clock, so coupon/discount validity follows the
  // workflow's virtual time.
  const payments = createPaymentEngine({ db: t.db, gateway, clock: { now: () => new Date() } });
  const deps = { db: t.db, payments, catalog: defaultCatalog };
  const worker = await createWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: TASK_QUEUE,
    deps,
    workflowBundle: bundle,
    overrides: opts.wrapActivities ? { ...opts.workerOverrides, activities: opts.wrapActivities(createActivities(deps)) } : opts.workerOverrides,
  });
  const running = worker.run();
  return {
    db: t.db,
    env,
    payments,
    gateway,
    worker,
    run: (fn) => fn(),
    async close() {
      worker.shutdown();
      await running;
      await env.teardown();
      await t.drop();
    },
  };
}

/** Test data builder: an account with optional cash. */
export async function anAccount(world: Pick<World, 'db' | 'payments'>, opts: { cash?: string; level?: 'standard' | 'key_account'; name?: string } = {}): Promise<string> {
  const id = newId('acc');
  await world.db('accounts').insert({ id, name: opts.name ?? 'Test account', currency: 'USD', customer_level: opts.level ?? 'standard' });
  if (opts.cash) await world.payments.topUp({ accountId: id, amount: opts.cash, idempotencyKey: `seed:${id}` });
  return id;
}

export const settingsFor = (level: 'standard' | 'key_account', policy: 'grace_then_freeze' | 'isolate' = 'grace_then_freeze') => ({
  offsetMinutes: OFFSET_MINUTES,
  ...DEFAULT_ARREARS[level],
  policy,
});
