import knex, { Knex } from 'knex';
import { types } from 'pg';
import { migrationSource } from '../migrations';

// R-M1: `numeric` arrives as a string (pg's default) and stays a string until decimal.js reads
// it. int8 (counts, sequence numbers) fits in a JS number for every value we store.
types.setTypeParser(types.builtins.INT8, (v: string) => Number(v));
// A calendar date (R-S3's deduction date) stays the 'YYYY-MM-DD' it is: parsed into a Date it
// would land on the host's midnight and shift with the process's time zone.
types.setTypeParser(types.builtins.DATE, (v: string) => v);

export type Db = Knex;

export function createDb(url: string, opts: { pool?: { min: number; max: number } } = {}): Db {
  return knex({
    client: 'pg',
    connection: url,
    pool: opts.pool ?? { min: 0, max: 10 },
    migrations: { migrationSource, tableName: 'knex_migrations' },
  });
}

export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest()) as [number, string[]];
  return applied;
}

/** Creates `name` on the server behind `adminUrl` if missing, and returns its URL. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = knex({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } });
  try {
    const found = await admin.raw('select 1 from pg_database where datname = ?', [name]);
    if (found.rows.length === 0) await admin.raw(`create database "${name.replace(/"/g, '')}"`);
  } finally {
    await admin.destroy();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}
