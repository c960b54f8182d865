import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PurchaseOutcome, SubscriptionView, Term } from './subscription.types';

// Message definitions shared by the workflow (handlers) and the API (callers).
// Updates carry commands that need an answer; signals carry facts; queries read live state.

export const getStateQuery = defineQuery<SubscriptionView>('getState');

/** Resolves once the purchase charge (R-S1) has succeeded or failed. */
export const purchaseOutcomeUpdate = defineUpdate<PurchaseOutcome>('purchaseOutcome');

export interface RenewRequest {
  term: Term;
  autoRenew?: boolean;
  /** the client's Idempotency-Key: the same key never pays twice (R-P5) */
  requestKey: string;
}
export interface CommandResult {
  ok: boolean;
  code?: string;
  message?: string;
  view: SubscriptionView;
}
/** R-S5 manual renewal. */
export const renewUpdate = defineUpdate<CommandResult, [RenewRequest]>('renew');

export interface AutoRenewRequest {
  enabled: boolean;
  deductionDate?: string | null;
}
/** R-S3 auto-renew on/off and the deduction date. */
export const setAutoRenewUpdate = defineUpdate<SubscriptionView, [AutoRenewRequest]>('setAutoRenew');

export interface UnsubscribeResult {
  refund: string;
  view: SubscriptionView;
}
/** R-S11 unsubscribe and refund. */
export const unsubscribeUpdate = defineUpdate<UnsubscribeResult, [{ requestKey: string }]>('unsubscribe');

/** R-S12 upgrade to a higher edition, paying the pro-rata difference. */
export const upgradeUpdate = defineUpdate<CommandResult & { charged?: string }, [{ edition: string; requestKey: string }]>('upgrade');

/** A payment into the account happened (R-S6: in grace with auto-renew on, try at once). */
export const topUpSignal = defineSignal<[{ amount: string }]>('topUp');
