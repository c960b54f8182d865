// `npm run test:system`: quotaflow's compiled workers and API as separate OS processes on the
// Temporal dev server (the one `npm start` runs), with Postgres: where races between processes
// show (issue #11) and where processes are killed and restarted (issue #13). See docs/testing.md.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/system'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  globalSetup: '<rootDir>/test/system/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/system/support/global-teardown.ts',
  // One file at a time: on 2 cores Temporal, Postgres, two workers and the API already share them.
  maxWorkers: 1,
  testTimeout: 300000,
};
