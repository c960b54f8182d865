import type { Knex } from 'knex';

// Payments schema (SPEC §4): the double-entry ledger (R-M3), per-account cached balances used as
// the row lock for charges (R-P4), coupons, discounts, credit-line history, cards, orders with
// their collection parts (R-P1), payment locks (R-P4), refunds, and the sandbox gateway's charge
// store (R-P6). Money is numeric(20,2), percentages numeric(5,2) (R-M1, R-M2).
const MONEY = [20, 2] as const;

export async function up(knex: Knex): Promise<void> {
  // Cached balances: derivable from the ledger at any time (verifyBalances checks), kept here so
  // one `select ... for update` serialises every money movement of an account (R-P4).
  await knex.schema.createTable('account_balances', (t) => {
    t.text('account_id').primary().references('accounts.id');
    t.decimal('cash', ...MONEY).notNullable().defaultTo(0);
    t.decimal('cash_locked', ...MONEY).notNullable().defaultTo(0);
    t.decimal('credit_limit', ...MONEY).notNullable().defaultTo(0);
    t.decimal('credit_used', ...MONEY).notNullable().defaultTo(0);
    t.decimal('credit_locked', ...MONEY).notNullable().defaultTo(0);
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table account_balances add constraint account_balances_chk check (
    cash_locked >= 0 and cash_locked <= cash
    and credit_used >= 0 and credit_locked >= 0 and credit_limit >= 0
    and credit_used + credit_locked <= credit_limit)`);

  // R-M3: a transaction and its signed entries. The idempotency key is namespaced by operation
  // (`topup:<key>`, `charge:<key>`, ...); `request_hash` detects a key reused for other input.
  await knex.schema.createTable('ledger_transactions', (t) => {
    t.text('id').primary();
    t.bigIncrements('seq', { primaryKey: false });
    t.text('account_id').notNullable().references('accounts.id');
    t.text('idempotency_key').notNullable().unique();
    t.text('request_hash');
    t.text('kind').notNullable(); // topup | charge | refund | coupon_issue
    t.text('order_id');
    t.text('description');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.unique(['id', 'account_id']);
    t.index(['account_id', 'seq']);
  });
  await knex.schema.createTable('ledger_entries', (t) => {
    t.bigIncrements('id');
    t.text('transaction_id').notNullable();
    t.text('account_id').notNullable();
    // cash | credit | coupon:<id> | card_clearing | topup_clearing | revenue | refunds | coupon_issuance
    t.text('ledger_account').notNullable();
    t.decimal('amount', ...MONEY).notNullable();
    // An entry belongs to its transaction's account.
    t.foreign(['transaction_id', 'account_id']).references(['id', 'account_id']).inTable('ledger_transactions');
    t.index(['transaction_id']);
    t.index(['account_id', 'ledger_account']);
  });
  await knex.raw(`alter table ledger_entries add constraint ledger_entries_nonzero check (amount <> 0)`);
  // R-M3: the ledger is append-only ...
  await knex.raw(`create function ledger_entries_append_only() returns trigger language plpgsql as $$
    begin raise exception 'ledger entries are append-only' using errcode = '55000'; end $$`);
  await knex.raw(`create trigger ledger_entries_no_change before update or delete on ledger_entries
    for each row execute function ledger_entries_append_only()`);
  // ... and every transaction sums to zero, checked at commit so entries can be inserted one by one.
  await knex.raw(`create function ledger_transaction_balances() returns trigger language plpgsql as $$
    declare s numeric;
    begin
      select coalesce(sum(amount), 0) into s from ledger_entries where transaction_id = new.transaction_id;
      if s <> 0 then
        raise exception 'R-M3: ledger transaction % does not balance (entries sum to %)', new.transaction_id, s
          using errcode = '23514';
      end if;
      return null;
    end $$`);
  await knex.raw(`create constraint trigger ledger_entries_balanced after insert on ledger_entries
    deferrable initially deferred for each row execute function ledger_transaction_balances()`);

  // R-P3 cash coupons. `balance` caches Σ ledger 'coupon:<id>'; `locked` is held by charges in flight.
  await knex.schema.createTable('coupons', (t) => {
    t.text('id').primary();
    t.bigIncrements('seq', { primaryKey: false });
    t.text('account_id').notNullable().references('accounts.id');
    t.decimal('amount', ...MONEY).notNullable();
    t.decimal('balance', ...MONEY).notNullable();
    t.decimal('locked', ...MONEY).notNullable().defaultTo(0);
    t.text('scope');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.text('idempotency_key').unique();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['account_id', 'expires_at']);
  });
  await knex.raw(`alter table coupons add constraint coupons_chk check (amount > 0 and locked >= 0 and locked <= balance and balance <= amount)`);

  // R-P2 discounts.
  await knex.schema.createTable('discounts', (t) => {
    t.text('id').primary();
    t.bigIncrements('seq', { primaryKey: false });
    t.text('account_id').notNullable().references('accounts.id');
    t.text('kind').notNullable();
    t.decimal('percent_off', 5, 2).notNullable();
    t.text('scope');
    t.timestamp('effective_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.text('idempotency_key').unique();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['account_id']);
  });
  await knex.raw(`alter table discounts add constraint discounts_chk check (
    kind in ('commercial','partner','promotional') and percent_off > 0 and percent_off <= 100 and effective_at < expires_at)`);

  // Credit-line history; the current limit is account_balances.credit_limit.
  await knex.schema.createTable('credit_lines', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('accounts.id');
    t.decimal('credit_limit', ...MONEY).notNullable();
    t.text('idempotency_key').unique();
    t.timestamp('created_at', { useTz: true }).notNullable();
  });

  // Cards on file: at most one bound per account.
  await knex.schema.createTable('cards', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable().references('accounts.id');
    t.text('token').notNullable();
    t.text('token_hint').notNullable();
    t.text('last4');
    t.text('status').notNullable(); // bound | unbound
    t.timestamp('bound_at', { useTz: true }).notNullable();
    t.timestamp('unbound_at', { useTz: true });
  });
  await knex.raw(`create unique index cards_one_bound on cards (account_id) where status = 'bound'`);

  // R-P1 orders: what was collected from where. `pending` = locks held, card call in flight.
  await knex.schema.createTable('orders', (t) => {
    t.text('id').primary();
    t.bigIncrements('seq', { primaryKey: false });
    t.text('account_id').notNullable().references('accounts.id');
    t.text('subscription_id'); // no FK: a purchase is paid before its subscription exists (R-S1)
    t.text('resource_id').notNullable();
    t.text('kind').notNullable();
    t.text('product');
    t.text('description');
    t.text('idempotency_key').notNullable().unique();
    t.text('request_hash').notNullable();
    t.string('currency', 3).notNullable();
    t.decimal('list_amount', ...MONEY).notNullable();
    t.text('discount_id');
    t.text('discount_kind');
    t.decimal('discount_percent', 5, 2);
    t.decimal('discount_amount', ...MONEY).notNullable().defaultTo(0);
    t.text('discount_reason');
    t.decimal('due', ...MONEY).notNullable();
    t.text('coupon_id');
    t.decimal('coupon', ...MONEY).notNullable().defaultTo(0);
    t.decimal('cash', ...MONEY).notNullable().defaultTo(0);
    t.decimal('credit', ...MONEY).notNullable().defaultTo(0);
    t.decimal('card', ...MONEY).notNullable().defaultTo(0);
    t.text('card_token');
    t.text('card_charge_id');
    t.decimal('refunded', ...MONEY).notNullable().defaultTo(0);
    t.text('status').notNullable();
    t.text('failure_code');
    t.text('failure_message');
    t.text('ledger_transaction_id');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('hold_expires_at', { useTz: true }); // R-P4: pending locks end here
    t.timestamp('completed_at', { useTz: true });
    t.index(['account_id', 'seq']);
    t.index(['account_id', 'resource_id']);
  });
  await knex.raw(`create index orders_pending on orders (hold_expires_at) where status = 'pending'`);
  await knex.raw(`alter table orders add constraint orders_chk check (
    status in ('pending','paid','failed','partially_refunded','refunded')
    and list_amount >= 0 and due >= 0 and coupon >= 0 and cash >= 0 and credit >= 0 and card >= 0
    and refunded >= 0 and refunded <= cash + credit + card
    and (status in ('pending','failed') or coupon + cash + credit + card = due))`);

  // R-P4 locks: amounts a pending order holds from each source until capture or release.
  await knex.schema.createTable('payment_locks', (t) => {
    t.text('id').primary();
    t.text('order_id').notNullable().references('orders.id');
    t.text('account_id').notNullable().references('accounts.id');
    t.text('source').notNullable(); // coupon | cash | credit
    t.text('coupon_id');
    t.decimal('amount', ...MONEY).notNullable();
    t.text('status').notNullable(); // held | captured | released
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('resolved_at', { useTz: true });
    t.index(['order_id']);
  });
  await knex.raw(`alter table payment_locks add constraint payment_locks_chk check (
    source in ('coupon','cash','credit') and status in ('held','captured','released') and amount > 0
    and (source <> 'coupon' or coupon_id is not null))`);
  await knex.raw(`create index payment_locks_held on payment_locks (expires_at) where status = 'held'`);

  // Refunds go to cash (R-S11); Σ refunds per order ≤ own money paid (orders_chk).
  await knex.schema.createTable('refunds', (t) => {
    t.text('id').primary();
    t.text('order_id').notNullable().references('orders.id');
    t.text('account_id').notNullable().references('accounts.id');
    t.decimal('amount', ...MONEY).notNullable();
    t.text('idempotency_key').notNullable().unique();
    t.text('request_hash').notNullable();
    t.text('reason');
    t.text('ledger_transaction_id');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['order_id']);
  });
  await knex.raw(`alter table refunds add constraint refunds_chk check (amount >= 0)`);

  // R-P6 sandbox gateway store (optional persistence, so a restarted process still answers
  // getCharge(key) for charges made before the restart).
  await knex.schema.createTable('sandbox_gateway_charges', (t) => {
    t.text('id').primary();
    t.text('idempotency_key').notNullable().unique();
    t.text('token').notNullable();
    t.decimal('amount', ...MONEY).notNullable();
    t.string('currency', 3).notNullable();
    t.text('status').notNullable(); // succeeded | declined
    t.text('decline_code');
    t.text('decline_message');
    t.decimal('refunded', ...MONEY).notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of [
    'sandbox_gateway_charges', 'refunds', 'payment_locks', 'orders', 'cards', 'credit_lines', 'discounts', 'coupons',
    'ledger_entries', 'ledger_transactions', 'account_balances',
  ]) {
    await knex.schema.dropTableIfExists(t);
  }
  await knex.raw('drop function if exists ledger_transaction_balances()');
  await knex.raw('drop function if exists ledger_entries_append_only()');
}
