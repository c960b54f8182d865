/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The cluster, system and browser tiers run apart, each with its own config and command
  // (npm run test:cluster, test:system, test:browser).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cluster/', '<rootDir>/test/browser/', '<rootDir>/test/system/'],
  // Type checking is `npm run typecheck`'s job; tests transpile only, which keeps them fast.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // 2-core machines: each file may start its own Temporal test server (a JVM).
  maxWorkers: process.env.JEST_MAX_WORKERS || 2,
  testTimeout: 120000,
};
