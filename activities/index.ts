import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import type { Catalog } from '../catalog/catalog';
import { PaymentError } from '../payments/errors';
import type { PaymentEngine } from '../payments/payment-engine';
import { createSubscriptionActivities } from './subscriptions/subscription.activities';
import { createUsageActivities } from './usage/usage.activities';

export interface ActivityDeps {
  db: Knex;
  payments: PaymentEngine;
  catalog: Catalog;
}

/**
 * A business refusal from below (a PaymentError: insufficient funds to refund, an idempotency
 * mismatch, an unknown order) becomes a non-retryable ApplicationFailure whose type is its stable
 * code: retrying cannot change it (issue #11: business errors are non-retryable in both
 * workflows), and the workflow can hand the code on to the API unchanged.
 */
function refusalsAsFailures<T extends Record<string, (...args: any[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, (...args: any[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: any[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        if (err instanceof PaymentError) throw ApplicationFailure.nonRetryable(err.message, err.code, err.details);
        throw err;
      }
    };
  }
  return wrapped as T;
}

/** Every activity the workers register, built from injected dependencies (tests pass their own). */
export function createActivities(deps: ActivityDeps) {
  return refusalsAsFailures({
    ...createSubscriptionActivities(deps),
    ...createUsageActivities(deps),
  });
}
