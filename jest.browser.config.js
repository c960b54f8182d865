/**
 * `npm run test:browser`: the Billing Center in Chromium (test/browser), against the real API,
 * worker, Postgres and Temporal test server, like the API tests. One file at a time: each
 * starts a JVM and a browser, and the machine has 2 cores.
 * @type {import('jest').Config}
 */
module.exports = {
  ...require('./jest.config.js'),
  roots: ['<rootDir>/test/browser'],
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
  testTimeout: 180000,
};
