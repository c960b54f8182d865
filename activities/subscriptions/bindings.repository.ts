import type { Knex } from 'knex';

// R-Q4: frozen/isolated unbind but remember (suspended_at); a renewal restores; released or
// unsubscribed deletes (deleted_at). Each is idempotent: repeating it changes nothing more.
//
// The API binds quotas to servers concurrently with these (api/servers.repository.ts). Both
// sides lock the subscription's read-model row first, and these functions also write the
// subscription's binding hold (`subscription_binding_holds`, migration 003) in the same
// transaction. The workflow calls them *before* it records the new status, so without the hold a
// bind arriving in between would see the old, protected status and leave a live binding on a
// frozen or released quota; with it, the bind either sees the hold (refused) or commits first
// and is unbound here with the others.

type Hold = 'suspended' | 'deleted';

async function lockSubscription(trx: Knex.Transaction, subscriptionId: string): Promise<void> {
  await trx('subscriptions').where({ id: subscriptionId }).forUpdate().first('id');
}

async function hold(trx: Knex.Transaction, subscriptionId: string, state: Hold): Promise<void> {
  const q = trx('subscription_binding_holds').insert({ subscription_id: subscriptionId, state, held_at: trx.fn.now() }).onConflict('subscription_id');
  // `deleted` is final: a late or retried suspend never turns it back into `suspended`.
  if (state === 'deleted') await q.merge({ state, held_at: trx.fn.now() });
  else await q.ignore();
}

export async function suspendBindings(db: Knex, subscriptionId: string): Promise<number> {
  return db.transaction(async (trx): Promise<number> => {
    await lockSubscription(trx, subscriptionId);
    await hold(trx, subscriptionId, 'suspended');
    const n: number = await trx('bindings').where({ subscription_id: subscriptionId }).whereNull('deleted_at').whereNull('suspended_at').update({ suspended_at: trx.fn.now() });
    return n;
  });
}

export async function restoreBindings(db: Knex, subscriptionId: string): Promise<number> {
  return db.transaction(async (trx): Promise<number> => {
    await lockSubscription(trx, subscriptionId);
    await trx('subscription_binding_holds').where({ subscription_id: subscriptionId, state: 'suspended' }).delete();
    const n: number = await trx('bindings').where({ subscription_id: subscriptionId }).whereNull('deleted_at').whereNotNull('suspended_at').update({ suspended_at: null });
    return n;
  });
}

export async function deleteBindings(db: Knex, subscriptionId: string): Promise<number> {
  return db.transaction(async (trx): Promise<number> => {
    await lockSubscription(trx, subscriptionId);
    await hold(trx, subscriptionId, 'deleted');
    const n: number = await trx('bindings').where({ subscription_id: subscriptionId }).whereNull('deleted_at').update({ deleted_at: trx.fn.now() });
    return n;
  });
}

/**
 * R-S12 / R-Q1: the upgrade's binding check and its reservation, atomic with binds: under the
 * subscription row's lock (binds take it too), `refusal` is asked about the servers bound now
 * (suspended bindings included, R-Q4); when it has none, `pending_edition` is set, so every later
 * bind must suit the new edition as well until the read model records it (migration 006).
 */
export async function reserveUpgrade<R>(db: Knex, subscriptionId: string, toEdition: string, refusal: (bound: { serverId: string; kind: string }[]) => R | null): Promise<R | null> {
  return db.transaction(async (trx) => {
    await lockSubscription(trx, subscriptionId);
    const refused = refusal(await boundServerKinds(trx, subscriptionId));
    if (refused) return refused;
    await trx('subscriptions').where({ id: subscriptionId }).update({ pending_edition: toEdition });
    return null;
  });
}

/** R-S12: the upgrade did not happen (its charge failed): binds answer to the edition alone again. */
export async function releaseUpgrade(db: Knex, subscriptionId: string, toEdition: string): Promise<void> {
  await db('subscriptions').where({ id: subscriptionId, pending_edition: toEdition }).update({ pending_edition: null });
}

/** The kinds of the servers bound to the subscription, suspended bindings included (R-Q4). */
export async function boundServerKinds(db: Knex | Knex.Transaction, subscriptionId: string): Promise<{ serverId: string; kind: string }[]> {
  return db('bindings as b')
    .join('servers as s', 's.id', 'b.server_id')
    .where('b.subscription_id', subscriptionId)
    .whereNull('b.deleted_at')
    .orderBy('b.server_id')
    .select({ serverId: 'b.server_id', kind: 's.kind' });
}
