import { ApplicationFailure } from '@temporalio/workflow';
import { addDays, addMonthsClamped, Term, termMonths } from '../billing/calendar';
import { deductionAttempts, subscriptionForecast } from '../billing/renewal-schedule';
import { defaultRenewalPeriod, TermWindow, TRIAL_DAYS } from '../billing/subscription-rules';
import { purchaseFingerprint } from './subscription.messages';
import type {
  CommandOutcome,
  CoveragePart,
  Forecast,
  PaidTerm,
  PurchaseRequest,
  RememberedCommand,
  SubscriptionState,
  SubscriptionWorkflowInput,
  UpgradeCoverage,
} from './subscription.types';

// The subscription workflow's state transitions as plain functions of (state, instant): no
// Temporal calls but ApplicationFailure, so they are deterministic and read at once.

export const ENDED: ReadonlySet<string> = new Set(['released', 'unsubscribed', 'payment_failed']);
const REMINDER_DAYS_BEFORE_EXPIRY = 7; // R-S10
const ROLLOVER_DELAY_MS = 3_600_000;
const ROLLOVER_SPREAD_MS = 2 * 3_600_000;
/** Remembered commands: long enough for any client retry, short enough to keep state small. */
const COMMAND_MEMORY_MS = 45 * 86_400_000;
const COMMAND_MEMORY_MAX = 200;

/**
 * When a run that renewed a term continues as new. Renewals cluster at 03:00 (R-S3), and starting
 * a new run is the most expensive thing a renewal would do (a new execution on the server, a new
 * workflow context on the worker), so it is moved off the peak: 1 to 3 hours after the renewal,
 * spread by a hash of the subscription id (deterministic, so replay agrees). The term is already
 * paid, recorded and visible when the run is cut; only the history boundary moves.
 */
export function rolloverInstant(subscriptionId: string, renewedAt: number): number {
  let h = 0;
  for (let i = 0; i < subscriptionId.length; i += 1) h = (h * 31 + subscriptionId.charCodeAt(i)) >>> 0;
  return renewedAt + ROLLOVER_DELAY_MS + (h % ROLLOVER_SPREAD_MS);
}

/** The payment for `term` of this subscription's edition × quantity under a business key (R-P5). */
export function chargeInput(s: SubscriptionState, term: Term, reason: 'renewal' | 'manual_renewal', idempotencyKey: string, at: number, discountId: string | null = null) {
  return { subscriptionId: s.subscriptionId, accountId: s.accountId, product: s.product, edition: s.edition, quantity: s.quantity, term, reason, idempotencyKey, at, ...(discountId ? { discountId } : {}) };
}

/** R-S7 / R-S9: frozen and isolated hold the bindings suspended; a renewal restores them (R-Q4). */
export function bindingsSuspended(s: SubscriptionState): boolean {
  return s.status === 'frozen' || s.status === 'isolated';
}

/** After a successful renewal: active again, and no longer a trial. */
export function reactivated(s: SubscriptionState): SubscriptionState {
  return { ...s, status: 'active', trial: s.status === 'trial' ? false : s.trial };
}

/** A 12-month term was bought yearly unless the state says otherwise (runs from before `terms`). */
const termOfMonths = (months: number): Term => (months % 12 === 0 ? { unit: 'year', count: months / 12 } : { unit: 'month', count: months });

/** The paid terms not yet over; a state carried from before issue #11 knows only its latest term. */
export function paidTerms(s: SubscriptionState): PaidTerm[] {
  return s.terms ?? [{ number: s.termNumber, startsAt: s.termStartedAt, endsAt: s.expiresAt, term: termOfMonths(s.termMonthsCount), orderId: s.termOrderId }];
}

/**
 * `s` with its term extended by `period` from the current expiry (R-S4), counted from the anchor
 * (R-T2). The new term joins the paid terms (its order is set by withTermOrder once known); terms
 * and upgrades wholly in the past are dropped: used up, they count for nothing any more.
 */
export function extendedBy(s: SubscriptionState, period: Term, orderId: string | null, at: number): SubscriptionState {
  const months = termMonths(period);
  const monthsFromAnchor = s.monthsFromAnchor + months;
  const expiresAt = addMonthsClamped(s.anchorAt, monthsFromAnchor, s.settings.offsetMinutes);
  const terms = [...paidTerms(s).filter((t) => t.endsAt > at), { number: s.termNumber + 1, startsAt: s.expiresAt, endsAt: expiresAt, term: period, orderId }];
  return {
    ...s,
    termStartedAt: s.expiresAt,
    termMonthsCount: months,
    monthsFromAnchor,
    expiresAt,
    termNumber: s.termNumber + 1,
    termOrderId: orderId,
    terms,
    upgrades: (s.upgrades ?? []).filter((u) => u.endsAt > at),
    attemptsThisTerm: 0,
    lastAttemptAt: null,
    retryNow: false,
    deductionDate: null, // a chosen date belongs to the term it was set for
    graceEndsAt: null,
    frozenEndsAt: null,
  };
}

