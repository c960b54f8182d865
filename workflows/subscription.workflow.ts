import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { addDays, addMonthsClamped, termMonths } from '../billing/calendar';
import {
  deductionAttempts,
  frozenEndsAt,
  graceEndsAt,
  isolationEndsAt,
  lifecycleForecast,
  validateDeductionDate,
} from '../billing/renewal-schedule';
import { defaultRenewalPeriod, renewalPeriodAfterManualRenewal, TRIAL_DAYS } from '../billing/subscription-rules';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { BillingAccountId, Edition, ExpiresAt, NextDeductionAt, Product, SubscriptionStatus } from '../common/search-attributes';
import {
  AutoRenewRequest,
  CommandResult,
  getStateQuery,
  purchaseOutcomeUpdate,
  renewUpdate,
  setAutoRenewUpdate,
  topUpSignal,
  unsubscribeUpdate,
  upgradeUpdate,
} from './subscription.messages';
import type {
  Forecast,
  PurchaseOutcome,
  PurchaseRequest,
  SubscriptionState,
  SubscriptionView,
  SubscriptionWorkflowInput,
  Term,
} from './subscription.types';

type Activities = ReturnType<typeof createActivities>;

// Technical retries (a DB blip, a transient gateway error) are the activity retry policy;
// business outcomes (declined, insufficient funds) come back as results, never as retries.
// They are local activities: each is a short, idempotent Postgres/gateway call, so running it
// inside the workflow task (a marker in history instead of schedule/start/complete events and
// two extra round trips to the server) lets a renewal — timer, charge, read model, continue-as-
// new — finish in one workflow task. That is what keeps a renewal storm near the bare baseline.
const acts = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // A PaymentError is a business refusal (bad input, unknown account): retrying cannot help.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', nonRetryableErrorTypes: ['PaymentError'] },
});

const REMINDER_DAYS_BEFORE_EXPIRY = 7; // R-S10
// Workflow versioning (patched): an auto-renew attempt in one local activity and the deferred
// continue-as-new (rolloverInstant). Histories recorded before it replay the old branch.
const LEAN_RENEWAL = 'lean-renewal-2026-11';
const ROLLOVER_DELAY_MS = 3_600_000;
const ROLLOVER_SPREAD_MS = 2 * 3_600_000;
const ENDED = new Set(['released', 'unsubscribed', 'payment_failed']);

export interface SubscriptionResult {
  subscriptionId: string;
  status: SubscriptionState['status'];
}

/**
 * One workflow per subscription (`subscription-<id>`, R-I2). It owns the subscription's whole
 * life on the workflow clock (R-T3): purchase or trial (R-S1, R-S2), the auto-renew deduction
 * schedule (R-S3, R-S4), manual renewal (R-S5), grace / frozen / released (R-S6…S8) or the
 * isolate policy (R-S9), unsubscribe (R-S11) and upgrade (R-S12). Every state change is
 * written to the read model by an activity; a renewed term continues as new.
 */
