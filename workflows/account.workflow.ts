import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { HOUR_MS, startOfLocalHour } from '../billing/calendar';
import { isDecimalString, sumMoney } from '../billing/money';
import { frozenEndsAt, graceEndsAt } from '../billing/renewal-schedule';
import { MAX_PACKAGES_PER_PURCHASE, nextArrearsReminderAt, packagePeriods, SETTLE_DELAY_MS, USAGE_LATE_LIMIT_MS } from '../billing/usage';
import { ArrearsStatus, BillingAccountId } from './search-attributes';
import { asRefusal, isBusinessRefusal } from './bounded-activities';
import { writePosition } from './write-position';
import {
  accountTopUpSignal,
  AccountState,
  accountWakeSignal,
  AccountStart,
  AccountView,
  AccountWorkflowInput,
  buyPackagesUpdate,
  BuyPackagesRequest,
  getAccountStateQuery,
} from './account.messages';

type Activities = ReturnType<typeof createActivities>;

// Technical retries (a DB blip) are the activity retry policy, unlimited: this workflow runs for
// the account's whole life and must never fail, and a regular activity's retries add nothing to
// history (a retry that goes on past its bound is logged and counted by the worker, see
// workers/retry-bound.ts). Business outcomes (a declined card) come back as results; a business
// refusal (a non-retryable ApplicationFailure with a code) is never retried (issue #11).
const acts = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/** A step refused by a business rule is tried again this much later, not in a tight loop. */
const REFUSED_STEP_DELAY_MS = 3_600_000;
/** Package purchases remembered for their key (a replay answers the first outcome). */
const PURCHASE_MEMORY_MAX = 200;

/** Versioning: the account rests when nothing is left to settle (R-U2 at rest, 2026-11). */
const ACCOUNT_REST_PATCH = 'account-rest-2026-11';

/** A fresh history after this many settled hours (about 14 events per hour, see docs/pay-per-use.md). */
export const HOURS_PER_RUN = 24;

type Step =
  | { kind: 'rest' | 'wake'; at: number }
  | { kind: 'collect'; at: number }
  | { kind: 'settle'; at: number }
  | { kind: 'freeze' | 'release' | 'remind'; at: number };

/**
 * One workflow per account (`account-<id>`, R-I2): settles every finished clock hour of its
 * pay-per-use usage (R-U1…R-U4, R-C4) through an activity that reads the facts from Postgres and
 * charges the bill without coupons (R-U2), and runs arrears (R-U5): a failed settlement → grace
 * (still running, still billed) → frozen (protections stopped, not billed) → released; a top-up
 * that pays the whole outstanding amount restores. Runs for years by continuing as new.
 */
