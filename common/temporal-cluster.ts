import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { Client as PgClient } from 'pg';
import { parse, stringify } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { dynamicConfigFileContent } from './temporal-dynamic-config';

// The real Temporal server (history, matching, frontend and worker services in one process) on
// PostgreSQL with SQL visibility: what a cloud provider runs, unlike `temporal server
// start-dev` (SQLite, one process, everything in memory caches). `npm run
// setup:temporal-cluster` builds it; this module sets up its databases, writes its config,
// starts it, creates the namespace with quotaflow's search attributes and stops it.

export const TEMPORAL_SERVER_VERSION = '1.29.1';

/** What scripts/setup-temporal-cluster.mjs built (its manifest.json). */
export interface ClusterServerInstall {
  version: string;
  serverBin: string;
  sqlToolBin: string;
  /** …/schema/postgresql/v12, holding temporal/versioned and visibility/versioned */
  schemaDir: string;
  /** the module's config/development-postgres12.yaml: the base the server config is made from */
  baseConfig: string;
}

export function clusterServerHome(cacheDir: string): string {
  return join(cacheDir, `temporal-server-${TEMPORAL_SERVER_VERSION}`);
}

/** The build `npm run setup:temporal-cluster` left in the cache, or an error saying to run it. */
export function resolveClusterServer(cacheDir: string): ClusterServerInstall {
  const manifestPath = join(clusterServerHome(cacheDir), 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new Error(`no Temporal server ${TEMPORAL_SERVER_VERSION} build at ${manifestPath}: run \`npm run setup:temporal-cluster\``);
  }
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    version: string; schemaDir: string; baseConfig: string; binaries: Record<'server' | 'sql', { path: string }>;
  };
  const install = { version: m.version, serverBin: m.binaries.server.path, sqlToolBin: m.binaries.sql.path, schemaDir: m.schemaDir, baseConfig: m.baseConfig };
  for (const p of [install.serverBin, install.sqlToolBin, install.schemaDir, install.baseConfig]) {
    if (!existsSync(p)) throw new Error(`${p} (listed in ${manifestPath}) is missing: run \`npm run setup:temporal-cluster\``);
  }
  return install;
}

export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** host/port/user/password of a postgres:// URL (the database part is ignored). */
export function postgresTargetFromUrl(url: string): PostgresTarget {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

export interface TemporalDatabases {
  main: string;
  visibility: string;
}

export const DEFAULT_TEMPORAL_DATABASES: TemporalDatabases = { main: 'temporal', visibility: 'temporal_visibility' };

type Log = (msg: string) => void;
const quiet: Log = () => undefined;

/**
 * Creates the server's two databases if missing and brings their schemas to the version this
 * build ships, with the server's own SQL tool — the same three steps an operator runs
 * (create-database, setup-schema -v 0.0, update-schema). Safe to run again on set-up
 * databases: setup-schema keeps a newer version, update-schema applies only what is missing.
 */
export async function setupTemporalSchema(install: ClusterServerInstall, pg: PostgresTarget, dbs: TemporalDatabases = DEFAULT_TEMPORAL_DATABASES, log: Log = quiet): Promise<void> {
  for (const [db, schema] of [[dbs.main, 'temporal'], [dbs.visibility, 'visibility']] as const) {
    // Ask first: create-database passes over an existing database on Postgres, but only a
    // user allowed to create databases gets that far (pre-created databases need no CREATEDB).
    if (!(await databaseExists(pg, db))) {
      log(`creating database ${db}`);
      await sqlTool(install, pg, ['--db', db, 'create-database']);
    }
    await sqlTool(install, pg, ['--db', db, 'setup-schema', '-v', '0.0']);
    await sqlTool(install, pg, ['--db', db, 'update-schema', '-d', join(install.schemaDir, schema, 'versioned')]);
    log(`database ${db}: schema up to date`);
  }
}

async function databaseExists(pg: PostgresTarget, name: string): Promise<boolean> {
  const client = new PgClient({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'postgres', connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const r = await client.query('select 1 from pg_database where datname = $1', [name]);
    return r.rowCount === 1;
  } finally {
    await client.end();
  }
}

function sqlTool(install: ClusterServerInstall, pg: PostgresTarget, args: string[]): Promise<void> {
  const all = ['--plugin', 'postgres12', '--ep', pg.host, '-p', String(pg.port), '-u', pg.user, ...args];
  return new Promise((res, rej) => {
    // The password goes by environment (the tool reads SQL_PASSWORD), not argv, which `ps` shows.
    execFile(install.sqlToolBin, all, { env: { ...process.env, SQL_PASSWORD: pg.password }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`temporal-sql-tool ${args.join(' ')} failed: ${err.message}\n${tail(`${stdout}\n${stderr}`, 3000)}`));
      else res();
    });
  });
}

