// R-I4: which resource status change calls a step of the lifecycle makes (issue #15). Pure: the
// store writes what this answers in the same transaction as the step itself.
//
// Types (docs/notifications.md):
// - resource.freeze / resource.unfreeze / resource.release: protection must stop / may resume /
//   the resource's data may go (R-S7, R-S9, R-S8, R-S11, R-U5);
// - subscription.active / subscription.renewed / subscription.grace / subscription.unsubscribed;
// - resource.bind / resource.unbind: a quota bound to or taken off a server (R-Q1, R-Q2);
// - arrears.grace / arrears.frozen / arrears.released / arrears.restored (R-U5).

export const STATUS_CHANGE_TYPES = [
  'resource.freeze',
  'resource.unfreeze',
  'resource.release',
  'subscription.active',
  'subscription.renewed',
  'subscription.grace',
  'subscription.unsubscribed',
  'resource.bind',
  'resource.unbind',
  'arrears.grace',
  'arrears.frozen',
  'arrears.released',
  'arrears.restored',
] as const;
export type StatusChangeType = (typeof STATUS_CHANGE_TYPES)[number];

const RENEWALS = new Set(['renewed', 'renewed_manually']);

/** A subscription step's calls. `previousStatus` is the status before the step (a renewal out of frozen or isolated unfreezes). */
export function subscriptionStatusChanges(event: string, status: string, previousStatus: string | null): StatusChangeType[] {
  if (RENEWALS.has(event)) {
    return previousStatus === 'frozen' || previousStatus === 'isolated' ? ['subscription.renewed', 'resource.unfreeze'] : ['subscription.renewed'];
  }
  switch (event) {
    case 'purchased':
    case 'trial_started':
      return ['subscription.active'];
    case 'grace_entered':
      return ['subscription.grace'];
    case 'frozen':
    case 'isolated': // R-S9: isolation stops protection at once
      return ['resource.freeze'];
    case 'released':
      return ['resource.release'];
    case 'unsubscribed': // R-S11: bindings removed, the resource goes
      return status === 'unsubscribed' ? ['subscription.unsubscribed', 'resource.release'] : [];
    default:
      return [];
  }
}

/** Whether a subscription step may make calls at all (the store reads the previous status only then). */
export const mayChangeSubscriptionStatus = (event: string): boolean => subscriptionStatusChanges(event, 'unsubscribed', 'frozen').length > 0;

/** An account (pay-per-use, R-U5) step's calls; `from` is the arrears status a payment restored from. */
export function arrearsStatusChanges(event: string, from: string | null): StatusChangeType[] {
  switch (event) {
    case 'arrears_grace':
      return ['arrears.grace'];
    case 'arrears_frozen':
      return ['arrears.frozen', 'resource.freeze'];
    case 'arrears_released':
      return ['arrears.released', 'resource.release'];
    case 'arrears_restored':
      return from === 'frozen' ? ['arrears.restored', 'resource.unfreeze'] : ['arrears.restored'];
    case 'arrears_paid': // the debt of released resources paid: nothing left to unfreeze
      return ['arrears.restored'];
    default:
      return [];
  }
}

/** Retries (issue #15): exponential from `baseMs`, at most 6 hours apart, until 3 days have passed. */
export const WEBHOOK_RETRY_WINDOW_MS = 3 * 24 * 3_600_000;
export const WEBHOOK_MAX_BACKOFF_MS = 6 * 3_600_000;
export function webhookBackoffMs(attempts: number, baseMs = 30_000): number {
  return Math.min(WEBHOOK_MAX_BACKOFF_MS, baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
}