export async function accountWorkflow(input: AccountWorkflowInput): Promise<void> {
  // Handlers are set before the first await, so a message in the first task finds them.
  let state: AccountState = input.state ?? initialState(requireStart(input));
  let version = 0; // bumped by messages that change the plan; wakes the main loop
  const bump = () => { version += 1; };

  setHandler(getAccountStateQuery, (): AccountView => ({ ...state, outstandingTotal: outstandingTotal(state), nextSettlementAt: state.resting ? null : settleAt(state.nextHour) }));

  // R-U2 at rest: the API wrote a billable fact for an account that had nothing to settle.
  setHandler(accountWakeSignal, () => {
    if (!state.resting) return; // settling every hour anyway
    state = { ...state, resting: false, waking: true };
    bump();
  });

  // R-U5: a payment into the account: try to collect what is outstanding. Kept even when nothing
  // is outstanding yet (a settlement may be failing right now); the loop drops it otherwise.
  setHandler(accountTopUpSignal, () => {
    state = { ...state, topUpPending: true };
    bump();
  });

  // R-U4: buying packages needs an answer (402 when the payment fails), hence an update. Once per
  // purchase id (derived from the Idempotency-Key): a replay, from either key scope, gets the first
  // outcome; the same id with another request is refused before anything is charged (issue #11,
  // defect 7: the charge's own mismatch used to be retried for ever and stall the workflow).
  setHandler(buyPackagesUpdate, async (req: BuyPackagesRequest) => {
    const known = state.purchases?.[req.purchaseId];
    if (known) return known.result;
    const result = await acts.buyUsagePackages({
      accountId: state.accountId,
      purchaseId: req.purchaseId,
      metric: req.metric,
      content: req.content,
      count: req.count,
      term: req.term,
      reset: req.reset,
      offsetMinutes: state.settings.offsetMinutes,
      at: Date.now(),
    }).catch(asRefusal);
    const kept = Object.entries(state.purchases ?? {}).slice(-(PURCHASE_MEMORY_MAX - 1));
    state = { ...state, purchases: Object.fromEntries([...kept, [req.purchaseId, { fingerprint: packagesFingerprint(req), result }]]) };
    return result;
  }, {
    validator: (req) => {
      const known = state.purchases?.[req.purchaseId];
      if (known && known.fingerprint !== packagesFingerprint(req)) {
        throw ApplicationFailure.nonRetryable('this Idempotency-Key was used with a different package purchase', 'IDEMPOTENCY.MISMATCH');
      }
      if (!Number.isInteger(req.count) || req.count < 1 || req.count > MAX_PACKAGES_PER_PURCHASE) {
        throw ApplicationFailure.nonRetryable(`count must be 1..${MAX_PACKAGES_PER_PURCHASE}`, 'VALIDATION.PACKAGE_COUNT');
      }
      if (!isDecimalString(req.content, 6) || /^0(\.0*)?$/.test(req.content)) throw ApplicationFailure.nonRetryable('content must be a positive decimal', 'VALIDATION.PACKAGE_CONTENT');
      try {
        packagePeriods(req.term, req.reset);
      } catch (e) {
        throw ApplicationFailure.nonRetryable((e as Error).message, 'VALIDATION.PACKAGE_TERM');
      }
    },
  });

  publishSearchAttributes(state);
  if (!input.state) {
    // An earlier run of this account's workflow may have settled further (R-U2 resumes there).
    const { settledThrough } = await acts.openUsageAccount({ accountId: state.accountId });
    if (settledThrough !== null && settledThrough > state.nextHour) state = { ...state, nextHour: settledThrough };
  }

  /** Persists a step to the read model (and the outbox when `notify`); `at` is the rule's instant. */
  async function record(event: string, at: number, details: Record<string, unknown>, notify: string | null): Promise<void> {
    state = { ...state, seq: state.seq + 1 };
    await acts.recordAccountState({ state, outstandingTotal: outstandingTotal(state), event, at, details, notify, position: writePosition() });
    publishSearchAttributes(state);
  }

  /**
   * R-U2: settles the next finished hour. A failed collection puts the account in arrears (R-U5);
   * while in arrears a bill is owed (`unpaid`), added to the outstanding amount, not charged alone.
   */
  async function settle(): Promise<void> {
    const hourStart = state.nextHour;
    const at = Date.now();
    const r = await acts.settleUsageHour({
      accountId: state.accountId,
      hourStart,
      offsetMinutes: state.settings.offsetMinutes,
      // R-P5: a business key per hour: settling the hour again never bills twice.
      idempotencyKey: `account:${state.accountId}:hour:${hourStart}`,
      collect: state.arrears.status === 'none',
      at,
    });
    // R-U2 at rest: nothing left to settle; no timer until a billable fact wakes the workflow.
    // Behind a patch: a history whose workflow code predates rest (while a newer activity worker
    // already answered `resting`) set the next timer, and must replay so.
    state = { ...state, nextHour: hourStart + HOUR_MS, resting: r.resting === true && patched(ACCOUNT_REST_PATCH) }; // never in arrears: `collect` was true
    if ((r.status !== 'failed' && r.status !== 'unpaid') || r.billId === null) return;
    state = { ...state, outstanding: [...state.outstanding, { billId: r.billId, hourStart, total: r.total }] };
    if (state.arrears.status === 'none') {
      // R-U5 / R-A4: grace for the customer level's grace days, then retention.
      const graceEnd = graceEndsAt(at, state.settings);
      state = { ...state, arrears: { status: 'grace', since: at, graceEndsAt: graceEnd, frozenEndsAt: frozenEndsAt(graceEnd, state.settings), remindersSent: 0 } };
      await record('arrears_grace', at, { bill_id: r.billId, hour_start: new Date(hourStart).toISOString(), total: r.total, code: r.code, message: r.message }, 'usage.arrears_grace');
    }
  }

  /**
   * R-U5: pays the whole outstanding amount in one charge, or nothing. On success the account
   * leaves arrears (a frozen one is restored) and true is returned.
   */
  async function collect(at: number): Promise<{ paid: boolean; details: Record<string, unknown> }> {
    const attempt = state.collections + 1;
    const r = await acts.collectOutstandingBills({
      accountId: state.accountId,
      billIds: state.outstanding.map((b) => b.billId),
      idempotencyKey: `account:${state.accountId}:arrears:${attempt}`,
      at,
    });
    state = { ...state, collections: attempt, topUpPending: false };
    if (r.status !== 'paid') return { paid: false, details: { amount: r.amount, code: r.code, message: r.message } };
    const was = state.arrears.status;
    state = { ...state, outstanding: [], arrears: { status: 'none', since: null, graceEndsAt: null, frozenEndsAt: null, remindersSent: 0 } };
    if (was === 'frozen') await acts.restorePayPerUse({ accountId: state.accountId, at });
    // Paid after release: the debt is settled, but released protections stay released (R-U5).
    await record(was === 'released' ? 'arrears_paid' : 'arrears_restored', at, { order_id: r.orderId, amount: r.amount, from: was }, was === 'released' ? 'usage.arrears_paid' : 'usage.arrears_restored');
    return { paid: true, details: {} };
  }

  let hoursThisRun = 0;
  for (;;) {
    if (state.topUpPending && state.outstanding.length === 0) state = { ...state, topUpPending: false };
    const step = nextStep(state);
    const seen = version;
    if (step.kind === 'rest') {
      await condition(() => version !== seen); // no timer, no history while at rest
      continue;
    }
    const wait = step.at - Date.now();
    if (wait > 0 && (await condition(() => version !== seen, wait))) continue; // a message changed the plan
    try {
      await runStep(step);
    } catch (err) {
      if (!isBusinessRefusal(err)) throw err;
      // A rule refused the step (issue #11): say so loudly, count it, and try again later rather
      // than spin or fail the account's workflow; the other steps (arrears, reminders) go on.
      const code = (err as { cause?: { type?: string } }).cause?.type ?? 'UNKNOWN';
      log.error('account step refused by a business rule; retrying later', { step: step.kind, code, accountId: state.accountId });
      state = { ...state, refusals: (state.refusals ?? 0) + 1, refusedUntil: { ...(state.refusedUntil ?? {}), [step.kind]: Date.now() + REFUSED_STEP_DELAY_MS } };
    }
    if (step.kind === 'settle') hoursThisRun += 1;
    if (hoursThisRun >= HOURS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof accountWorkflow>({ state });
    }
  }

  async function runStep(step: Step): Promise<void> {
    switch (step.kind) {
      case 'wake': {
        // Hours rested through had no facts: settlement resumes at the first hour with one.
        const { nextHour } = await acts.resumeUsageSettlement({ accountId: state.accountId, at: Date.now(), offsetMinutes: state.settings.offsetMinutes });
        state = { ...state, waking: false, nextHour: Math.max(state.nextHour, nextHour) };
        break;
      }
      case 'collect': {
        // R-U5: a top-up arrived.
        const r = await collect(Date.now());
        if (!r.paid) await record('arrears_collection_failed', Date.now(), r.details, null);
        break;
      }
      case 'settle':
        await settle();
        break;
      case 'freeze': {
        // R-U5: after grace the pay-per-use resources stop and are no longer billed.
        const at = step.at;
        await acts.freezePayPerUse({ accountId: state.accountId, at });
        state = { ...state, arrears: { ...state.arrears, status: 'frozen', remindersSent: state.settings.graceDays } };
        await record('arrears_frozen', at, {}, 'usage.arrears_frozen');
        break;
      }
      case 'release': {
        // R-U5: after retention they are released; what is owed stays owed.
        const at = step.at;
        await acts.releasePayPerUse({ accountId: state.accountId, at });
        state = { ...state, arrears: { ...state.arrears, status: 'released' } };
        await record('arrears_released', at, {}, 'usage.arrears_released');
        break;
      }
      case 'remind': {
        // R-U5 / R-S10: once a day in arrears the outstanding amount is tried again (a bound card
        // may work now; no top-up signal would tell us) and, if still owed, a reminder goes out.
        const r = await collect(step.at);
        if (r.paid) break;
        state = { ...state, arrears: { ...state.arrears, remindersSent: state.arrears.remindersSent + 1 } };
        await record('arrears_reminder', step.at, { reminder: state.arrears.remindersSent, ...r.details }, 'usage.arrears_reminder');
        break;
      }
    }
  }
}

