import type { Knex } from 'knex';

// Issue #15, "notifications that arrive" and "resource status change calls":
// - accounts carry an email, a phone (E.164) and the language their messages are written in;
// - the in-app inbox has read/unread (`read_at`);
// - the sandbox SMS provider keeps what it would send (operators read it through the API);
// - status changes (R-I4) are events with a stable id, fanned out to the operators' endpoints as
//   deliveries; every attempt is logged.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.text('email');
    t.text('phone');
    t.text('language').notNullable().defaultTo('en'); // en | zh-CN
  });
  await knex.schema.alterTable('notifications', (t) => {
    t.timestamp('read_at', { useTz: true });
  });
  await knex.raw(`create index notifications_unread_idx on notifications (account_id, channel) where read_at is null`);

  await knex.schema.createTable('sandbox_sms_messages', (t) => {
    t.bigIncrements('id');
    t.bigInteger('notification_id').notNullable().unique(); // one message per outbox row, even when retried
    t.text('account_id').notNullable().references('accounts.id');
    t.text('phone').notNullable();
    t.text('template').notNullable();
    t.text('language').notNullable();
    t.text('body').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id', 'id']);
  });

  await knex.schema.createTable('webhook_endpoints', (t) => {
    t.text('id').primary();
    t.text('url').notNullable();
    t.jsonb('events').notNullable(); // ["resource.freeze", ...] or ["*"]
    t.text('secret').notNullable(); // needed to sign; never answered by the API
    t.text('description');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('deleted_at', { useTz: true });
  });

  // R-I4: one row per state change; the id is derived from the step that caused it, so a retried
  // write inserts nothing new and a receiver deduplicates on it.
  await knex.schema.createTable('status_change_events', (t) => {
    t.text('id').primary();
    t.text('type').notNullable();
    t.text('account_id').notNullable();
    t.text('subscription_id');
    t.jsonb('data').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('acknowledged_at', { useTz: true }); // every endpoint that wanted it answered 2xx
    t.index(['type', 'acknowledged_at']);
    t.index(['account_id', 'created_at']);
  });

  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.bigIncrements('id');
    t.text('event_id').notNullable().references('status_change_events.id');
    t.text('endpoint_id').notNullable().references('webhook_endpoints.id');
    t.text('status').notNullable().defaultTo('pending'); // pending | delivered | failed
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('give_up_at', { useTz: true }).notNullable(); // created + 3 days
    t.integer('last_status_code');
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('delivered_at', { useTz: true });
    t.unique(['event_id', 'endpoint_id']);
    t.index(['endpoint_id', 'id']);
  });
  await knex.raw(`create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where status = 'pending'`);

  await knex.schema.createTable('webhook_attempts', (t) => {
    t.bigIncrements('id');
    t.bigInteger('delivery_id').notNullable().references('webhook_deliveries.id');
    t.integer('attempt').notNullable();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer('status_code');
    t.text('error');
    t.integer('duration_ms').notNullable();
    t.index(['delivery_id', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['webhook_attempts', 'webhook_deliveries', 'status_change_events', 'webhook_endpoints', 'sandbox_sms_messages']) {
    await knex.schema.dropTableIfExists(t);
  }
  await knex.raw('drop index if exists notifications_unread_idx');
  await knex.schema.alterTable('notifications', (t) => t.dropColumn('read_at'));
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('email');
    t.dropColumn('phone');
    t.dropColumn('language');
  });
}
