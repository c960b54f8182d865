// The floors of STYLE.md, enforced (issue #12): data flows api → Temporal → workflows → activities
// → payments/store → Postgres/gateway; billing/ (the SPEC rules) is under everything and does no
// I/O. test/platform/layers.test.ts shows that each rule fails a forbidden import.
const TYPES = ['type-only'];
module.exports = {
  forbidden: [
    { name: 'billing-is-pure', severity: 'error', comment: 'billing/ holds the SPEC rules as plain functions: no I/O, no Temporal, nothing above it',
      from: { path: '^billing/' }, to: { path: '^(activities|api|app|payments|store|workers|workflows|common|migrations)/|node_modules/(knex|pg|express|pino|@temporalio)' } },
    { name: 'workflows-are-deterministic', severity: 'error', comment: 'workflows import billing/, catalog/, their own messages and types, @temporalio/workflow and the types of activities — nothing that does I/O',
      from: { path: '^workflows/' }, to: { path: '^(api|app|payments|store|workers|migrations|common)/|node_modules/(knex|pg|express|pino|@temporalio/(client|worker|activity))', dependencyTypesNot: TYPES } },
    { name: 'workflows-activities-type-only', severity: 'error', from: { path: '^workflows/' }, to: { path: '^activities/', dependencyTypesNot: TYPES } },
    { name: 'activities-not-api', severity: 'error', comment: 'activities are thin Temporal adapters over payments/ and store/',
      from: { path: '^activities/' }, to: { path: '^(api|app|workers)/' } },
    { name: 'api-not-activities', severity: 'error', comment: 'the API reaches activities only through workflows; it reads through store/ and moves money through payments/',
      from: { path: '^api/' }, to: { path: '^(activities|workers)/', dependencyTypesNot: TYPES } },
    { name: 'store-is-a-floor', severity: 'error', comment: 'store/ is Postgres by aggregate, under both the API and the activities',
      from: { path: '^store/' }, to: { path: '^(api|app|activities|workflows|workers|payments)/', dependencyTypesNot: TYPES } },
    { name: 'payments-is-a-floor', severity: 'error', comment: 'payments/ is the payment engine, under both the API and the activities',
      from: { path: '^payments/' }, to: { path: '^(api|app|activities|workflows|workers)/', dependencyTypesNot: TYPES } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|test|web)/' },
  },
};
