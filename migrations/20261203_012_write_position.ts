import type { Knex } from 'knex';

// Issue #13 (scenario 6): which workflow task wrote a subscription's row, its current term, and an
// account's pay-per-use row.
// A task lost with its worker may have written steps that its rerun, taking the same updates in
// another order, numbers differently; the rerun's writes (a later task of the same run, or a
// later run) replace them even where the lost task had reached a higher seq. See
// store/subscriptions.store.ts. Rows written before this have no position and compare by seq.
export async function up(knex: Knex): Promise<void> {
  for (const table of ['subscriptions', 'subscription_terms', 'usage_accounts']) {
    await knex.schema.alterTable(table, (t) => {
      t.bigInteger('written_run').nullable(); // the run's start (ms): runs of one workflow follow each other
      t.integer('written_task').nullable(); // the history length when the writing task started
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['subscriptions', 'subscription_terms', 'usage_accounts']) {
    await knex.schema.alterTable(table, (t) => {
      t.dropColumn('written_run');
      t.dropColumn('written_task');
    });
  }
}
