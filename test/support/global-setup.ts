import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../common/embedded-postgres';
import { freePort } from '../../common/net';

// One PostgreSQL for the whole run: the server from DATABASE_URL when given, otherwise a
// throwaway embedded one. Each test file then creates its own database on it (test/support/db.ts).
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.env.QUOTAFLOW_TEST_PG_ADMIN_URL = process.env.DATABASE_URL;
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'quotaflow-test-pg-'));
  const handle = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: await freePort(), persistent: false });
  process.env.QUOTAFLOW_TEST_PG_ADMIN_URL = handle.url;
  (globalThis as { __quotaflowPg?: typeof handle }).__quotaflowPg = handle;
  writeFileSync(join(dir, 'url'), handle.url);
}