/** The order that paid the latest term, once the charge has answered. */
export function withTermOrder(s: SubscriptionState, orderId: string | null): SubscriptionState {
  const terms = paidTerms(s).map((t) => (t.number === s.termNumber ? { ...t, orderId } : t));
  return { ...s, termOrderId: orderId, terms };
}

/** R-S12: the paid terms an upgrade at `at` pays the difference for (a trial term is not paid). */
export function upgradableTerms(s: SubscriptionState, at: number): TermWindow[] {
  return paidTerms(s).filter((t) => t.orderId !== null && t.endsAt > at).map((t) => ({ startsAt: t.startsAt, endsAt: t.endsAt, term: t.term }));
}

/** After an upgrade: the new edition, and the upgrade order's share of the terms (R-S11 refunds it). */
export function upgraded(s: SubscriptionState, edition: string, orderId: string | null, parts: CoveragePart[]): SubscriptionState {
  const upgrades: UpgradeCoverage[] = orderId === null || parts.length === 0
    ? s.upgrades ?? []
    : [...(s.upgrades ?? []), { orderId, endsAt: Math.max(...paidTerms(s).map((t) => t.endsAt)), parts }];
  return { ...s, edition, upgrades };
}

/**
 * R-S11: every order whose service is not used up at `at`, with its share of the terms. A term
 * order's part is its whole term (its list amount is the order's, read by the activity).
 */
export function paidCoverage(s: SubscriptionState, at: number): { orderId: string; parts: (Omit<CoveragePart, 'list'> & { list?: string })[] }[] {
  const terms = paidTerms(s)
    .filter((t): t is PaidTerm & { orderId: string } => t.orderId !== null && t.endsAt > at)
    .map((t) => ({ orderId: t.orderId, parts: [{ termStartsAt: t.startsAt, termMonths: termMonths(t.term), from: t.startsAt }] }));
  const ups = (s.upgrades ?? []).filter((u) => u.endsAt > at).map((u) => ({ orderId: u.orderId, parts: u.parts }));
  return [...terms, ...ups];
}

// ---------------------------------------------------------------------------------------------
// Commands that move money answer once per Idempotency-Key (issue #11, defect 2): the key maps
// to the first outcome, across key scopes, API retries and replays, not only at the charge.

export const commandKey = (kind: 'renew' | 'upgrade' | 'unsubscribe', requestKey: string) => `${kind}:${requestKey}`;

export function rememberedCommand(s: SubscriptionState, key: string): RememberedCommand | undefined {
  return s.commands?.[key];
}

/** Throws IDEMPOTENCY.MISMATCH when `key` was used for another request; true when it is known. */
export function checkCommand(s: SubscriptionState, key: string, fingerprint: string): boolean {
  const known = rememberedCommand(s, key);
  if (!known) return false;
  if (known.fingerprint !== fingerprint) {
    throw ApplicationFailure.nonRetryable('this Idempotency-Key was used with a different request', 'IDEMPOTENCY.MISMATCH');
  }
  return true;
}

export function remember(s: SubscriptionState, key: string, fingerprint: string, outcome: CommandOutcome, at: number): SubscriptionState {
  const kept = Object.entries(s.commands ?? {})
    .filter(([, c]) => c.at > at - COMMAND_MEMORY_MS)
    .sort(([, a], [, b]) => b.at - a.at)
    .slice(0, COMMAND_MEMORY_MAX - 1);
  return { ...s, commands: Object.fromEntries([...kept, [key, { fingerprint, at, outcome }]]) };
}

// ---------------------------------------------------------------------------------------------
// The plan: what happens next, and when

export type Step =
  | { kind: 'reminder'; at: number }
  | { kind: 'grace_reminder'; at: number }
  | { kind: 'attempt'; at: number; trigger: 'schedule' | 'immediate' | 'top_up' }
  | { kind: 'expire' | 'freeze' | 'release'; at: number };

/** What happens next, and when, if no message arrives first. */
/** R-S6 "reminders are sent" during grace: every 7 days after expiry, and the day before protection stops. */
export const GRACE_REMINDER_EVERY_DAYS = 7;
export function graceReminderInstants(expiresAt: number, graceEndsAt: number): number[] {
  const out: number[] = [];
  for (let at = addDays(expiresAt, GRACE_REMINDER_EVERY_DAYS); at < graceEndsAt; at = addDays(at, GRACE_REMINDER_EVERY_DAYS)) out.push(at);
  const last = addDays(graceEndsAt, -1);
  if (last > expiresAt && !out.includes(last)) out.push(last);
  return out.sort((a, b) => a - b);
}

