import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { createActivities } from '../activities';
import { termMonths } from '../billing/calendar';
import { frozenEndsAt, graceEndsAt, isolationEndsAt, validateDeductionDate } from '../billing/renewal-schedule';
import { canChangeEdition, canRenewManually, canSwitchAutoRenew, canUnsubscribe, renewalPeriodAfterManualRenewal } from '../billing/subscription-rules';
import { BillingAccountId, Edition, ExpiresAt, NextDeductionAt, Product, SubscriptionStatus } from './search-attributes';
import { asRefusal, boundedActivities } from './bounded-activities';
import { writePosition } from './write-position';
import { metricsSink } from './metrics.sinks';
import {
  AutoRenewRequest,
  CommandResult,
  commandFingerprint,
  getStateQuery,
  purchaseOutcomeUpdate,
  renewUpdate,
  setAutoRenewUpdate,
  topUpSignal,
  unsubscribeUpdate,
  upgradableTermsQuery,
  upgradeUpdate,
} from './subscription.messages';
import {
  bindingsSuspended,
  chargeInput,
  checkCommand,
  commandKey,
  ENDED,
  extendedBy,
  forecast,
  initialState,
  nextStep,
  paidCoverage,
  reactivated,
  remember,
  rememberedCommand,
  requirePurchase,
  rolloverInstant,
  upgradableTerms,
  upgraded,
  withTermOrder,
} from './subscription.state';
import type { CommandOutcome, PurchaseOutcome, PurchaseRequest, SubscriptionState, SubscriptionView, SubscriptionWorkflowInput, Term } from './subscription.types';

type Activities = ReturnType<typeof createActivities>;