/** Frontend TLS for the server; with `requireClientAuth`, mutual TLS. All paths are PEM files. */
export interface ClusterServerTls {
  /** CA of the server certificate, and the CA client certificates must chain to under mTLS */
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  requireClientAuth: boolean;
  /** certificate the server's own system worker presents to its frontend (under mTLS it needs one too) */
  internalClientCertFile: string;
  internalClientKeyFile: string;
  /** a DNS name in the server certificate, checked by the system worker (it dials 127.0.0.1) */
  serverName: string;
}

export interface StartClusterOptions {
  install: ClusterServerInstall;
  postgres: PostgresTarget;
  databases?: TemporalDatabases;
  /** where the config, dynamic config and server.log go (created if missing) */
  runDir: string;
  namespace?: string;
  retentionDays?: number;
  tls?: ClusterServerTls;
  /** how the set-up steps connect; with mTLS, a client certificate (see ClusterServerTls) */
  adminConnection?: Pick<ConnectionOptions, 'tls' | 'apiKey'>;
  /** the server's own log level in server.log */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  startTimeoutMs?: number;
  log?: Log;
}

export interface ClusterServerHandle {
  /** frontend gRPC, host:port */
  address: string;
  namespace: string;
  /** the server's Prometheus endpoint */
  metricsUrl: string;
  configFile: string;
  logFile: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Sets up the schema, writes a config with free ports, starts the server, and returns once the
 * namespace exists with quotaflow's search attributes and the frontend answers queries that use
 * them. The child is killed if any step fails.
 */
export async function startTemporalCluster(opts: StartClusterOptions): Promise<ClusterServerHandle> {
  const log = opts.log ?? quiet;
  const namespace = opts.namespace ?? 'default';
  const databases = opts.databases ?? DEFAULT_TEMPORAL_DATABASES;
  const runDir = resolve(opts.runDir);
  mkdirSync(join(runDir, 'config'), { recursive: true });
  await setupTemporalSchema(opts.install, opts.postgres, databases, log);

  const ports = await distinctFreePorts(10);
  const [frontend, frontendMembership, frontendHttp, history, historyMembership, matching, matchingMembership, worker, workerMembership, metrics] = ports;
  const dynamicConfigFile = join(runDir, 'config', 'dynamicconfig.yaml');
  writeFileSync(dynamicConfigFile, stringify(dynamicConfigFileContent()));
  const config = serverConfig({
    base: parse(readFileSync(opts.install.baseConfig, 'utf8')) as Record<string, any>,
    pg: opts.postgres, databases, dynamicConfigFile, tls: opts.tls, logLevel: opts.logLevel ?? 'warn',
    ports: { frontend, frontendMembership, frontendHttp, history, historyMembership, matching, matchingMembership, worker, workerMembership, metrics },
  });
  // The server reads <root>/<config dir>/<env>.yaml.
  const configFile = join(runDir, 'config', 'quotaflow.yaml');
  writeFileSync(configFile, stringify(config));

  const logFile = join(runDir, 'server.log');
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.install.serverBin, ['--root', runDir, '--config', 'config', '--env', 'quotaflow', '--allow-no-auth', 'start'], {
      cwd: runDir, stdio: ['ignore', out, out],
    });
  } finally {
    closeSync(out);
  }
  let exitCode: number | null = null;
  // Whatever way this process ends (a failed test, a crash), the server does not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((res) => {
    const done = (code: number) => {
      exitCode ??= code;
      process.off('exit', killOnExit);
      res();
    };
    child.once('exit', (code, signal) => done(code ?? (signal ? -1 : 0)));
    child.once('error', () => done(-1)); // could not be started at all
  });
  const address = `127.0.0.1:${frontend}`;
  const stop = async () => {
    if (exitCode !== null) return;
    child.kill('SIGTERM');
    // The server drains its services on SIGTERM; a few seconds is normal, 20 is plenty.
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
  };
  log(`temporal server ${opts.install.version} starting on ${address} (pid ${child.pid}, log ${logFile})`);
  try {
    await prepareNamespace({
      connection: { address, ...opts.adminConnection },
      namespace,
      retentionDays: opts.retentionDays ?? 1,
      deadline: Date.now() + (opts.startTimeoutMs ?? 120_000),
      failed: () => (exitCode !== null ? `the server exited with code ${exitCode}:\n${tail(readLog(logFile), 3000)}` : null),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  log(`temporal server ready: namespace ${namespace}, ${SEARCH_ATTRIBUTES.length} search attributes`);
  return { address, namespace, metricsUrl: `http://127.0.0.1:${metrics}/metrics`, configFile, logFile, pid: child.pid ?? -1, stop };
}

// Dynamic config: the server's defaults, plus the one limit docker-compose's SQL setups raise.
interface Ports {
  frontend: number; frontendMembership: number; frontendHttp: number;
  history: number; historyMembership: number; matching: number; matchingMembership: number;
  worker: number; workerMembership: number; metrics: number;
}

/** The module's development-postgres12.yaml with our database, ports, metrics and TLS. */
export function serverConfig(o: {
  base: Record<string, any>; pg: PostgresTarget; databases: TemporalDatabases; dynamicConfigFile: string;
  ports: Ports; tls?: ClusterServerTls; logLevel: string;
}): Record<string, any> {
  const c = structuredClone(o.base);
  c.log = { stdout: true, level: o.logLevel };
  const stores = c.persistence.datastores as Record<string, { sql: Record<string, unknown> }>;
  const pgStore = (db: string) => ({ connectAddr: `${o.pg.host}:${o.pg.port}`, user: o.pg.user, password: o.pg.password, databaseName: db });
  Object.assign(stores[c.persistence.defaultStore].sql, pgStore(o.databases.main));
  Object.assign(stores[c.persistence.visibilityStore].sql, pgStore(o.databases.visibility));
  const rpc = (grpcPort: number, membershipPort: number, extra: object = {}) => ({ rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra } });
  c.services = {
    frontend: rpc(o.ports.frontend, o.ports.frontendMembership, { httpPort: o.ports.frontendHttp }),
    history: rpc(o.ports.history, o.ports.historyMembership),
    matching: rpc(o.ports.matching, o.ports.matchingMembership),
    worker: rpc(o.ports.worker, o.ports.workerMembership),
  };
  c.global.membership.broadcastAddress = '127.0.0.1';
  delete c.global.pprof; // its fixed port (7936) would clash between two servers on one machine
  c.global.metrics.prometheus.listenAddress = `127.0.0.1:${o.ports.metrics}`;
  // Clients of the cluster itself (the system worker, the namespace handover) dial this address:
  // it has to follow the frontend port.
  const current = c.clusterMetadata.currentClusterName as string;
  c.clusterMetadata.clusterInformation[current].rpcAddress = `127.0.0.1:${o.ports.frontend}`;
  c.dynamicConfigClient = { filepath: o.dynamicConfigFile, pollInterval: '10s' };
  if (o.tls) {
    c.global.tls = {
      frontend: {
        server: {
          certFile: o.tls.serverCertFile, keyFile: o.tls.serverKeyFile,
          requireClientAuth: o.tls.requireClientAuth, clientCaFiles: o.tls.requireClientAuth ? [o.tls.caFile] : [],
        },
      },
      systemWorker: {
        certFile: o.tls.internalClientCertFile, keyFile: o.tls.internalClientKeyFile,
        client: { serverName: o.tls.serverName, rootCaFiles: [o.tls.caFile] },
      },
    };
  }
  return c;
}

/**
 * Waits for the frontend, creates the namespace and registers the search attributes (both
 * skipped when already there), then waits until a visibility query naming every attribute is
 * accepted: that is when workflows can set them.
 */
async function prepareNamespace(o: {
  connection: ConnectionOptions; namespace: string; retentionDays: number; deadline: number; failed: () => string | null;
}): Promise<void> {
  let lastErr: unknown = null;
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    for (;;) {
      const failure = o.failed();
      if (failure) throw new Error(failure);
      try {
        return await fn();
      } catch (err) {
        lastErr = err;
        if (Date.now() > o.deadline) throw new Error(`temporal server at ${o.connection.address}: ${what} did not succeed in time: ${String(lastErr)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const connection = await attempt('connect', async () => {
    const conn = await Connection.connect({ ...o.connection, connectTimeout: 2_000 });
    try {
      await conn.workflowService.getSystemInfo({});
      return conn;
    } catch (err) {
      await conn.close();
      throw err;
    }
  });
  try {
    const svc = connection.workflowService;
    await attempt('create namespace', async () => {
      const exists = await svc.describeNamespace({ namespace: o.namespace }).then(() => true, (err: { code?: number }) => {
        if (err.code === 5 /* NOT_FOUND */) return false;
        throw err;
      });
      if (!exists) {
        await svc.registerNamespace({ namespace: o.namespace, workflowExecutionRetentionPeriod: msToTs(o.retentionDays * 86_400_000) })
          .catch((err: { code?: number }) => { if (err.code !== 6 /* ALREADY_EXISTS */) throw err; });
      }
    });
    await attempt('register search attributes', () => ensureSearchAttributes(connection, o.namespace));
    const query = SEARCH_ATTRIBUTES.map((k) => (k.type === 'DATETIME' ? `${k.name} > "2000-01-01T00:00:00Z"` : `${k.name} = "readiness-probe"`)).join(' AND ');
    await attempt('query by search attributes', () => svc.listWorkflowExecutions({ namespace: o.namespace, query, pageSize: 1 }));
  } finally {
    await connection.close();
  }
}

const INDEXED_VALUE_TYPE: Record<string, number> = { TEXT: 1, KEYWORD: 2, INT: 3, DOUBLE: 4, BOOL: 5, DATETIME: 6, KEYWORD_LIST: 7 };

/** Registers those of quotaflow's search attributes the namespace does not have yet. */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing: Record<string, number> = {};
  for (const k of SEARCH_ATTRIBUTES) if (!known.has(k.name)) missing[k.name] = INDEXED_VALUE_TYPE[k.type];
  if (Object.keys(missing).length > 0) await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  return Object.keys(missing);
}

/**
 * `n` distinct ports that were free a moment ago, all below 32768: the server records its
 * membership ports in cluster_membership.rpc_port, a smallint (a port from the kernel's
 * ephemeral range, 32768 and up, makes it exit with "value out of range for type smallint").
 * Below the ephemeral range, no outgoing connection takes the port between this check and the
 * server's bind either.
 */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < n; tries++) {
    if (tries > 2000) throw new Error('no free ports found between 20000 and 32767');
    const candidate = 20_000 + randomInt(12_768);
    if (!ports.has(candidate) && (await isFree(candidate))) ports.add(candidate);
  }
  return [...ports];
}

function isFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

function readLog(file: string): string {
  try {
    return statSync(file).size > 0 ? readFileSync(file, 'utf8') : '(empty log)';
  } catch {
    return '(no log)';
  }
}

function tail(s: string, n: number): string {
  return s.length > n ? `…${s.slice(-n)}` : s;
}
