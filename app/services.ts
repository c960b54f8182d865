import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { parseUtcOffset } from '../billing/calendar';
import { ArrearsPeriods, CustomerLevel, DEFAULT_ARREARS } from '../billing/renewal-schedule';
import { Catalog, defaultCatalog, parseCatalog } from '../catalog/catalog';
import type { Config } from '../common/config';
import type { CardGateway } from '../payments/card-gateway';
import { createPaymentEngine, PaymentEngine } from '../payments/payment-engine';
import { gatewayFromEnv } from '../payments/sandbox-gateway';

// The composition root: the one place the domain services are built from validated config. The
// API (api/main.ts), the worker (workers/main.ts) and `npm start` (scripts/start.ts) all build
// from here, so every process talks to the same card gateway, catalog and billing settings.

export interface Services {
  payments: PaymentEngine;
  gateway: CardGateway;
  catalog: Catalog;
  offsetMinutes: number; // R-T1
  arrears: Record<CustomerLevel, ArrearsPeriods>; // R-A4
}

export function createServices(config: Config, db: Knex, env: NodeJS.ProcessEnv = process.env): Services {
  const catalog = env.QUOTAFLOW_CATALOG ? parseCatalog(JSON.parse(readFileSync(env.QUOTAFLOW_CATALOG, 'utf8'))) : defaultCatalog;
  // R-P6: the gateway lives outside our processes; the sandbox's charges are kept in Postgres,
  // so a worker that dies mid-charge, or another process, asks it about the charge's key and
  // gets the answer (issue #13).
  const gateway = gatewayFromEnv(env, { db });
  return {
    payments: createPaymentEngine({ db, gateway, clock: { now: () => new Date() } }),
    gateway,
    catalog,
    offsetMinutes: parseUtcOffset(config.BILLING_UTC_OFFSET),
    arrears: {
      ...DEFAULT_ARREARS,
      standard: { graceDays: config.GRACE_DAYS_STANDARD, retentionDays: config.RETENTION_DAYS_STANDARD },
      key_account: { graceDays: config.GRACE_DAYS_KEY_ACCOUNT, retentionDays: config.RETENTION_DAYS_KEY_ACCOUNT },
    },
  };
}
