import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

// Issue #3 item 7: workflow code is bundled once at build time; the worker loads the file.
export const WORKFLOW_BUNDLE_PATH = join(__dirname, '..', 'workflow-bundle.js');

export async function bundleWorkflows(): Promise<string> {
  const quiet = { trace() {}, debug() {}, info() {}, log() {}, warn: console.warn, error: console.error };
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quiet as never });
  return code;
}

if (require.main === module) {
  bundleWorkflows()
    .then((code) => {
      mkdirSync(dirname(WORKFLOW_BUNDLE_PATH), { recursive: true });
      writeFileSync(WORKFLOW_BUNDLE_PATH, code);
      process.stderr.write(`workflow bundle written: ${WORKFLOW_BUNDLE_PATH} (${Math.round(code.length / 1024)} KiB)\n`);
    })
    .catch((err) => {
      process.stderr.write(`workflow bundling failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
}
