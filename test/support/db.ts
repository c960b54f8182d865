import { randomBytes } from 'node:crypto';
import { createDb, Db, ensureDatabase, migrateLatest } from '../../common/db';

/**
 * A fresh, migrated database for one test file on the run's PostgreSQL (global-setup.ts).
 * Call in beforeAll; call `drop()` in afterAll.
 */
export async function createTestDb(): Promise<{ db: Db; url: string; drop(): Promise<void> }> {
  const admin = process.env.QUOTAFLOW_TEST_PG_ADMIN_URL;
  if (!admin) throw new Error('QUOTAFLOW_TEST_PG_ADMIN_URL is not set: run tests through jest (global-setup starts Postgres)');
  const name = `qf_test_${randomBytes(6).toString('hex')}`;
  const url = await ensureDatabase(admin, name);
  const db = createDb(url, { pool: { min: 0, max: 20 } });
  await migrateLatest(db);
  return {
    db,
    url,
    async drop() {
      await db.destroy();
      const { default: knex } = await import('knex');
      const a = knex({ client: 'pg', connection: admin, pool: { min: 0, max: 1 } });
      await a.raw(`drop database if exists "${name}" with (force)`);
      await a.destroy();
    },
  };
}
