import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../../common/search-attributes';

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
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: testServerPath() } } });
  const searchAttributes: Record<string, number> = {};
  for (const k of SEARCH_ATTRIBUTES) searchAttributes[k.name] = INDEXED_VALUE_TYPE[k.type];
  await env.connection.operatorService.addSearchAttributes({ namespace: env.namespace ?? 'default', searchAttributes });
  return env;
}

let bundle: Promise<{ code: string }> | null = null;
/** The workflow bundle, built once per test file. */
export function workflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never });
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
