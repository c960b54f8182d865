import type { Knex } from 'knex';

// R-U2 at rest: an account with nothing to settle (no pay-per-use period open, no usage record
// waiting) stops settling empty hours. The settlement that finds it so sets `dormant_since` (the
// end of the hour it settled) under the account's exclusive usage lock; whoever next writes a
// billable fact (a usage record, an enabled protection) clears it under the shared lock and wakes
// the account workflow before committing. See docs/pay-per-use.md.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('usage_accounts', (t) => {
    t.timestamp('dormant_since', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('usage_accounts', (t) => {
    t.dropColumn('dormant_since');
  });
}
