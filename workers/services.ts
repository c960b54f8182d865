import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { createPaymentEngine, PaymentEngine } from '../payments/payment-engine';
import { createSandboxGateway } from '../payments/sandbox-gateway';
import { DEFAULT_ARREARS, ArrearsPeriods, CustomerLevel } from '../billing/renewal-schedule';
import { parseUtcOffset } from '../billing/calendar';
import { Catalog, defaultCatalog, parseCatalog } from '../catalog/catalog';
import type { Config } from '../common/config';

export interface Services {
  payments: PaymentEngine;
  catalog: Catalog;
  offsetMinutes: number;
  arrears: Record<CustomerLevel, ArrearsPeriods>;
}

/** The domain services both the worker and the API are built from, from validated config. */
export function createServices(config: Config, db: Knex): Services {
  const catalog = process.env.QUOTAFLOW_CATALOG ? parseCatalog(JSON.parse(readFileSync(process.env.QUOTAFLOW_CATALOG, 'utf8'))) : defaultCatalog;
  return {
    payments: createPaymentEngine({ db, gateway: createSandboxGateway(), clock: { now: () => new Date() } }),
    catalog,
    offsetMinutes: parseUtcOffset(config.BILLING_UTC_OFFSET),
    arrears: {
      ...DEFAULT_ARREARS,
      standard: { graceDays: config.GRACE_DAYS_STANDARD, retentionDays: config.RETENTION_DAYS_STANDARD },
      key_account: { graceDays: config.GRACE_DAYS_KEY_ACCOUNT, retentionDays: config.RETENTION_DAYS_KEY_ACCOUNT },
    },
  };
}
