import type { Knex } from 'knex';

// Issue #15: email and SMS now go to real providers, so a failed send waits before it is tried
// again (an SMTP server down for a minute must not use up every attempt in ten seconds).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('notifications', (t) => {
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`create index notifications_due_idx on notifications (next_attempt_at) where status = 'pending'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists notifications_due_idx');
  await knex.schema.alterTable('notifications', (t) => t.dropColumn('next_attempt_at'));
}
