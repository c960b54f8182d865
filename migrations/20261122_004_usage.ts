import type { Knex } from 'knex';

// Pay-per-use schema (SPEC §7): protections and the periods they bill (R-U1), server power
// history (R-U1), usage records (R-U3), usage packages and their draws (R-U4), hourly bills with
// per-resource lines (R-U2), and each account's settlement watermark and arrears state (R-U5),
// which is the read model of its `account-<id>` workflow. Money numeric(20,2); unit prices,
// quantities and unrounded line amounts numeric(20,6) (R-M1, R-M2); instants timestamptz (R-T1).
const MONEY = [20, 2] as const;
const FINE = [20, 6] as const;

export async function up(knex: Knex): Promise<void> {
  // One row per account that uses pay-per-use. `settled_through` is the end of the last settled
  // hour: a record that arrives for an hour already settled is billed in the next settlement.
  await knex.schema.createTable('usage_accounts', (t) => {
    t.text('account_id').primary().references('accounts.id');
    t.text('workflow_id').notNullable();
    t.timestamp('workflow_started_at', { useTz: true });
    t.timestamp('settled_through', { useTz: true });
    t.text('arrears_status').notNullable().defaultTo('none'); // none | grace | frozen | released
    t.timestamp('arrears_since', { useTz: true });
    t.timestamp('grace_ends_at', { useTz: true });
    t.timestamp('frozen_ends_at', { useTz: true });
    t.decimal('outstanding', ...MONEY).notNullable().defaultTo(0);
    t.bigInteger('seq').notNullable().defaultTo(0); // orders the workflow's writes
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table usage_accounts add constraint usage_accounts_chk check (
    arrears_status in ('none','grace','frozen','released') and outstanding >= 0)`);

  // R-U1: pay-per-use protection of one server. The hourly price is fixed when it is enabled.
  await knex.schema.createTable('pay_per_use_protections', (t) => {
    t.text('id').primary();
    t.bigIncrements('seq', { primaryKey: false });
    t.text('account_id').notNullable().references('accounts.id');
    t.text('server_id').notNullable().references('servers.id');
    t.text('product').notNullable();
    t.text('edition').notNullable();
    t.integer('quantity').notNullable();
    t.decimal('hourly_price', ...FINE).notNullable();
    t.text('status').notNullable(); // active | frozen (R-U5) | disabled | released (R-U5)
    t.timestamp('enabled_at', { useTz: true }).notNullable();
    t.timestamp('disabled_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['account_id', 'seq']);
  });
  await knex.raw(`alter table pay_per_use_protections add constraint pay_per_use_protections_chk check (
    quantity > 0 and hourly_price >= 0 and status in ('active','frozen','disabled','released')
    and (disabled_at is null) = (status in ('active','frozen')))`);
  // One live pay-per-use protection per server.
  await knex.raw(`create unique index pay_per_use_one_per_server on pay_per_use_protections (server_id) where disabled_at is null`);

  // R-U1 / R-U5: the stretches a protection bills: opened on enable (and on restore after a
  // freeze), closed on disable, freeze or release. Settlement intersects them with power.
  await knex.schema.createTable('pay_per_use_periods', (t) => {
    t.bigIncrements('id');
    t.text('protection_id').notNullable().references('pay_per_use_protections.id');
    t.text('account_id').notNullable().references('accounts.id');
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('ended_at', { useTz: true });
    t.text('end_reason'); // disabled | frozen | released
    t.index(['account_id', 'started_at']);
  });
  await knex.raw(`create unique index pay_per_use_periods_open on pay_per_use_periods (protection_id) where ended_at is null`);
  await knex.raw(`alter table pay_per_use_periods add constraint pay_per_use_periods_chk check (ended_at is null or ended_at >= started_at)`);

  // R-U1: a server's power history (a stopped server accrues nothing).
  await knex.schema.createTable('server_power_events', (t) => {
    t.bigIncrements('id');
    t.text('server_id').notNullable().references('servers.id');
    t.text('account_id').notNullable().references('accounts.id');
    t.text('power').notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
    t.index(['server_id', 'at']);
  });
  await knex.raw(`alter table server_power_events add constraint server_power_events_chk check (power in ('running','stopped'))`);

  // R-U3: usage records, idempotent on (account, record id). `settlement_hour` is the hour whose
  // settlement bills the record, fixed on arrival (R-U3: late records go to the next settlement).
  await knex.schema.createTable('usage_records', (t) => {
    t.text('account_id').notNullable().references('accounts.id');
    t.text('id').notNullable();
    t.text('resource_id').notNullable();
    t.text('metric').notNullable();
    t.decimal('quantity', ...FINE).notNullable();
    t.timestamp('period_start', { useTz: true }).notNullable();
    t.timestamp('period_end', { useTz: true }).notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable();
    t.timestamp('settlement_hour', { useTz: true }).notNullable();
    t.primary(['account_id', 'id']);
    t.index(['account_id', 'settlement_hour']);
  });
  await knex.raw(`alter table usage_records add constraint usage_records_chk check (quantity >= 0 and period_end >= period_start)`);

  // R-U4: prepaid packages. What is left is derived: content − draws of the current period.
  await knex.schema.createTable('usage_packages', (t) => {
    t.text('id').primary();
    t.bigIncrements('seq', { primaryKey: false });
    t.text('account_id').notNullable().references('accounts.id');
    t.text('purchase_id').notNullable();
    t.text('metric').notNullable();
    t.decimal('content', ...FINE).notNullable();
    t.text('reset').notNullable(); // none | monthly | yearly
    t.text('term_unit').notNullable();
    t.integer('term_count').notNullable();
    t.timestamp('purchased_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.text('order_id');
    t.index(['account_id', 'metric', 'expires_at']);
    t.index(['purchase_id']);
  });
  await knex.raw(`alter table usage_packages add constraint usage_packages_chk check (
    content > 0 and reset in ('none','monthly','yearly') and expires_at > purchased_at)`);

  // R-U2: one bill per account per settled hour (the unique key makes settlement idempotent).
  await knex.schema.createTable('bills', (t) => {
    t.text('id').primary();
    t.bigIncrements('seq', { primaryKey: false });
    t.text('account_id').notNullable().references('accounts.id');
    t.timestamp('hour_start', { useTz: true }).notNullable();
    t.timestamp('hour_end', { useTz: true }).notNullable();
    t.string('currency', 3).notNullable();
    t.decimal('total', ...MONEY).notNullable();
    // pending (written) → paid | failed (a collection failed: arrears) | unpaid (billed while in
    // arrears: owed, collected with the whole outstanding amount, R-U5)
    t.text('status').notNullable();
    t.text('order_id');
    t.text('failure_code');
    t.text('failure_message');
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('paid_at', { useTz: true });
    t.unique(['account_id', 'hour_start']);
    t.index(['account_id', 'seq']);
  });
  await knex.raw(`alter table bills add constraint bills_chk check (total >= 0 and status in ('pending','paid','failed','unpaid'))`);

  // R-U1 / R-C4 / R-U4: per-resource lines. `amount` is unrounded (6 places shown); the bill's
  // total is their exact sum rounded once (R-M2).
  await knex.schema.createTable('bill_lines', (t) => {
    t.bigIncrements('id');
    t.text('bill_id').notNullable().references('bills.id');
    t.integer('line_no').notNullable();
    t.text('kind').notNullable(); // protection | usage
    t.text('resource_id').notNullable();
    t.text('protection_id');
    t.text('product');
    t.text('edition');
    t.text('metric');
    t.integer('seconds');
    t.decimal('quantity', ...FINE).notNullable();
    t.decimal('unit_price', ...FINE).notNullable();
    t.decimal('covered', ...FINE).notNullable().defaultTo(0); // drawn from packages (R-U4)
    t.decimal('billed_quantity', ...FINE).notNullable();
    t.decimal('amount', 30, 12).notNullable();
    t.unique(['bill_id', 'line_no']);
  });

  // R-U4: what each settlement drew from each package; `at` (the settled hour) decides which
  // reset period a draw counts against.
  await knex.schema.createTable('usage_package_draws', (t) => {
    t.bigIncrements('id');
    t.text('package_id').notNullable().references('usage_packages.id');
    t.text('bill_id').notNullable().references('bills.id');
    t.timestamp('at', { useTz: true }).notNullable();
    t.decimal('amount', ...FINE).notNullable();
    t.unique(['package_id', 'bill_id']);
    t.index(['package_id', 'at']);
  });
  await knex.raw(`alter table usage_package_draws add constraint usage_package_draws_chk check (amount > 0)`);
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['usage_package_draws', 'bill_lines', 'bills', 'usage_packages', 'usage_records', 'server_power_events', 'pay_per_use_periods', 'pay_per_use_protections', 'usage_accounts']) {
    await knex.schema.dropTableIfExists(t);
  }
}
