import type { Knex } from 'knex';

// R-Q4: frozen/isolated unbind but remember (suspended_at); a renewal restores; released or
// unsubscribed deletes (deleted_at). Each is idempotent: repeating it changes nothing more.

export async function suspendBindings(db: Knex, subscriptionId: string): Promise<number> {
  return db('bindings').where({ subscription_id: subscriptionId }).whereNull('deleted_at').whereNull('suspended_at').update({ suspended_at: db.fn.now() });
}

export async function restoreBindings(db: Knex, subscriptionId: string): Promise<number> {
  return db('bindings').where({ subscription_id: subscriptionId }).whereNull('deleted_at').whereNotNull('suspended_at').update({ suspended_at: null });
}

export async function deleteBindings(db: Knex, subscriptionId: string): Promise<number> {
  return db('bindings').where({ subscription_id: subscriptionId }).whereNull('deleted_at').update({ deleted_at: db.fn.now() });
}
