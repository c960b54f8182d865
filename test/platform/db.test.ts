import { createTestDb } from '../support/db';

describe('test database harness', () => {
  it('gives each file a migrated database of its own', async () => {
    const t = await createTestDb();
    try {
      const tables = await t.db('pg_tables').where({ schemaname: 'public' }).pluck('tablename');
      expect(tables).toEqual(expect.arrayContaining(['accounts', 'subscriptions', 'notifications', 'knex_migrations']));
    } finally {
      await t.drop();
    }
  });
});
