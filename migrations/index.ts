import type { Knex } from 'knex';
import * as m001 from './20261122_001_core';
import * as m002 from './20261122_002_payments';
import * as m003 from './20261122_003_servers';
import * as m004 from './20261122_004_usage';
import * as m005 from './20261122_005_terms';
import * as m006 from './20261122_006_pending_edition';
import * as m007 from './20261122_007_usage_rest';
import * as m008 from './20261202_008_money_combinations';
import * as m009 from './20261202_009_sandbox_provider';
import * as m010 from './20261202_010_notifications_delivery';
import * as m011 from './20261202_011_notification_retry';
import * as m012 from './20261203_012_write_position';

// Migrations are listed here rather than discovered on disk, so the same list runs from
// TypeScript (tests), from dist/ (npm start) and from the worker image. Append; never reorder.
const migrations: Record<string, Knex.Migration> = {
  '20261122_001_core': m001,
  '20261122_002_payments': m002,
  '20261122_003_servers': m003,
  '20261122_004_usage': m004,
  '20261122_005_terms': m005,
  '20261122_006_pending_edition': m006,
  '20261122_007_usage_rest': m007,
  '20261202_008_money_combinations': m008,
  '20261202_009_sandbox_provider': m009,
  '20261202_010_notifications_delivery': m010,
  '20261202_011_notification_retry': m011,
  '20261203_012_write_position': m012,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
};