export async function subscriptionWorkflow(input: SubscriptionWorkflowInput): Promise<SubscriptionResult> {
  let purchase: PurchaseOutcome | null = input.state ? { ok: true, orderId: input.state.termOrderId } : null;
  let state: SubscriptionState = input.state ?? initialState(requirePurchase(input));
  // Versioning: a run that started before LEAN_RENEWAL replays without its marker and keeps the
  // old renewal path; every other run takes the new one and carries the choice across
  // continue-as-new, so the patch (and the TemporalChangeVersion search attribute it upserts)
  // is recorded once per subscription, not once per term.
  if (!state.leanRenewal && patched(LEAN_RENEWAL)) state = { ...state, leanRenewal: true };
  let version = 0; // bumped by every message that changes the plan; wakes the main loop
  let busy = false; // one money-moving step at a time (auto attempt, renewal, upgrade, refund)

  const view = (): SubscriptionView => ({ ...state, forecast: forecast(state), purchase });
  const bump = () => { version += 1; };

  async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await condition(() => !busy);
    busy = true;
    try {
      return await fn();
    } finally {
      busy = false;
    }
  }

  /** Persists a step to the read model; `at` is the rule's instant (e.g. the expiry), not the timer's firing. */
  async function record(event: string, at: number, details: Record<string, unknown> = {}, notify: string | null = null): Promise<void> {
    state = { ...state, seq: state.seq + 1 };
    await acts.recordSubscriptionState({ state, event, at, details, notify });
    publishSearchAttributes(state);
  }

  /** Sleeps until `at` (absolute, workflow clock); returns true when a message changed the plan first. */
  async function waitUntil(at: number | null): Promise<boolean> {
    const seen = version;
    if (at === null) {
      await condition(() => version !== seen);
      return true;
    }
    const ms = at - Date.now();
    if (ms <= 0) return false;
    return condition(() => version !== seen, ms);
  }

  /** Extends the term by `period` from the current expiry (R-S4), counted from the anchor (R-T2). */
  function extend(period: Term, orderId: string | null): void {
    state = extendedBy(state, period, orderId);
  }

  /** After a successful renewal: back to active, bindings restored if protection had stopped (R-Q4). */
  async function reactivate(at: number, event: string, details: Record<string, unknown>): Promise<void> {
    const wasSuspended = bindingsSuspended(state);
    state = reactivated(state);
    if (wasSuspended) await acts.restoreBindings({ subscriptionId: state.subscriptionId });
    await record(event, at, details, 'subscription.renewed');
  }

  /** Charges `term` of this subscription's edition × quantity under a business key (R-P5). */
  function chargeTerm(term: Term, reason: 'renewal' | 'manual_renewal', idempotencyKey: string, at: number) {
    return acts.chargeSubscriptionTerm(chargeInput(state, term, reason, idempotencyKey, at));
  }

  /** R-S3 / R-S6: one auto-renew deduction attempt. Returns true when the term was renewed. */
  async function attemptRenewal(trigger: 'schedule' | 'immediate' | 'top_up', scheduledAt: number): Promise<boolean> {
    // A scheduled attempt is recorded at its 03:00 (R-S3), not at the millisecond its timer fired.
    const at = trigger === 'schedule' ? scheduledAt : Date.now();
    const attempt = state.attemptsThisTerm + 1;
    const period = state.renewalPeriod;
    // R-P5: a business key per attempt; never the activity id, which restarts after continue-as-new.
    const key = `${state.subscriptionId}:term:${state.termNumber + 1}:attempt:${attempt}`;
    if (!state.leanRenewal) return attemptRenewalInSteps(trigger, at, attempt, period, key);
    // The charge and the read-model write of either outcome in one local activity: the workflow
    // states both possible next states up front, the activity writes the one that happened. A
    // renewal is then one activation of workflow code instead of three (what a 03:00 storm pays).
    const attempted: SubscriptionState = { ...state, attemptsThisTerm: attempt, lastAttemptAt: at, retryNow: false, seq: state.seq + 1 };
    const renewed = reactivated(extendedBy(attempted, period, null));
    const outcome = await acts.renewTerm({
      charge: chargeInput(state, period, 'renewal', key, at),
      restoreBindings: bindingsSuspended(state),
      renewed: { state: renewed, event: 'renewed', at, details: { attempt, trigger, period, expires_at: renewed.expiresAt }, notify: 'subscription.renewed' },
      failed: { state: attempted, event: 'deduction_failed', at, details: { attempt, trigger }, notify: 'subscription.deduction_failed' },
    });
    state = outcome.ok ? { ...renewed, termOrderId: outcome.orderId } : attempted;
    publishSearchAttributes(state);
    return outcome.ok;
  }

  /** The same attempt as two activities (charge, then record): how runs started before LEAN_RENEWAL replay. */
  async function attemptRenewalInSteps(trigger: 'schedule' | 'immediate' | 'top_up', at: number, attempt: number, period: Term, key: string): Promise<boolean> {
    const charged = await chargeTerm(period, 'renewal', key, at);
    state = { ...state, attemptsThisTerm: attempt, lastAttemptAt: at, retryNow: false };
    if (!charged.ok) {
      await record('deduction_failed', at, { attempt, trigger, code: charged.code, message: charged.message }, 'subscription.deduction_failed');
      return false;
    }
    extend(period, charged.orderId);
    await reactivate(at, 'renewed', { attempt, trigger, order_id: charged.orderId, amount: charged.amount, period, expires_at: state.expiresAt });
    return true;
  }

  setHandler(getStateQuery, view);
  setHandler(purchaseOutcomeUpdate, async () => {
    await condition(() => purchase !== null);
    return purchase as PurchaseOutcome;
  });

  // R-S5: manual renewal from active, grace, frozen (and isolated, R-S9); refused once ended.
  setHandler(renewUpdate, async (req): Promise<CommandResult> => exclusive(async () => {
    const at = Date.now();
    const charged = await chargeTerm(req.term, 'manual_renewal', `${state.subscriptionId}:renewal:${req.requestKey}`, at);
    if (!charged.ok) return { ok: false, code: charged.code, message: charged.message, view: view() };
    const autoRenew = req.autoRenew ?? state.autoRenew;
    const renewalPeriod = renewalPeriodAfterManualRenewal(state.renewalPeriod, req.term, req.autoRenew === true); // R-S4
    extend(req.term, charged.orderId);
    state = { ...state, autoRenew, renewalPeriod, autoRenewSince: autoRenew && !state.autoRenew ? at : state.autoRenewSince };
    await reactivate(at, 'renewed_manually', { order_id: charged.orderId, amount: charged.amount, term: req.term, expires_at: state.expiresAt });
    bump();
    return { ok: true, view: view() };
  }), {
    validator: (req) => {
      if (ENDED.has(state.status) || state.status === 'pending') {
        throw ApplicationFailure.nonRetryable(`a ${state.status} subscription cannot be renewed`, 'STATE.NOT_RENEWABLE');
      }
      termMonths(req.term);
    },
  });

  // R-S3: switching auto-renew on or off, and choosing the deduction date.
  setHandler(setAutoRenewUpdate, async (req: AutoRenewRequest) => {
    const now = Date.now();
    const switchedOn = req.enabled && !state.autoRenew;
    state = {
      ...state,
      autoRenew: req.enabled,
      deductionDate: req.deductionDate === undefined ? state.deductionDate : req.deductionDate,
      autoRenewSince: switchedOn ? now : state.autoRenewSince,
    };
    await record('auto_renew_changed', now, { enabled: req.enabled, deduction_date: state.deductionDate });
    bump();
    return view();
  }, {
    validator: (req) => {
      if (ENDED.has(state.status) || state.status === 'pending') {
        throw ApplicationFailure.nonRetryable(`auto-renew cannot change on a ${state.status} subscription`, 'STATE.ENDED');
      }
      if (req.deductionDate) {
        const problem = validateDeductionDate(req.deductionDate, state.expiresAt, Date.now(), state.settings.offsetMinutes);
        if (problem) throw ApplicationFailure.nonRetryable(problem, 'VALIDATION.DEDUCTION_DATE');
      }
    },
  });

  // R-S11: unsubscribe an active subscription; the unused part goes back to cash.
  setHandler(unsubscribeUpdate, async (req) => exclusive(async () => {
    const at = Date.now();
    const { refund } = await acts.refundSubscription({
      subscriptionId: state.subscriptionId,
      orderId: state.termOrderId,
      termStartedAt: state.termStartedAt,
      termMonths: state.termMonthsCount,
      offsetMinutes: state.settings.offsetMinutes,
      at,
      idempotencyKey: `${state.subscriptionId}:unsubscribe:${req.requestKey}`,
    });
    state = { ...state, status: 'unsubscribed', autoRenew: false };
    await acts.deleteBindings({ subscriptionId: state.subscriptionId });
    await record('unsubscribed', at, { refund }, 'subscription.refund');
    bump();
    return { refund, view: view() };
  }), {
    validator: (_req: { requestKey: string }) => {
      if (state.status !== 'active') throw ApplicationFailure.nonRetryable(`only an active subscription can be unsubscribed (this one is ${state.status})`, 'STATE.NOT_ACTIVE');
    },
  });

  // R-S12: upgrade, paying the pro-rata price difference for the rest of the term.
  setHandler(upgradeUpdate, async (req) => exclusive(async () => {
    const at = Date.now();
    const charged = await acts.chargeUpgrade({
      subscriptionId: state.subscriptionId,
      accountId: state.accountId,
      product: state.product,
      fromEdition: state.edition,
      toEdition: req.edition,
      quantity: state.quantity,
      termStartedAt: state.termStartedAt,
      termMonths: state.termMonthsCount,
      offsetMinutes: state.settings.offsetMinutes,
      at,
      idempotencyKey: `${state.subscriptionId}:upgrade:${req.requestKey}`,
    });
    if (!charged.ok) return { ok: false, code: charged.code, message: charged.message, view: view() };
    const from = state.edition;
    state = { ...state, edition: req.edition };
    await record('upgraded', at, { from, to: req.edition, order_id: charged.orderId, charged: charged.amount }, 'subscription.upgraded');
    bump();
    return { ok: true, charged: charged.amount, view: view() };
  }), {
    validator: (req) => {
      if (state.status !== 'active') throw ApplicationFailure.nonRetryable(`only an active subscription can be upgraded (this one is ${state.status})`, 'STATE.NOT_ACTIVE');
      if (req.edition === state.edition) throw ApplicationFailure.nonRetryable(`already ${state.edition}`, 'SUBSCRIPTION.SAME_EDITION');
    },
  });

  // R-S6 / R-S7 / R-S9: a top-up while protection is lapsing, with auto-renew on, triggers an
  // immediate renewal attempt.
  setHandler(topUpSignal, () => {
    if (state.autoRenew && (state.status === 'grace' || state.status === 'frozen' || state.status === 'isolated')) {
      state = { ...state, retryNow: true };
      bump();
    }
  });

  if (!input.state) {
    const req = requirePurchase(input);
    const outcome = await purchaseOrTrial(req);
    if (!outcome.ok) {
      purchase = outcome;
      state = { ...state, status: 'payment_failed' };
      await condition(allHandlersFinished);
      return { subscriptionId: state.subscriptionId, status: state.status };
    }
    state = { ...state, status: req.trial ? 'trial' : 'active', termOrderId: outcome.orderId };
    await record(req.trial ? 'trial_started' : 'purchased', state.startedAt, { order_id: outcome.orderId }, req.trial ? 'subscription.trial_started' : 'subscription.purchased');
    purchase = outcome;
  } else {
    publishSearchAttributes(state);
  }

  // After a renewal the run is cut (continue-as-new) at a quiet instant instead of at once: see
  // rolloverAt. null until this run has renewed a term.
  let rolloverAt: number | null = null;
  for (;;) {
    if (ENDED.has(state.status)) break;
    if ((rolloverAt !== null && Date.now() >= rolloverAt) || workflowInfo().continueAsNewSuggested) {
      // A renewed term is a natural boundary: a fresh history per term, absolute instants carried.
      await condition(allHandlersFinished);
      await continueAsNew<typeof subscriptionWorkflow>({ state });
    }
    const step = nextStep(state, Date.now());
    const rolloverFirst = rolloverAt !== null && (step.at === null || rolloverAt < step.at);
    if (await waitUntil(rolloverFirst ? rolloverAt : step.at)) continue;
    if (rolloverFirst) continue;
    if (busy) {
      await condition(() => !busy);
      continue; // a renewal/upgrade ran meanwhile: recompute the plan
    }
    let renewed = false;
    busy = true;
    try {
      switch (step.kind) {
        case 'reminder':
          state = { ...state, reminderSentForTerm: state.termNumber };
          await record('expiry_reminder', step.at as number, { expires_at: state.expiresAt }, 'subscription.expiry_reminder');
          break;
        case 'attempt':
          renewed = await attemptRenewal(step.trigger, step.at);
          break;
        case 'expire':
          await expire();
          break;
        case 'freeze':
          state = { ...state, status: 'frozen' }; // R-S7: protection stops, data kept
          await acts.suspendBindings({ subscriptionId: state.subscriptionId });
          await record('frozen', state.graceEndsAt as number, {}, 'subscription.frozen');
          break;
        case 'release':
          state = { ...state, status: 'released', autoRenew: false }; // R-S8 / R-S9
          await acts.deleteBindings({ subscriptionId: state.subscriptionId });
          await record('released', state.frozenEndsAt as number, {}, 'subscription.released');
          break;
      }
    } finally {
      busy = false;
    }
    if (renewed && !state.leanRenewal) {
      // Runs from before LEAN_RENEWAL continued as new right at the renewal.
      await condition(allHandlersFinished);
      await continueAsNew<typeof subscriptionWorkflow>({ state });
    }
    if (renewed && rolloverAt === null) rolloverAt = rolloverInstant(state.subscriptionId, Date.now());
  }
  await condition(allHandlersFinished);
  return { subscriptionId: state.subscriptionId, status: state.status };

  async function expire(): Promise<void> {
    // R-S6 / R-S9: expiry without a successful renewal.
    if (state.settings.policy === 'isolate') {
      state = { ...state, status: 'isolated', graceEndsAt: state.expiresAt, frozenEndsAt: isolationEndsAt(state.expiresAt) };
      await acts.suspendBindings({ subscriptionId: state.subscriptionId }); // unbound at once
      await record('isolated', state.expiresAt, {}, 'subscription.isolated');
    } else {
      const graceEnd = graceEndsAt(state.expiresAt, state.settings);
      state = { ...state, status: 'grace', graceEndsAt: graceEnd, frozenEndsAt: frozenEndsAt(graceEnd, state.settings) };
      await record('grace_entered', state.expiresAt, {}, 'subscription.grace');
    }
  }

  async function purchaseOrTrial(req: PurchaseRequest): Promise<PurchaseOutcome> {
    if (req.trial) {
      // R-S2: once per account.
      const claim = await acts.claimTrial({ accountId: req.accountId, subscriptionId: req.subscriptionId });
      return claim.ok ? { ok: true, orderId: null } : { ok: false, orderId: null, code: 'SUBSCRIPTION.TRIAL_USED', message: 'this account has already used its free trial' };
    }
    // R-S1: charge first; if it fails nothing is created and the API answers 402.
    return acts.chargeSubscriptionTerm({
      subscriptionId: req.subscriptionId,
      accountId: req.accountId,
      product: req.product,
      edition: req.edition,
      quantity: req.quantity,
      term: req.term as Term,
      reason: 'purchase',
      idempotencyKey: `${req.subscriptionId}:term:1`,
      at: Date.now(),
    });
  }
}

