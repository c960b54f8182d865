// ESLint flat config. Two rules matter most here:
// - no-floating-promises everywhere: an unawaited activity or DB call is a lost write.
// - inside workflows/: no Node built-ins and no infrastructure modules (determinism, R-T3).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['assert', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'events', 'fs', 'http', 'http2', 'https', 'net', 'os', 'path', 'perf_hooks', 'process', 'readline', 'stream', 'timers', 'tls', 'url', 'util', 'v8', 'vm', 'worker_threads', 'zlib'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.data/**', 'eslint.config.mjs', 'jest.config.js', 'jest.cluster.config.js', 'jest.browser.config.js', 'jest.system.config.js', '.dependency-cruiser.cjs', 'scripts/*.mjs', 'test/history/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts', 'billing/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          ...nodeBuiltins.flatMap((m) => [{ name: m, message: 'workflow code must be deterministic: no Node built-ins' }, { name: `node:${m}`, message: 'workflow code must be deterministic: no Node built-ins' }]),
          { name: 'knex', message: 'workflows reach the database only through activities' },
          { name: 'pg', message: 'workflows reach the database only through activities' },
          { name: 'express', message: 'workflows know nothing of HTTP' },
          { name: '@temporalio/client', message: 'use @temporalio/workflow inside workflows' },
          { name: '@temporalio/worker', message: 'use @temporalio/workflow inside workflows' },
          { name: '@temporalio/activity', message: 'activities run in the worker, not in workflows' },
          { name: 'pino', message: 'use the workflow logger (log from @temporalio/workflow)' },
        ],
        patterns: [
          { group: ['../activities/*', '!../activities', '../api/*', '../workers/*', '../common/db', '../common/config', '../common/embedded-postgres'], message: 'workflow code imports only pure modules and `import type` of activities' },
        ],
      }],
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' }, { name: 'process', message: 'no process in workflow code' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'non-deterministic' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
