import type { Knex } from 'knex';

// The read model's terms (issue #6): one row per paid or trial term of a subscription, written
// by the read-model activity in the same statement as the subscription row (activities/
// subscriptions/subscription-read-model.ts). `seq` keeps a stale write from moving a row back.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('subscription_terms', (t) => {
    t.text('subscription_id').notNullable().references('subscriptions.id');
    t.integer('term_number').notNullable();
    t.text('kind').notNullable(); // purchase | trial | renewal | manual_renewal
    t.text('edition').notNullable(); // the edition now (an upgrade changes the current term's)
    t.timestamp('starts_at', { useTz: true }).notNullable();
    t.timestamp('ends_at', { useTz: true }).notNullable();
    t.text('order_id'); // the order that paid it; null for a trial
    t.integer('seq').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.primary(['subscription_id', 'term_number']);
  });
  // Subscriptions that exist already and are still in their first term: that term's start is
  // exactly started_at. A later term's start isn't stored on the subscription row (manual renewals
  // can change the term length), so its row is written by the workflow's next step, which carries
  // the term's own start.
  await knex.raw(`insert into subscription_terms (subscription_id, term_number, kind, edition, starts_at, ends_at, order_id, seq, created_at)
    select id, 1, case when trial then 'trial' else 'purchase' end, edition, started_at, expires_at, null, seq, updated_at
      from subscriptions where term_number = 1`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('subscription_terms');
}
