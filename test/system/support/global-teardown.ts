import { rmSync } from 'node:fs';
import type { SystemGlobals } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as SystemGlobals;
  try {
    await g.__quotaflowSystemTemporal?.stop();
  } finally {
    await g.__quotaflowSystemPg?.stop();
  }
  const runDir = process.env.QUOTAFLOW_STACK_RUN_DIR;
  if (runDir && !process.env.QUOTAFLOW_KEEP_STACK_LOGS) rmSync(runDir, { recursive: true, force: true });
  else if (runDir) process.stderr.write(`[system] logs kept in ${runDir}\n`);
}