/**
 * When a run that renewed a term continues as new. Renewals cluster at 03:00 (R-S3), and starting
 * a new run is the most expensive thing a renewal would do (a new execution on the server, a new
 * workflow context on the worker), so it is moved off the peak: 1 to 3 hours after the renewal,
 * spread by a hash of the subscription id (deterministic, so replay agrees). The term is already
 * paid, recorded and visible when the run is cut; only the history boundary moves.
 */
function rolloverInstant(subscriptionId: string, renewedAt: number): number {
  let h = 0;
  for (let i = 0; i < subscriptionId.length; i += 1) h = (h * 31 + subscriptionId.charCodeAt(i)) >>> 0;
  return renewedAt + ROLLOVER_DELAY_MS + (h % ROLLOVER_SPREAD_MS);
}

/** The payment for `term` of this subscription's edition × quantity under a business key (R-P5). */
function chargeInput(s: SubscriptionState, term: Term, reason: 'renewal' | 'manual_renewal', idempotencyKey: string, at: number) {
  return { subscriptionId: s.subscriptionId, accountId: s.accountId, product: s.product, edition: s.edition, quantity: s.quantity, term, reason, idempotencyKey, at };
}

/** R-S7 / R-S9: frozen and isolated hold the bindings suspended; a renewal restores them (R-Q4). */
function bindingsSuspended(s: SubscriptionState): boolean {
  return s.status === 'frozen' || s.status === 'isolated';
}