// Workflow versioning (patched): an auto-renew attempt in one local activity and the deferred
// continue-as-new (rolloverInstant). Histories recorded before it replay the old branch.
const LEAN_RENEWAL = 'lean-renewal-2026-11';
// Versioning: money-moving commands answer once per Idempotency-Key (issue #11). Histories from
// before it (a renewal sent twice ran twice) replay without it.
const COMMAND_MEMORY = 'command-memory-2026-12';
// Versioning: a command that waited behind another is checked again before it runs (an upgrade
// queued behind an unsubscribe was charged). Only a run that meets the case records the marker;
// one recorded before it replays the command as it ran.
const COMMAND_RECHECK = 'command-recheck-2026-12';
// Versioning: after the purchase, every step that moves money (an auto-renew attempt, a manual
// renewal, an upgrade, an unsubscribe's refund) is a regular activity, not a local one. A local
// activity runs inside its workflow task, so if the worker dies before that task completes, the
// money has moved but the task is lost. Its rerun carries any update or signal that arrived
// meanwhile, and those run before the timers and activities the lost task saw (the SDK's job
// order). The rerun can then take another path: an unsubscribe ahead of the 03:00 renewal whose
// charge already happened (a paid order with no term), or a renewal ahead of an unsubscribe whose
// refund key already paid out the smaller, first refund. A regular activity is in history before
// it runs, so money only moves on a path history has fixed. Runs from before it replay as they ran.
const MONEY_IN_HISTORY = 'money-in-history-2026-12';

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
  let state: SubscriptionState = input.state ?? initialState(requirePurchase(input), Date.now());
  // Versioning: a run that started before a patch replays without its marker and keeps the old
  // path; every other run takes the new one and carries the choice across continue-as-new, so the
  // patch (and the TemporalChangeVersion search attribute it upserts) is recorded once per
  // subscription, not once per term.
  if (!state.leanRenewal && patched(LEAN_RENEWAL)) state = { ...state, leanRenewal: true };
  if (!state.commandMemory && patched(COMMAND_MEMORY)) state = { ...state, commandMemory: true };
  if (!state.moneyInHistory && patched(MONEY_IN_HISTORY)) state = { ...state, moneyInHistory: true };
  let version = 0; // bumped by every message that changes the plan; wakes the main loop
  let busy = false; // one money-moving step at a time (auto attempt, renewal, upgrade, refund)

  // Local activities, bounded; past the bound a regular activity (see bounded-activities.ts).
  const onBoundHit = (activity: string) => {
    state = { ...state, retryBoundHits: (state.retryBoundHits ?? 0) + 1 };
    metricsSink.retryBoundHit(activity);
  };
  const acts = boundedActivities<Activities>({ onBoundHit });

  // Where a step after the purchase moves money (MONEY_IN_HISTORY). The purchase itself stays a
  // local activity in the first task: nothing else can reach a run that has not been bought yet.
  const moneySteps = boundedActivities<Activities>({ onBoundHit, firstTry: 'regular' });
  const money = (): Activities => (state.moneyInHistory ? moneySteps : acts);

  const view = (): SubscriptionView => ({ ...state, forecast: forecast(state, Date.now()), purchase });
  const bump = () => { version += 1; };

  async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    // A mutex: two callers can wake in the same activation (an update and its retry delivered
    // together after a worker died), so each checks again after waking before it takes the step.
    // Found by the system tier (issue #13): both ran, and one renewal order paid two terms.
    // Runs from before COMMAND_MEMORY replay the single check they were recorded with.
    if (state.commandMemory) while (busy) await condition(() => !busy);
    else await condition(() => !busy);
    busy = true;
    try {
      return await fn();
    } finally {
      busy = false;
    }
  }

  /**
   * A money-moving command, once per Idempotency-Key: the first request runs, any later one with
   * the same key (from either key scope, after an API retry, in a replay) gets the first outcome.
   */
  async function once(kind: 'renew' | 'upgrade' | 'unsubscribe', requestKey: string, fingerprint: string, refusal: () => ApplicationFailure | null, run: () => Promise<CommandOutcome>): Promise<CommandOutcome> {
    return exclusive(async () => {
      const key = commandKey(kind, requestKey);
      const known = state.commandMemory ? rememberedCommand(state, key) : undefined;
      if (known) return known.outcome;
      // The validator passed on the state before the command ahead of this one ran (two requests
      // in one workflow task, or one arriving while another's charge is in flight). An upgrade
      // or renewal behind an unsubscribe would pay for a subscription that no longer exists.
      const refused = refusal();
      if (refused && patched(COMMAND_RECHECK)) throw refused;
      const outcome = await run();
      if (state.commandMemory) state = remember(state, key, fingerprint, outcome, Date.now());
      return outcome;
    });
  }

  // What each command's state must allow (the rules: R-S5/R-S9, R-S11, R-S12): checked by its
  // validator, and again by `once` when its turn comes. A pending or payment_failed run has no
  // subscription to command.
  const bought = (s: SubscriptionState['status']): s is Exclude<SubscriptionState['status'], 'pending' | 'payment_failed'> => s !== 'pending' && s !== 'payment_failed';
  const renewRefusal = () => (bought(state.status) && canRenewManually(state.status) ? null
    : ApplicationFailure.nonRetryable(`a ${state.status} subscription cannot be renewed`, 'STATE.NOT_RENEWABLE'));
  const unsubscribeRefusal = () => (bought(state.status) && canUnsubscribe(state.status) ? null
    : ApplicationFailure.nonRetryable(`only an active subscription can be unsubscribed (this one is ${state.status})`, 'STATE.NOT_ACTIVE'));
  const upgradeRefusal = (edition: string) => {
    if (!bought(state.status) || !canChangeEdition(state.status)) return ApplicationFailure.nonRetryable(`only an active subscription can be upgraded (this one is ${state.status})`, 'STATE.NOT_ACTIVE');
    return edition === state.edition ? ApplicationFailure.nonRetryable(`already ${state.edition}`, 'SUBSCRIPTION.SAME_EDITION') : null;
  };
  const refuseIf = (refusal: ApplicationFailure | null) => { if (refusal) throw refusal; };

  /** The update validators' half of `once`: a key used for another request is refused up front. */
  const knownCommand = (kind: 'renew' | 'upgrade' | 'unsubscribe', requestKey: string, fingerprint: string) =>
    state.commandMemory === true && checkCommand(state, commandKey(kind, requestKey), fingerprint);

  /** Persists a step to the read model; `at` is the rule's instant (e.g. the expiry), not the timer's firing. */
  async function record(event: string, at: number, details: Record<string, unknown> = {}, notify: string | null = null): Promise<void> {
    state = { ...state, seq: state.seq + 1 };
    await acts.recordSubscriptionState({ state, event, at, details, notify, position: writePosition() });
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

  /** After a successful renewal: back to active, bindings restored if protection had stopped (R-Q4). */
  async function reactivate(at: number, event: string, details: Record<string, unknown>): Promise<void> {
    const wasSuspended = bindingsSuspended(state);
    state = reactivated(state);
    if (wasSuspended) await acts.restoreBindings({ subscriptionId: state.subscriptionId });
    await record(event, at, details, 'subscription.renewed');
  }

  /** R-S3 / R-S6: one auto-renew deduction attempt. Returns true when the term was renewed. */
  async function attemptRenewal(trigger: 'schedule' | 'immediate' | 'top_up', scheduledAt: number): Promise<boolean> {
    // A scheduled attempt is recorded at its 03:00 (R-S3), not at the millisecond its timer fired.
    const at = trigger === 'schedule' ? scheduledAt : Date.now();
    const attempt = state.attemptsThisTerm + 1;
    const period = state.renewalPeriod;
    // quotaflow_renewals_total: a term's renewal is due once (its first attempt); every attempt,
    // daily retries included, is attempted, and ends succeeded or failed.
    if (attempt === 1) metricsSink.renewal('due');
    metricsSink.renewal('attempted');
    const renewed = await attemptRenewalOnce(trigger, at, attempt, period);
    metricsSink.renewal(renewed ? 'succeeded' : 'failed');
    return renewed;
  }

  async function attemptRenewalOnce(trigger: 'schedule' | 'immediate' | 'top_up', at: number, attempt: number, period: Term): Promise<boolean> {
    // R-P5: a business key per attempt; never the activity id, which restarts after continue-as-new.
    const key = `${state.subscriptionId}:term:${state.termNumber + 1}:attempt:${attempt}`;
    if (!state.leanRenewal) return attemptRenewalInSteps(trigger, at, attempt, period, key);
    // The charge and the read-model write of either outcome in one local activity: the workflow
    // states both possible next states up front, the activity writes the one that happened. A
    // renewal is then one activation of workflow code instead of three (what a 03:00 storm pays).
    const attempted: SubscriptionState = { ...state, attemptsThisTerm: attempt, lastAttemptAt: at, retryNow: false, seq: state.seq + 1 };
    const renewed = reactivated(extendedBy(attempted, period, null, at));
    // A top-up signalled from here on, while this attempt is in flight (a regular activity,
    // MONEY_IN_HISTORY), came after the balance it reads: it still asks for an attempt now
    // (R-S6), not at next 03:00. The live flag, cleared here, says whether one came.
    if (state.moneyInHistory) state = { ...state, retryNow: false };
    const outcome = await money().renewTerm({
      charge: chargeInput(state, period, 'renewal', key, at),
      restoreBindings: bindingsSuspended(state),
      renewed: { state: renewed, event: 'renewed', at, details: { attempt, trigger, period, expires_at: renewed.expiresAt }, notify: 'subscription.renewed', position: writePosition() },
      failed: { state: attempted, event: 'deduction_failed', at, details: { attempt, trigger }, notify: 'subscription.deduction_failed', position: writePosition() },
    });
    state = outcome.ok ? withTermOrder(renewed, outcome.orderId) : { ...attempted, retryNow: state.moneyInHistory === true && state.retryNow };
    publishSearchAttributes(state);
    return outcome.ok;
  }

  /** The same attempt as two activities (charge, then record): how runs started before LEAN_RENEWAL replay. */
  async function attemptRenewalInSteps(trigger: 'schedule' | 'immediate' | 'top_up', at: number, attempt: number, period: Term, key: string): Promise<boolean> {
    const charged = await acts.chargeSubscriptionTerm(chargeInput(state, period, 'renewal', key, at));
    state = { ...state, attemptsThisTerm: attempt, lastAttemptAt: at, retryNow: false };
    if (!charged.ok) {
      await record('deduction_failed', at, { attempt, trigger, code: charged.code, message: charged.message }, 'subscription.deduction_failed');
      return false;
    }
    state = withTermOrder(extendedBy(state, period, null, at), charged.orderId);
    await reactivate(at, 'renewed', { attempt, trigger, order_id: charged.orderId, amount: charged.amount, period, expires_at: state.expiresAt });
    return true;
  }

  setHandler(getStateQuery, view);
  setHandler(upgradableTermsQuery, () => upgradableTerms(state, Date.now()));
  setHandler(purchaseOutcomeUpdate, async () => {
    await condition(() => purchase !== null);
    return purchase as PurchaseOutcome;
  }, {
    // The same Idempotency-Key names the same subscription (the API derives its id from it): a
    // purchase under the key with another body must not be answered with this one.
    validator: (req?: { fingerprint?: string }) => {
      if (req?.fingerprint && state.purchaseFingerprint && req.fingerprint !== state.purchaseFingerprint) {
        throw ApplicationFailure.nonRetryable('this Idempotency-Key was used with a different purchase', 'IDEMPOTENCY.MISMATCH');
      }
    },
  });

  // R-S5: manual renewal from active, grace, frozen (and isolated, R-S9); refused once ended.
  setHandler(renewUpdate, async (req): Promise<CommandResult> => {
    const outcome = await once('renew', req.requestKey, commandFingerprint.renew(req), renewRefusal, async () => {
      const at = Date.now();
      const charged = await money().chargeSubscriptionTerm(chargeInput(state, req.term, 'manual_renewal', `${state.subscriptionId}:renewal:${req.requestKey}`, at, req.discountId ?? null));
      if (!charged.ok) return { ok: false, code: charged.code, message: charged.message };
      const autoRenew = req.autoRenew ?? state.autoRenew;
      const renewalPeriod = renewalPeriodAfterManualRenewal(state.renewalPeriod, req.term, req.autoRenew === true); // R-S4
      state = withTermOrder(extendedBy(state, req.term, null, at), charged.orderId);
      state = { ...state, autoRenew, renewalPeriod, autoRenewSince: autoRenew && !state.autoRenew ? at : state.autoRenewSince };
      await reactivate(at, 'renewed_manually', { order_id: charged.orderId, amount: charged.amount, term: req.term, expires_at: state.expiresAt });
      bump();
      return { ok: true, orderId: charged.orderId, amount: charged.amount };
    });
    return { ok: outcome.ok, code: outcome.code, message: outcome.message, view: view() };
  }, {
    validator: (req) => {
      if (knownCommand('renew', req.requestKey, commandFingerprint.renew(req))) return; // answered before
      refuseIf(renewRefusal());
      termMonths(req.term);
    },
  });

  // R-S3: switching auto-renew on or off, and choosing the deduction date.
  const autoRenewRefusal = (req: AutoRenewRequest): ApplicationFailure | null => {
    if (!bought(state.status) || !canSwitchAutoRenew(state.status)) {
      return ApplicationFailure.nonRetryable(`auto-renew cannot change on a ${state.status} subscription`, 'STATE.ENDED');
    }
    const problem = req.deductionDate ? validateDeductionDate(req.deductionDate, state.expiresAt, Date.now(), state.settings.offsetMinutes) : null;
    return problem ? ApplicationFailure.nonRetryable(problem, 'VALIDATION.DEDUCTION_DATE') : null;
  };
  setHandler(setAutoRenewUpdate, async (req: AutoRenewRequest) => {
    const apply = async () => {
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
    };
    if (!state.moneyInHistory) return apply();
    // A renewal's charge is a regular activity (MONEY_IN_HISTORY) and may be in flight for a
    // while (a card gateway retried). The switch waits for it, so the renewal, when it lands,
    // does not write over the switch; then it is checked again on the state the renewal (or an
    // unsubscribe) left.
    return exclusive(async () => {
      refuseIf(autoRenewRefusal(req));
      return apply();
    });
  }, {
    validator: (req) => refuseIf(autoRenewRefusal(req)),
  });

  // R-S11: unsubscribe an active subscription; the unused part of every paid order goes back to cash.
  setHandler(unsubscribeUpdate, async (req) => {
    const outcome = await once('unsubscribe', req.requestKey, commandFingerprint.unsubscribe(), unsubscribeRefusal, async () => {
      const at = Date.now();
      const { refund } = await money().refundSubscription({
        subscriptionId: state.subscriptionId,
        orderId: state.termOrderId,
        coverage: paidCoverage(state, at),
        termStartedAt: state.termStartedAt,
        termMonths: state.termMonthsCount,
        offsetMinutes: state.settings.offsetMinutes,
        at,
        idempotencyKey: `${state.subscriptionId}:unsubscribe:${req.requestKey}`,
      }).catch(asRefusal);
      state = { ...state, status: 'unsubscribed', autoRenew: false };
      await acts.deleteBindings({ subscriptionId: state.subscriptionId });
      await record('unsubscribed', at, { refund }, 'subscription.refund');
      bump();
      return { ok: true, refund };
    });
    return { refund: outcome.refund ?? '0.00', view: view() };
  }, {
    validator: (req: { requestKey: string }) => {
      if (knownCommand('unsubscribe', req.requestKey, commandFingerprint.unsubscribe())) return;
      refuseIf(unsubscribeRefusal());
    },
  });

  // R-S12: upgrade, paying the pro-rata price difference on every paid term still ahead.
  setHandler(upgradeUpdate, async (req) => {
    const outcome = await once('upgrade', req.requestKey, commandFingerprint.upgrade(req), () => upgradeRefusal(req.edition), async () => {
      const at = Date.now();
      const charged = await money().chargeUpgrade({
        subscriptionId: state.subscriptionId,
        accountId: state.accountId,
        product: state.product,
        fromEdition: state.edition,
        toEdition: req.edition,
        quantity: state.quantity,
        terms: upgradableTerms(state, at),
        termStartedAt: state.termStartedAt,
        termMonths: state.termMonthsCount,
        offsetMinutes: state.settings.offsetMinutes,
        at,
        idempotencyKey: `${state.subscriptionId}:upgrade:${req.requestKey}`,
      });
      if (!charged.ok) return { ok: false, code: charged.code, message: charged.message };
      const from = state.edition;
      state = upgraded(state, req.edition, charged.orderId, charged.parts ?? []);
      await record('upgraded', at, { from, to: req.edition, order_id: charged.orderId, charged: charged.amount }, 'subscription.upgraded');
      bump();
      return { ok: true, orderId: charged.orderId, amount: charged.amount };
    });
    return { ok: outcome.ok, code: outcome.code, message: outcome.message, charged: outcome.amount, view: view() };
  }, {
    validator: (req) => {
      if (knownCommand('upgrade', req.requestKey, commandFingerprint.upgrade(req))) return;
      refuseIf(upgradeRefusal(req.edition));
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
    state = { ...withTermOrder(state, outcome.orderId), status: req.trial ? 'trial' : 'active' };
    await record(req.trial ? 'trial_started' : 'purchased', state.startedAt, { order_id: outcome.orderId }, req.trial ? 'subscription.trial_started' : 'subscription.purchased');
    purchase = outcome;
  } else {
    publishSearchAttributes(state);
  }

  // After a renewal the run is cut (continue-as-new) at a quiet instant instead of at once: see
  // rolloverInstant. null until this run has renewed a term.
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
          await record('expiry_reminder', step.at, { expires_at: state.expiresAt }, 'subscription.expiry_reminder');
          break;
        case 'grace_reminder': {
          const reminder = (state.graceRemindersSent ?? 0) + 1;
          state = { ...state, graceRemindersSent: reminder };
          await record('grace_reminder', step.at, { reminder, grace_ends_at: state.graceEndsAt }, 'subscription.grace_reminder');
          break;
        }
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
      // Grace reminders are new (issue #15): a grace entered before this patch replays without them.
      state = { ...state, status: 'grace', graceEndsAt: graceEnd, frozenEndsAt: frozenEndsAt(graceEnd, state.settings), graceReminders: patched('grace-reminders'), graceRemindersSent: 0 };
      await record('grace_entered', state.expiresAt, {}, 'subscription.grace');
    }
  }

  async function purchaseOrTrial(req: PurchaseRequest): Promise<PurchaseOutcome> {
    // Every input is checked before money moves (issue #11, defect 1): the API checks the date
    // too, this is the last line (another client, or the API's clock a little behind ours).
    const problem = req.deductionDate === null ? null : validateDeductionDate(req.deductionDate, state.expiresAt, Date.now(), state.settings.offsetMinutes);
    if (problem !== null) return { ok: false, orderId: null, code: 'VALIDATION.DEDUCTION_DATE', message: problem };
    if (req.trial) {
      // R-S2: once per account, and only before the account ever bought host-security/basic.
      const claim = await acts.claimTrial({ accountId: req.accountId, subscriptionId: req.subscriptionId });
      if (claim.ok) return { ok: true, orderId: null };
      return claim.reason === 'bought'
        ? { ok: false, orderId: null, code: 'SUBSCRIPTION.TRIAL_NOT_ELIGIBLE', message: 'this account has already bought host-security/basic; the free trial is for accounts that never did' }
        : { ok: false, orderId: null, code: 'SUBSCRIPTION.TRIAL_USED', message: 'this account has already used its free trial' };
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
      ...(req.discountId ? { discountId: req.discountId } : {}),
    });
  }
}

/** Search attributes for ops (R-I2) and a readable summary in the Temporal UI. */
function publishSearchAttributes(s: SubscriptionState): void {
  const next = ENDED.has(s.status) ? null : forecast(s, Date.now()).nextDeductionAt;
  const iso = (ms: number | null) => (ms === null ? '—' : new Date(ms + s.settings.offsetMinutes * 60_000).toISOString().replace('T', ' ').slice(0, 16));
  setCurrentDetails([
    `**${s.product}/${s.edition}** × ${s.quantity} (${s.region}) — account \`${s.accountId}\``,
    `status **${s.status}**, term ${s.termNumber}, expires ${iso(s.expiresAt)} (billing local time)`,
    `auto-renew ${s.autoRenew ? `on, every ${s.renewalPeriod.count} ${s.renewalPeriod.unit}(s), next attempt ${iso(next)}` : 'off'}`,
    s.graceEndsAt !== null ? `grace ends ${iso(s.graceEndsAt)}, released ${iso(s.frozenEndsAt)}` : '',
    s.retryBoundHits ? `**${s.retryBoundHits} step(s) hit their retry bound** (see the worker's error log)` : '',
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
