import type { Knex } from 'knex';
import type { Catalog } from '../catalog/catalog';
import type { PaymentEngine } from './payments/payment-engine';
import { createSubscriptionActivities } from './subscriptions/subscription.activities';
import { createUsageActivities } from './usage/usage.activities';

export interface ActivityDeps {
  db: Knex;
  payments: PaymentEngine;
  catalog: Catalog;
}

/** Every activity the workers register, built from injected dependencies (tests pass their own). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSubscriptionActivities(deps),
    ...createUsageActivities(deps),
  };
}
