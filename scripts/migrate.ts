import { join } from 'node:path';
import { ConfigError, loadConfig } from '../common/config';
import { createDb, ensureDatabase, migrateLatest } from '../common/db';
import { startEmbeddedPostgres } from '../common/embedded-postgres';

// `npm run migrate`: applies pending migrations to DATABASE_URL, or to npm start's embedded
// Postgres when no DATABASE_URL is given.
async function main(): Promise<void> {
  const config = loadConfig();
  let url = config.DATABASE_URL;
  let stop = async () => undefined as void;
  if (!url) {
    const pg = await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'postgres'), port: config.POSTGRES_PORT, persistent: true });
    stop = () => pg.stop();
    url = await ensureDatabase(pg.url, 'quotaflow');
  }
  const db = createDb(url);
  try {
    const applied = await migrateLatest(db);
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already up to date\n');
  } finally {
    await db.destroy();
    await stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
