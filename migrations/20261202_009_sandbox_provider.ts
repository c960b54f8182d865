import type { Knex } from 'knex';

// Issue #13: the sandbox card gateway behaves like a provider outside our processes. Its charges
// were already kept in `sandbox_gateway_charges`; what it answers a key's first tries (tok_transient
// fails twice, then approves) was per process, so two workers or a restarted one saw a different
// provider. The count of requests per key is now the provider's too.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sandbox_gateway_requests', (t) => {
    t.text('idempotency_key').primary();
    t.integer('transient_failures').notNullable().defaultTo(0);
    t.timestamp('first_seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sandbox_gateway_requests');
}
