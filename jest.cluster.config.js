// `npm run test:cluster`: quotaflow's compiled worker and API as separate processes against
// the real Temporal server (PostgreSQL persistence, SQL visibility), not the dev or test server.
// See docs/testing.md. `npm test` leaves test/cluster/ out.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/cluster'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  globalSetup: '<rootDir>/test/cluster/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/cluster/support/global-teardown.ts',
  // One file at a time: on 2 cores the server, Postgres, two workers and the API already share them.
  maxWorkers: 1,
  testTimeout: 180000,
};
