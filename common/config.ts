import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';

// Every setting comes from the environment and is validated once at start; a bad value stops
// the process with a message naming the variable (issue #3).
const offset = z.string().regex(/^[+-](0\d|1[0-4]):[0-5]\d$/, 'must look like +08:00');
const port = z.coerce.number().int().min(0).max(65535);
const days = z.coerce.number().int().min(1).max(3650);

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
  BILLING_UTC_OFFSET: offset.default('+08:00'), // R-T1
  GRACE_DAYS_STANDARD: days.default(15), // R-A4
  RETENTION_DAYS_STANDARD: days.default(15),
  GRACE_DAYS_KEY_ACCOUNT: days.default(30),
  RETENTION_DAYS_KEY_ACCOUNT: days.default(30),
  CARD_GATEWAY: z.enum(['sandbox']).default('sandbox'), // R-P6
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
