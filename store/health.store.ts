import type { Knex } from 'knex';

/** Readiness: the database answers a trivial query (rejects when it does not). */
export async function pingDatabase(db: Knex): Promise<void> {
  await db.raw('select 1');
}