/** After a successful renewal: active again, and no longer a trial. */
function reactivated(s: SubscriptionState): SubscriptionState {
  return { ...s, status: 'active', trial: s.status === 'trial' ? false : s.trial };
}

/** `s` with its term extended by `period` from the current expiry (R-S4), counted from the anchor (R-T2). */
function extendedBy(s: SubscriptionState, period: Term, orderId: string | null): SubscriptionState {
  const months = termMonths(period);
  const monthsFromAnchor = s.monthsFromAnchor + months;
  return {
    ...s,
    termStartedAt: s.expiresAt,
    termMonthsCount: months,
    monthsFromAnchor,
    expiresAt: addMonthsClamped(s.anchorAt, monthsFromAnchor, s.settings.offsetMinutes),
    termNumber: s.termNumber + 1,
    termOrderId: orderId,
    attemptsThisTerm: 0,
    lastAttemptAt: null,
    retryNow: false,
    deductionDate: null, // a chosen date belongs to the term it was set for
    graceEndsAt: null,
    frozenEndsAt: null,
  };
}

type Step =
  | { kind: 'reminder'; at: number }
  | { kind: 'attempt'; at: number; trigger: 'schedule' | 'immediate' | 'top_up' }
  | { kind: 'expire' | 'freeze' | 'release'; at: number };

