import type { Knex } from 'knex';

// Core schema: accounts, API keys and idempotent requests, the subscription read model with its
// history, the notification outbox, servers and bindings. Money tables live in the payments
// migration. Instants are timestamptz (R-T1), money numeric (R-M1).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('accounts', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.string('currency', 3).notNullable().defaultTo('USD');
    t.text('customer_level').notNullable().defaultTo('standard'); // R-A4
    t.boolean('auto_binding').notNullable().defaultTo(false); // R-Q2
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table accounts add constraint accounts_level_chk check (customer_level in ('standard','key_account'))`);

  await knex.schema.createTable('api_keys', (t) => {
    t.text('id').primary();
    t.text('account_id').nullable().references('accounts.id'); // null = operator key
    t.text('scope').notNullable(); // customer | operator
    t.text('key_hash').notNullable().unique(); // sha256 of the secret; the secret is shown once
    t.text('label');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
  });

  // Idempotency-Key: one row per (key owner, key); the stored response is replayed.
  await knex.schema.createTable('idempotent_requests', (t) => {
    t.text('principal').notNullable();
    t.text('idempotency_key').notNullable();
    t.text('method').notNullable();
    t.text('path').notNullable();
    t.text('body_hash').notNullable();
    t.integer('status_code');
    t.jsonb('response_body');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('completed_at', { useTz: true });
    t.primary(['principal', 'idempotency_key']);
  });

  // Read model of the subscription workflows; written only by activities. `seq` orders the
  // workflow's writes so a retried (stale) activity never moves the row backwards.
  await knex.schema.createTable('subscriptions', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('accounts.id');
    t.text('product').notNullable();
    t.text('edition').notNullable();
    t.text('region').notNullable();
    t.integer('quantity').notNullable();
    t.text('billing_mode').notNullable();
    t.text('status').notNullable();
    t.boolean('trial').notNullable().defaultTo(false);
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('anchor_at', { useTz: true }).notNullable(); // R-T2 renewals count from here
    t.integer('months_from_anchor').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.boolean('auto_renew').notNullable().defaultTo(false);
    t.date('deduction_date');
    t.text('renewal_unit').notNullable();
    t.integer('renewal_count').notNullable();
    t.integer('term_number').notNullable().defaultTo(1);
    t.timestamp('grace_ends_at', { useTz: true });
    t.timestamp('frozen_ends_at', { useTz: true });
    t.timestamp('ended_at', { useTz: true });
    t.text('workflow_id').notNullable().unique();
    t.bigInteger('seq').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id', 'status']);
  });
  await knex.raw(`alter table subscriptions add constraint subscriptions_status_chk
    check (status in ('trial','active','grace','frozen','isolated','released','unsubscribed'))`);
  await knex.raw(`alter table subscriptions add constraint subscriptions_quantity_chk check (quantity > 0)`);

  // R-S2: one free trial per account, enforced by the primary key (two racing trial purchases
  // cannot both win).
  await knex.schema.createTable('trial_claims', (t) => {
    t.text('account_id').primary().references('accounts.id');
    t.text('subscription_id').notNullable();
    t.timestamp('claimed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // Timeline: state changes, deduction attempts, payments, notifications (API: /timeline).
  await knex.schema.createTable('subscription_events', (t) => {
    t.bigIncrements('id');
    t.text('subscription_id').notNullable().references('subscriptions.id');
    t.bigInteger('seq').notNullable();
    t.text('type').notNullable(); // status_changed | deduction_attempt | payment | ...
    t.text('status');
    t.timestamp('at', { useTz: true }).notNullable();
    t.jsonb('details').notNullable().defaultTo('{}');
    t.unique(['subscription_id', 'seq', 'type']);
  });

  // R-S10 outbox: written in the same transaction as the state change it reports; a sender
  // delivers and marks it. `dedupe_key` makes the write idempotent.
  await knex.schema.createTable('notifications', (t) => {
    t.bigIncrements('id');
    t.text('account_id').notNullable().references('accounts.id');
    t.text('subscription_id');
    t.text('channel').notNullable(); // email | sms | in_app
    t.text('template').notNullable();
    t.jsonb('payload').notNullable();
    t.text('dedupe_key').notNullable();
    t.text('status').notNullable().defaultTo('pending'); // pending | sent | failed
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('sent_at', { useTz: true });
    t.unique(['dedupe_key', 'channel']);
    t.index(['account_id', 'created_at']);
    t.index(['status']);
  });

  await knex.schema.createTable('servers', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('accounts.id');
    t.text('region').notNullable();
    t.text('kind').notNullable(); // host | container
    t.text('agent').notNullable(); // online | offline
    t.text('power').notNullable().defaultTo('running'); // running | stopped
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // R-Q1/Q3/Q4: a quota protects one server; `suspended_at` remembers a binding while frozen.
  await knex.schema.createTable('bindings', (t) => {
    t.text('id').primary();
    t.text('subscription_id').notNullable().references('subscriptions.id');
    t.text('server_id').notNullable().references('servers.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('suspended_at', { useTz: true });
    t.timestamp('deleted_at', { useTz: true });
  });
  await knex.raw(`create unique index bindings_server_live on bindings (server_id) where deleted_at is null`);
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['bindings', 'servers', 'notifications', 'subscription_events', 'trial_claims', 'subscriptions', 'idempotent_requests', 'api_keys', 'accounts']) {
    await knex.schema.dropTableIfExists(t);
  }
}