/** The canonical form of a package purchase (the same id with another one is IDEMPOTENCY.MISMATCH). */
function packagesFingerprint(r: BuyPackagesRequest): string {
  return JSON.stringify([r.metric, r.content, r.count, r.term.unit, r.term.count, r.reset]);
}

// R-U3: records may arrive 2 h late, so settlement starts with the hour 2 h before the API first
// needed this workflow (or where an earlier run stopped, see above).
function initialState(start: AccountStart): AccountState {
  return {
    accountId: start.accountId,
    settings: start.settings,
    nextHour: startOfLocalHour(start.since - USAGE_LATE_LIMIT_MS, start.settings.offsetMinutes),
    arrears: { status: 'none', since: null, graceEndsAt: null, frozenEndsAt: null, remindersSent: 0 },
    outstanding: [],
    collections: 0,
    topUpPending: false,
    seq: 0,
  };
}

/** When the hour starting at `hourStart` is settled (R-U2). */
function settleAt(hourStart: number): number {
  return hourStart + HOUR_MS + SETTLE_DELAY_MS;
}

/** What happens next, and when, if no message arrives first: the earliest due step. */
function nextStep(s: AccountState): Step {
  if (s.waking) return { kind: 'wake', at: Number.NEGATIVE_INFINITY };
  // R-U2 at rest (never in arrears): nothing is due until a message arrives.
  const steps: Step[] = [s.resting ? { kind: 'rest', at: Number.POSITIVE_INFINITY } : { kind: 'settle', at: settleAt(s.nextHour) }];
  if (s.topUpPending && s.outstanding.length > 0) steps.push({ kind: 'collect', at: Number.NEGATIVE_INFINITY });
  const a = s.arrears;
  if (a.status === 'grace' && a.graceEndsAt !== null) steps.push({ kind: 'freeze', at: a.graceEndsAt });
  if (a.status === 'frozen' && a.frozenEndsAt !== null) steps.push({ kind: 'release', at: a.frozenEndsAt });
  if ((a.status === 'grace' || a.status === 'frozen') && a.since !== null) {
    const remindAt = nextArrearsReminderAt(a.since, a.remindersSent);
    const end = a.status === 'grace' ? a.graceEndsAt : a.frozenEndsAt;
    if (end !== null && remindAt < end) steps.push({ kind: 'remind', at: remindAt });
  }
  // A step a rule refused waits out its delay (issue #11: retried later, never in a tight loop).
  for (const st of steps) st.at = Math.max(st.at, s.refusedUntil?.[st.kind] ?? Number.NEGATIVE_INFINITY);
  // Earliest first, so an hour is settled with the facts of its own time (a freeze mid-hour ends
  // the hour's billing there); on a tie the order of the list decides.
  const order = { wake: 0, collect: 0, settle: 1, rest: 1, freeze: 2, release: 3, remind: 4 };
  return steps.sort((x, y) => x.at - y.at || order[x.kind] - order[y.kind])[0];
}

function outstandingTotal(s: AccountState): string {
  return sumMoney(s.outstanding.map((b) => b.total)).toFixed(2);
}

function requireStart(input: AccountWorkflowInput): AccountStart {
  if (!input.start) throw ApplicationFailure.nonRetryable('workflow input has neither start nor state', 'ACCOUNT.BAD_INPUT');
  return input.start;
}

function publishSearchAttributes(s: AccountState): void {
  upsertSearchAttributes([
    { key: BillingAccountId, value: s.accountId },
    { key: ArrearsStatus, value: s.arrears.status },
  ]);
}