export function nextStep(s: SubscriptionState, now: number): Step {
  switch (s.status) {
    case 'trial':
    case 'active': {
      const candidates: Step[] = [{ kind: 'expire', at: s.expiresAt }];
      const attempt = nextAttempt(s, now);
      if (attempt !== null) candidates.push({ kind: 'attempt', at: attempt.at, trigger: attempt.immediate ? 'immediate' : 'schedule' });
      const remindAt = addDays(s.expiresAt, -REMINDER_DAYS_BEFORE_EXPIRY);
      if (s.reminderSentForTerm < s.termNumber && remindAt >= s.termStartedAt && remindAt < s.expiresAt) {
        candidates.push({ kind: 'reminder', at: Math.max(remindAt, now) });
      }
      // Earliest first; on a tie the reminder goes before the attempt, and both before expiry.
      const order = { reminder: 0, grace_reminder: 0, attempt: 1, expire: 2, freeze: 3, release: 4 };
      return candidates.sort((a, b) => a.at - b.at || order[a.kind] - order[b.kind])[0];
    }
    case 'grace': {
      if (s.retryNow) return { kind: 'attempt', at: now, trigger: 'top_up' };
      const freezeAt = s.graceEndsAt as number;
      const remindAt = s.graceReminders ? graceReminderInstants(s.expiresAt, freezeAt)[s.graceRemindersSent ?? 0] : undefined;
      return remindAt !== undefined ? { kind: 'grace_reminder', at: remindAt } : { kind: 'freeze', at: freezeAt };
    }
    case 'frozen':
    case 'isolated':
      return s.retryNow ? { kind: 'attempt', at: now, trigger: 'top_up' } : { kind: 'release', at: s.frozenEndsAt as number };
    default:
      throw ApplicationFailure.nonRetryable(`no next step for status ${s.status}`, 'SUBSCRIPTION.BAD_STATE');
  }
}

/**
 * R-S3: the next auto-renew attempt. Scheduled 03:00 attempts not yet made; the immediate
 * late-switch-on attempt only once per switch-on (a failed immediate attempt is not repeated).
 */
function nextAttempt(s: SubscriptionState, now: number): { at: number; immediate: boolean } | null {
  if (!s.autoRenew) return null;
  const after = s.lastAttemptAt ?? -Infinity;
  const next = deductionAttempts({ expiresAt: s.expiresAt, now, offsetMinutes: s.settings.offsetMinutes, deductionDate: s.deductionDate })
    .find((a) => a.at > after);
  if (!next) return null;
  if (next.immediate && s.lastAttemptAt !== null && s.autoRenewSince !== null && s.lastAttemptAt >= s.autoRenewSince) return null;
  return next;
}

export function requirePurchase(input: SubscriptionWorkflowInput): PurchaseRequest {
  if (!input.purchase) throw ApplicationFailure.nonRetryable('workflow input has neither purchase nor state', 'SUBSCRIPTION.BAD_INPUT');
  return input.purchase;
}

export function initialState(req: PurchaseRequest, now: number): SubscriptionState {
  const term: Term = req.term ?? { unit: 'month', count: 1 };
  // R-S2: a trial runs 30 days; renewals then count months from the trial's end (R-T2).
  const anchorAt = req.trial ? addDays(now, TRIAL_DAYS) : now;
  const monthsFromAnchor = req.trial ? 0 : termMonths(term);
  const expiresAt = addMonthsClamped(anchorAt, monthsFromAnchor, req.settings.offsetMinutes);
  return {
    subscriptionId: req.subscriptionId,
    accountId: req.accountId,
    product: req.product,
    edition: req.edition,
    region: req.region,
    quantity: req.quantity,
    trial: req.trial,
    status: 'pending',
    startedAt: now,
    anchorAt,
    monthsFromAnchor,
    expiresAt,
    autoRenew: req.autoRenew,
    deductionDate: req.deductionDate,
    renewalPeriod: defaultRenewalPeriod(term), // R-S4
    termNumber: 1,
    termStartedAt: now,
    termMonthsCount: req.trial ? 1 : termMonths(term),
    termOrderId: null,
    terms: req.trial ? [] : [{ number: 1, startsAt: now, endsAt: expiresAt, term, orderId: null }],
    upgrades: [],
    commands: {},
    purchaseFingerprint: purchaseFingerprint(req),
    attemptsThisTerm: 0,
    lastAttemptAt: null,
    autoRenewSince: req.autoRenew ? now : null,
    retryNow: false,
    reminderSentForTerm: 0,
    graceEndsAt: null,
    frozenEndsAt: null,
    settings: req.settings,
    seq: 0,
  };
}

/** API.md's forecast: what happens if no deduction succeeds (R-S3, R-S6…S9). */
export function forecast(s: SubscriptionState, now: number): Forecast {
  const status = s.status === 'pending' ? 'active' : s.status === 'payment_failed' ? 'released' : s.status;
  return subscriptionForecast({
    status,
    expiresAt: s.expiresAt,
    now,
    offsetMinutes: s.settings.offsetMinutes,
    autoRenew: s.autoRenew,
    deductionDate: s.deductionDate,
    periods: s.settings,
    policy: s.settings.policy,
    graceEndsAt: s.graceEndsAt,
    frozenEndsAt: s.frozenEndsAt,
    lastAttemptAt: s.lastAttemptAt,
  });
}