/** What happens next, and when, if no message arrives first. */
function nextStep(s: SubscriptionState, now: number): Step {
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
      const order = { reminder: 0, attempt: 1, expire: 2, freeze: 3, release: 4 };
      return candidates.sort((a, b) => a.at - b.at || order[a.kind] - order[b.kind])[0];
    }
    case 'grace':
      return s.retryNow ? { kind: 'attempt', at: now, trigger: 'top_up' } : { kind: 'freeze', at: s.graceEndsAt as number };
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

function requirePurchase(input: SubscriptionWorkflowInput): PurchaseRequest {
  if (!input.purchase) throw ApplicationFailure.nonRetryable('workflow input has neither purchase nor state', 'SUBSCRIPTION.BAD_INPUT');
  return input.purchase;
}

function initialState(req: PurchaseRequest): SubscriptionState {
  const now = Date.now();
  const term: Term = req.term ?? { unit: 'month', count: 1 };
  // R-S2: a trial runs 30 days; renewals then count months from the trial's end (R-T2).
  const anchorAt = req.trial ? addDays(now, TRIAL_DAYS) : now;
  const monthsFromAnchor = req.trial ? 0 : termMonths(term);
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
    expiresAt: addMonthsClamped(anchorAt, monthsFromAnchor, req.settings.offsetMinutes),
    autoRenew: req.autoRenew,
    deductionDate: req.deductionDate,
    renewalPeriod: defaultRenewalPeriod(term), // R-S4
    termNumber: 1,
    termStartedAt: now,
    termMonthsCount: req.trial ? 1 : termMonths(term),
    termOrderId: null,
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
function forecast(s: SubscriptionState): Forecast {
  const status = s.status === 'pending' ? 'active' : s.status === 'payment_failed' ? 'released' : s.status;
  const f = lifecycleForecast({
    status,
    expiresAt: s.expiresAt,
    now: Date.now(),
    offsetMinutes: s.settings.offsetMinutes,
    autoRenew: s.autoRenew,
    deductionDate: s.deductionDate,
    periods: s.settings,
    policy: s.settings.policy,
    graceEndsAt: s.graceEndsAt,
    frozenEndsAt: s.frozenEndsAt,
  });
  // Attempts already made this term are history, not forecast.
  const attempts = f.deductionAttempts.filter((a) => s.lastAttemptAt === null || a > s.lastAttemptAt);
  return { ...f, deductionAttempts: attempts, nextDeductionAt: attempts[0] ?? null };
}

/** Search attributes for ops (R-I2) and a readable summary in the Temporal UI. */
function publishSearchAttributes(s: SubscriptionState): void {
  const next = ENDED.has(s.status) ? null : forecast(s).nextDeductionAt;
  const iso = (ms: number | null) => (ms === null ? '—' : new Date(ms + s.settings.offsetMinutes * 60_000).toISOString().replace('T', ' ').slice(0, 16));
  setCurrentDetails([
    `**${s.product}/${s.edition}** × ${s.quantity} (${s.region}) — account \`${s.accountId}\``,
    `status **${s.status}**, term ${s.termNumber}, expires ${iso(s.expiresAt)} (billing local time)`,
    `auto-renew ${s.autoRenew ? `on, every ${s.renewalPeriod.count} ${s.renewalPeriod.unit}(s), next attempt ${iso(next)}` : 'off'}`,
    s.graceEndsAt !== null ? `grace ends ${iso(s.graceEndsAt)}, released ${iso(s.frozenEndsAt)}` : '',
  ].filter(Boolean).join('\n\n'));
  const wanted: SearchAttributeUpdatePair[] = [
    { key: BillingAccountId, value: s.accountId },
    { key: Product, value: s.product },
    { key: Edition, value: s.edition },
    { key: SubscriptionStatus, value: s.status },
    { key: ExpiresAt, value: new Date(s.expiresAt) },
    { key: NextDeductionAt, value: next === null ? null : new Date(next) },
  ];
  // Upsert only what changed (each upsert is a visibility write on the server); the values a run
  // continued-as-new with are carried over, so a renewed term's new run usually upserts nothing.
  const current = workflowInfo().typedSearchAttributes;
  const key = (v: unknown) => (v instanceof Date ? v.getTime() : v ?? null);
  const changed = wanted.filter((p) => key(current.get(p.key as never)) !== key(p.value));
  if (changed.length > 0) upsertSearchAttributes(changed);
}
