import type { Knex } from 'knex';

// R-S12 with R-Q1: an upgrade under way. The upgrade activity sets `pending_edition` under the
// subscription row's lock, in the same transaction as its check of the bound servers; a bind
// (which takes the same lock) must then suit both editions, so no server the new edition can't
// protect is bound between that check and the read-model write of the new edition, which clears
// it. A failed charge clears it too.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('subscriptions', (t) => {
    t.text('pending_edition');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('subscriptions', (t) => {
    t.dropColumn('pending_edition');
  });
}
