import type { Knex } from 'knex';

// Servers and bindings (SPEC §6): the pieces the core migration left out.
//
// `subscription_binding_holds` (R-Q4): one row while a subscription's bindings are held by its
// workflow — `suspended` (frozen / isolated: unbound, remembered for a restore) or `deleted`
// (released / unsubscribed). The workflow unbinds *before* it records its new status, so the
// read model's status alone would let a bind slip in between and leave a live binding on a
// frozen or released quota. The hold is written in the same transaction as the unbinding, under
// the subscription row lock that binding also takes, so a bind sees either the hold or a
// binding that the unbinding then catches. No row = bindings are live.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('subscription_binding_holds', (t) => {
    // No foreign key: the workflow's unbind activities must never fail on a missing read-model row.
    t.text('subscription_id').primary();
    t.text('state').notNullable(); // suspended | deleted
    t.timestamp('held_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table subscription_binding_holds add constraint subscription_binding_holds_chk check (state in ('suspended','deleted'))`);

  // R-Q3: counting a quota's live bindings, and a subscription's binding list.
  await knex.raw(`create index bindings_subscription_live on bindings (subscription_id, created_at, id) where deleted_at is null`);
  // Keyset pagination of an account's servers (GET /v1/servers).
  await knex.raw(`create index servers_account_created on servers (account_id, created_at, id)`);
  await knex.raw(`alter table servers add constraint servers_chk check (kind in ('host','container') and agent in ('online','offline') and power in ('running','stopped'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table servers drop constraint if exists servers_chk');
  await knex.raw('drop index if exists servers_account_created');
  await knex.raw('drop index if exists bindings_subscription_live');
  await knex.schema.dropTableIfExists('subscription_binding_holds');
}
