import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';
import knex from 'knex';
import { postgresTargetFromUrl, resolveClusterServer } from '../../common/temporal-cluster';
import { resolveTemporalCli } from '../../common/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

// Issue 14: docker-compose.yml cannot run here (no Docker engine), but its two Temporal set-up
// jobs are plain sh scripts around the server's SQL tool and the `temporal` CLI, both of which
// the cluster tier has. Run them as compose would, against the real server and Postgres.
const ROOT = join(__dirname, '..', '..');
const cacheDir = process.env.QUOTAFLOW_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow');

function runJob(script: string, env: Record<string, string>, tools: string[]) {
  const r = spawnSync('sh', [join(ROOT, 'ops', 'temporal', script)], {
    env: { PATH: [...tools.map((t) => dirname(t)), process.env.PATH].join(delimiter), HOME: process.env.HOME, ...env },
    encoding: 'utf8', timeout: 180_000,
  });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

describe('the compose file\'s Temporal set-up jobs, run against the real server', () => {
  it('setup-schema.sh creates both databases at the server\'s schema version, and a second run (the next `compose up`) passes over them', async () => {
    const install = resolveClusterServer(cacheDir);
    const pg = postgresTargetFromUrl(process.env.QUOTAFLOW_TEST_PG_ADMIN_URL!);
    const id = randomBytes(4).toString('hex');
    const env = {
      POSTGRES_SEEDS: pg.host, DB_PORT: String(pg.port), POSTGRES_USER: pg.user, POSTGRES_PWD: pg.password,
      DBNAME: `compose_${id}`, VISIBILITY_DBNAME: `compose_${id}_visibility`, TEMPORAL_SCHEMA_DIR: install.schemaDir,
    };
    for (const run of [1, 2]) {
      const r = runJob('setup-schema.sh', env, [install.sqlToolBin]);
      expect(`run ${run}: ${r.output}`).toMatch(/temporal schemas up to date: compose_\w+, compose_\w+_visibility/);
      expect(r.status).toBe(0);
    }

    // Same versions as the databases the tier's server runs on (set up by common/temporal-cluster.ts).
    const version = async (db: string) => {
      const k = knex({ client: 'pg', connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: db }, pool: { min: 0, max: 1 } });
      try {
        return (await k('schema_version').first('curr_version')).curr_version as string;
      } finally {
        await k.destroy();
      }
    };
    expect(await version(env.DBNAME)).toBe(await version('temporal'));
    expect(await version(env.VISIBILITY_DBNAME)).toBe(await version('temporal_visibility'));
  });

  it('create-namespace.sh creates the namespace with quotaflow\'s 7 search attributes, and is safe to rerun', async () => {
    const cli = resolveTemporalCli(cacheDir, process.env.TEMPORAL_CLI_PATH);
    const namespace = `compose-${randomBytes(4).toString('hex')}`;
    const env = { TEMPORAL_ADDRESS: process.env.QUOTAFLOW_CLUSTER_ADDRESS!, TEMPORAL_NAMESPACE: namespace, TEMPORAL_RETENTION: '30d' };
    for (const run of [1, 2]) {
      const r = runJob('create-namespace.sh', env, [cli]);
      expect(`run ${run}: ${r.output}`).toMatch(new RegExp(`namespace ${namespace} ready`));
      expect(r.status).toBe(0);
    }
    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    try {
      const ns = await connection.workflowService.describeNamespace({ namespace });
      expect(Number(ns.config?.workflowExecutionRetentionTtl?.seconds)).toBe(30 * 86_400);
      const attrs = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
      const TYPE: Record<string, number> = { KEYWORD: 2, DATETIME: 6 };
      expect(Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k.name, attrs[k.name]]))).toEqual(Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k.name, TYPE[k.type]])));
    } finally {
      await connection.close();
    }
  });
});
