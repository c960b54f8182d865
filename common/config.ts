import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';

// Every setting comes from the environment and is validated once at start; a bad value stops
// the process with a message naming the variable (issue #3).
const offset = z.string().regex(/^[+-](0\d|1[0-4]):[0-5]\d$/, 'must look like +08:00');
const port = z.coerce.number().int().min(0).max(65535);
const days = z.coerce.number().int().min(1).max(3650);
// A PEM file for the Temporal connection (issue 14): checked at start, not at the first dial.
const pemFile = z.string().refine((p) => existsSync(p) && statSync(p).isFile(), 'no such file');
// Empty means unset, so a compose file can pass `${TEMPORAL_TLS_CERT:-}` through.
const unlessEmpty = <T extends z.ZodType>(s: T) => z.preprocess((v) => (v === '' ? undefined : v), s.optional());

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: port.default(3000),
  HOST: z.string().default('127.0.0.1'),
  QUOTAFLOW_DATA_DIR: z.string().default('./.data'),
  QUOTAFLOW_CACHE_DIR: z.string().default(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'quotaflow')),
  QUOTAFLOW_OPERATOR_KEY: z.string().min(24, 'must be at least 24 characters').optional(),
  DATABASE_URL: z.string().url().optional(),
  POSTGRES_PORT: port.default(5433),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('quotaflow'),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_CLI_PATH: z.string().optional(),
  // TLS / Temporal Cloud (docs/production.md). A certificate and its key come as a pair (mTLS);
  // the CA alone verifies a server whose certificate the system does not trust; an API key
  // alone means TLS with the system's trust store (Temporal Cloud).
  TEMPORAL_TLS_CERT: unlessEmpty(pemFile),
  TEMPORAL_TLS_KEY: unlessEmpty(pemFile),
  TEMPORAL_TLS_CA: unlessEmpty(pemFile),
  TEMPORAL_API_KEY: unlessEmpty(z.string()),
  // /metrics and the probes (docs/production.md). The worker serves them on METRICS_PORT (default
  // 9464; 0 turns them off). The API serves /metrics on PORT unless METRICS_PORT is set, then
  // on that port of its own (bound to METRICS_HOST, default HOST), 0 turning it off.
  METRICS_PORT: unlessEmpty(port),
  METRICS_HOST: unlessEmpty(z.string()),
  BILLING_UTC_OFFSET: offset.default('+08:00'), // R-T1
  GRACE_DAYS_STANDARD: days.default(15), // R-A4
  RETENTION_DAYS_STANDARD: days.default(15),
  GRACE_DAYS_KEY_ACCOUNT: days.default(30),
  RETENTION_DAYS_KEY_ACCOUNT: days.default(30),
  CARD_GATEWAY: z.enum(['sandbox']).default('sandbox'), // R-P6
  // Issue #15 (docs/notifications.md): email over SMTP. Unset SMTP_URL = emails are only logged.
  SMTP_URL: unlessEmpty(z.string().regex(/^smtps?:\/\/[^\s/]+(:\d+)?\/?(\?\S*)?$/, 'must look like smtp://user:pass@host:587 or smtps://host:465')),
  SMTP_FROM: z.string().regex(/^([^<>]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/, 'must be an address, or "Name <address>"').default('quotaflow <billing@quotaflow.invalid>'),
  SMS_PROVIDER: z.enum(['sandbox']).default('sandbox'),
  // R-I4: status change calls (first retry after this many ms, doubling, for 3 days).
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(30_000),
  // How long an Idempotency-Key claim left by an API process that died mid-request blocks the
  // client's retry before the retry takes it over (issue #13). Longer than any request runs:
  // the running request renews its claim every third of it.
  IDEMPOTENCY_LEASE_MS: z.coerce.number().int().min(3_000).max(3_600_000).default(120_000),
}).superRefine((c, ctx) => {
  if (c.TEMPORAL_TLS_CERT && !c.TEMPORAL_TLS_KEY) ctx.addIssue({ code: 'custom', path: ['TEMPORAL_TLS_KEY'], message: 'required when TEMPORAL_TLS_CERT is set (a client certificate needs its key)' });
  if (c.TEMPORAL_TLS_KEY && !c.TEMPORAL_TLS_CERT) ctx.addIssue({ code: 'custom', path: ['TEMPORAL_TLS_CERT'], message: 'required when TEMPORAL_TLS_KEY is set (a key needs its certificate)' });
});

export type Config = z.infer<typeof schema> & { dataDir: string };

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message} (got ${JSON.stringify(env[String(i.path[0])])})`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.QUOTAFLOW_DATA_DIR) };
}
