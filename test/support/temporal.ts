import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../common/net';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

// Same location scripts/setup-temporal.mjs provisions (`npm test` runs it first).
function testServerPath(): string {
  if (process.env.TEMPORAL_TEST_SERVER_PATH) return process.env.TEMPORAL_TEST_SERVER_PATH;
  const cache = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');
  const p = join(cache, 'temporal-test-server-1.38.0', 'temporal-test-server');
  if (!existsSync(p)) throw new Error(`no time-skipping test server at ${p}: run \`npm run setup:temporal -- --test-server\` (npm test does)`);
  return p;
}

const INDEXED_VALUE_TYPE: Record<string, number> = { TEXT: 1, KEYWORD: 2, INT: 3, DOUBLE: 4, BOOL: 5, DATETIME: 6, KEYWORD_LIST: 7 };

/**
 * The time-skipping test server (Java, run through the cached wrapper), with quotaflow's
 * search attributes registered: it knows none until told, and a workflow that upserts an
 * unknown one fails its task forever.
 *
 * We start the JVM ourselves instead of letting the SDK do it: the SDK gives an ephemeral
 * server 5 s to come up, and a JVM on a busy 2-core CI machine (two jest workers, each with its
 * own server) can take longer. Here it gets a minute, then the SDK connects to it as usual.
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const port = await freePort();
  const child = spawn(testServerPath(), [String(port)], { stdio: 'ignore', detached: false });
  let exited = false;
  child.on('exit', () => { exited = true; });
  const address = `127.0.0.1:${port}`;
  try {
    await waitForServer(address, () => exited, 60_000);
    // `create` is the SDK's own constructor path; `existing` + time skipping is what
    // createTimeSkipping does after it has spawned the server itself.
    const create = (TestWorkflowEnvironment as unknown as { create(o: object): Promise<TestWorkflowEnvironment> }).create.bind(TestWorkflowEnvironment);
    const env = await create({ server: { type: 'existing' }, supportsTimeSkipping: true, namespace: 'default', address, connectionOptions: {} });
    const searchAttributes: Record<string, number> = {};
    for (const k of SEARCH_ATTRIBUTES) searchAttributes[k.name] = INDEXED_VALUE_TYPE[k.type];
    await env.connection.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes });
    // The server starts at the real time. QUOTAFLOW_TEST_CLOCK_SKIP_HOURS starts it that much
    // later, to check that no test depends on the time of day CI happens to run at.
    const skipHours = Number(process.env.QUOTAFLOW_TEST_CLOCK_SKIP_HOURS ?? 0);
    if (skipHours > 0) await env.sleep(skipHours * 3_600_000);
    const teardown = env.teardown.bind(env);
    env.teardown = async () => {
      await teardown();
      child.kill('SIGTERM');
    };
    return env;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

async function waitForServer(address: string, exited: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited()) throw new Error(`the time-skipping test server at ${address} exited during start-up`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the time-skipping test server at ${address} did not start within ${timeoutMs} ms: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

let bundle: Promise<{ code: string }> | null = null;
/**
 * The workflow bundle, built once per test file. With workflow interceptor modules (fault
 * injection) it is built for that caller alone.
 */
export function workflowBundle(interceptorModules: string[] = []): Promise<{ code: string }> {
  quietRuntime();
  const build = () => bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    workflowInterceptorModules: interceptorModules,
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never,
  });
  if (interceptorModules.length > 0) return build();
  bundle ??= build();
  return bundle;
}

/** Worker state changes at INFO drown test output; keep warnings and errors. Once per process. */
function quietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.TEMPORAL_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN') });
  } catch {
    /* already installed by an earlier test file in this jest worker */
  }
}
