import type { Knex } from 'knex';

// Issue #11 (money stays right when rules combine):
// - refund_batches: an unsubscribe refunds every order still covering service, all or nothing,
//   under one key (R-S11); the row marks the batch done, even when nothing was due back.
// - subscriptions: what the forecast needs (last attempt, arrears periods and policy), so the
//   list answers the same forecast as the item (billing/renewal-schedule subscriptionForecast).
// - bill_lines: quantities wide enough that no accepted usage can overflow a line (defect 6).
// - workflow_signals: an outbox of signals (a top-up's R-S6/R-U5 signal), written with the money
//   movement and delivered until Temporal takes it (defect 10).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('refund_batches', (t) => {
    t.text('idempotency_key').primary();
    t.text('account_id').notNullable().references('accounts.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.alterTable('subscriptions', (t) => {
    t.timestamp('last_attempt_at', { useTz: true });
    t.integer('grace_days');
    t.integer('retention_days');
    t.text('arrears_policy');
  });
  // Rows written before: the periods their account's level had by default (R-A4) and the
  // product's policy (R-S9); the next workflow step writes the exact values.
  await knex.raw(`
    update subscriptions s set
      arrears_policy = case when s.product = 'workload-protection' then 'isolate' else 'grace_then_freeze' end,
      grace_days = case when a.customer_level = 'key_account' then 30 else 15 end,
      retention_days = case when a.customer_level = 'key_account' then 30 else 15 end
    from accounts a where a.id = s.account_id`);

  await knex.schema.alterTable('bill_lines', (t) => {
    t.decimal('quantity', 38, 6).notNullable().alter();
    t.decimal('covered', 38, 6).notNullable().defaultTo(0).alter();
    t.decimal('billed_quantity', 38, 6).notNullable().alter();
    t.decimal('amount', 44, 12).notNullable().alter();
  });

  await knex.schema.createTable('workflow_signals', (t) => {
    t.bigIncrements('id');
    t.text('workflow_id').notNullable();
    t.text('signal').notNullable();
    t.jsonb('payload').notNullable();
    t.text('status').notNullable().defaultTo('pending'); // pending | delivered | skipped
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('delivered_at', { useTz: true });
  });
  await knex.raw(`create index workflow_signals_pending on workflow_signals (next_attempt_at) where status = 'pending'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('workflow_signals');
  await knex.schema.alterTable('subscriptions', (t) => {
    t.dropColumn('last_attempt_at');
    t.dropColumn('grace_days');
    t.dropColumn('retention_days');
    t.dropColumn('arrears_policy');
  });
  await knex.schema.dropTableIfExists('refund_batches');
}
