import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { TermWindow } from '../billing/subscription-rules';
import type { PurchaseOutcome, PurchaseRequest, SubscriptionView, Term } from './subscription.types';

// Message definitions shared by the workflow (handlers) and the API (callers).
// Updates carry commands that need an answer; signals carry facts; queries read live state.

export const getStateQuery = defineQuery<SubscriptionView>('getState');

/** R-S12 / R-I5: the paid terms an upgrade now would pay the difference on (for a quote). */
export const upgradableTermsQuery = defineQuery<TermWindow[]>('upgradableTerms');

/**
 * Resolves once the purchase charge (R-S1) has succeeded or failed. The API sends it with the
 * workflow's start (update-with-start), carrying the purchase's fingerprint: a second purchase
 * under the same Idempotency-Key with another body is refused (IDEMPOTENCY.MISMATCH).
 */
export const purchaseOutcomeUpdate = defineUpdate<PurchaseOutcome, [PurchaseOutcomeRequest]>('purchaseOutcome');
export interface PurchaseOutcomeRequest {
  /** purchaseFingerprint of the request; absent in histories from before issue #11 */
  fingerprint?: string;
}

/**
 * The canonical form of a purchase: what makes two requests under one key "the same purchase".
 * Deterministic and dependency-free, so the API and the workflow compute the same string.
 */
export function purchaseFingerprint(p: Pick<PurchaseRequest, 'accountId' | 'product' | 'edition' | 'region' | 'quantity' | 'term' | 'trial' | 'autoRenew' | 'deductionDate' | 'discountId'>): string {
  return JSON.stringify([p.accountId, p.product, p.edition, p.region, p.quantity, p.term ? [p.term.unit, p.term.count] : null, p.trial, p.autoRenew, p.deductionDate, p.discountId ?? null]);
}

export interface RenewRequest {
  term: Term;
  autoRenew?: boolean;
  /** R-P2: a promotional discount granted to the account, used for this order */
  discountId?: string | null;
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

/** The canonical form of each command's request (the same key with another one is IDEMPOTENCY.MISMATCH). */
export const commandFingerprint = {
  renew: (r: Pick<RenewRequest, 'term' | 'autoRenew' | 'discountId'>) => JSON.stringify([r.term.unit, r.term.count, r.autoRenew ?? null, r.discountId ?? null]),
  upgrade: (r: { edition: string }) => JSON.stringify([r.edition]),
  unsubscribe: () => '[]',
};
/** R-S11 unsubscribe and refund. */
export const unsubscribeUpdate = defineUpdate<UnsubscribeResult, [{ requestKey: string }]>('unsubscribe');

/** R-S12 upgrade to a higher edition, paying the pro-rata difference. */
export const upgradeUpdate = defineUpdate<CommandResult & { charged?: string }, [{ edition: string; requestKey: string }]>('upgrade');

/** A payment into the account happened (R-S6: in grace with auto-renew on, try at once). */
export const topUpSignal = defineSignal<[{ amount: string }]>('topUp');
