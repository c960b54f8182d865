// The layer table of STYLE.md, enforced: data flows api → client → workflow → activities → db.
module.exports = {
  forbidden: [
    { name: 'billing-is-pure', severity: 'error', comment: 'billing/ holds the SPEC rules as plain functions: no I/O, no Temporal',
      from: { path: '^billing/' }, to: { path: '^(activities|api|workers|workflows|common|migrations)/|node_modules/(knex|pg|express|@temporalio)' } },
    { name: 'workflows-no-infrastructure', severity: 'error', comment: 'workflows are deterministic: import activities by type only',
      from: { path: '^workflows/' }, to: { path: '^(api|workers|migrations)/|^common/(db|config|embedded-postgres|temporal-dev-server|logger)|node_modules/(knex|pg|express|pino|@temporalio/(client|worker|activity))', dependencyTypesNot: ['type-only'] } },
    { name: 'workflows-activities-type-only', severity: 'error', from: { path: '^workflows/' }, to: { path: '^activities/', dependencyTypesNot: ['type-only'] } },
    { name: 'activities-not-api', severity: 'error', from: { path: '^activities/' }, to: { path: '^(api|workers)/' } },
    { name: 'store-is-a-floor', severity: 'error', comment: 'store/ is Postgres by aggregate, under both the API and the activities',
      from: { path: '^store/' }, to: { path: '^(api|activities|workflows|workers)/', dependencyTypesNot: ['type-only'] } },
    { name: 'api-not-activities', severity: 'error', comment: 'the API reaches activities only through workflows (payments engine excepted: top-ups and reads; and the usage repository: R-U3 writes usage facts straight to Postgres, never one workflow message per record)',
      from: { path: '^api/' }, to: { path: '^activities/(?!payments/|usage/usage\\.repository)' , dependencyTypesNot: ['type-only'] } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|test)/' },
  },
};
