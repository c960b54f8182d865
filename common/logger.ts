import pino, { Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout (one object per line), as every process of quotaflow writes them. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { service: 'quotaflow', component: name } });
}
