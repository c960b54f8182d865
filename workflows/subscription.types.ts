// Plain-JSON shapes that cross the workflow boundary (workflow input, continue-as-new state,
// query results). Instants are epoch ms; money is decimal strings (R-M1).
export type TermUnit = 'month' | 'year';
export interface Term {
  unit: TermUnit;
  count: number;
}

export type SubscriptionStatus = 'pending' | 'trial' | 'active' | 'grace' | 'frozen' | 'isolated' | 'released' | 'unsubscribed' | 'payment_failed';
export type ArrearsPolicy = 'grace_then_freeze' | 'isolate';

export interface LifecycleSettings {
  offsetMinutes: number; // R-T1
  graceDays: number; // R-A4
  retentionDays: number;
  policy: ArrearsPolicy; // R-S9
}

export interface PurchaseRequest {
  subscriptionId: string;
  accountId: string;
  product: string;
  edition: string;
  region: string;
  quantity: number;
  term: Term | null; // null for a trial (R-S2)
  trial: boolean;
  autoRenew: boolean;
  deductionDate: string | null;
  /** R-P2: a promotional discount granted to the account, used for the first order (issue #11) */
  discountId?: string | null;
  settings: LifecycleSettings;
}

/** One paid term not yet over (R-S11, R-S12 count every one of them, not only the latest). */
export interface PaidTerm {
  number: number;
  startsAt: number;
  endsAt: number;
  term: Term; // as bought: its unit picks the monthly or yearly price
  orderId: string | null;
}

/** A share of an order in one term (billing/subscription-rules CoveragePart). */
export interface CoveragePart {
  termStartsAt: number;
  termMonths: number;
  from: number;
  list: string;
}

/** An upgrade order and the terms it paid the difference for (R-S12), for R-S11 refunds. */
export interface UpgradeCoverage {
  orderId: string;
  endsAt: number;
  parts: CoveragePart[];
}

/** What a money-moving command answered the first time (issue #11: replays answer it again). */
export interface CommandOutcome {
  ok: boolean;
  code?: string;
  message?: string;
  orderId?: string | null;
  amount?: string;
  refund?: string;
}

export interface RememberedCommand {
  /** the request's canonical form: the same key with another request is IDEMPOTENCY.MISMATCH */
  fingerprint: string;
  at: number;
  outcome: CommandOutcome;
}

export interface SubscriptionState {
  subscriptionId: string;
  accountId: string;
  product: string;
  edition: string;
  region: string;
  quantity: number;
  trial: boolean;
  status: SubscriptionStatus;
  startedAt: number;
  anchorAt: number; // R-T2: expiry = anchor + monthsFromAnchor, calendar months
  monthsFromAnchor: number;
  expiresAt: number;
  autoRenew: boolean;
  deductionDate: string | null;
  renewalPeriod: Term;
  termNumber: number;
  termStartedAt: number; // start of the current term (R-S11/S12 used fraction)
  termMonthsCount: number; // length of the current term in months
  termOrderId: string | null; // the order that paid the current term (refunds)
  attemptsThisTerm: number; // auto-renew deduction attempts made for the next term (R-S3)
  lastAttemptAt: number | null;
  autoRenewSince: number | null; // when auto-renew was last switched on (late switch-on)
  retryNow: boolean; // a top-up in grace/frozen asked for an immediate attempt (R-S6)
  reminderSentForTerm: number; // R-S10 "7 days before expiry" sent for this term number
  /** R-S6 "reminders are sent" in grace (issue #15): on for graces entered since the 'grace-reminders' patch. */
  graceReminders?: boolean;
  graceRemindersSent?: number; // in the current grace
  graceEndsAt: number | null;
  frozenEndsAt: number | null;
  settings: LifecycleSettings;
  seq: number; // orders the read-model writes (activities drop stale ones)
  leanRenewal?: boolean; // this lifecycle runs the LEAN_RENEWAL path (workflow versioning)
  commandMemory?: boolean; // this lifecycle answers commands once per key (COMMAND_MEMORY patch)
  moneyInHistory?: boolean; // after the purchase, money moves in regular activities (MONEY_IN_HISTORY patch)
  /** paid terms not yet over, oldest first; absent on runs started before issue #11 (derived) */
  terms?: PaidTerm[];
  /** upgrade orders whose service is not used up yet */
  upgrades?: UpgradeCoverage[];
  /** money-moving commands by `<kind>:<Idempotency-Key>`, so a replay never acts twice */
  commands?: Record<string, RememberedCommand>;
  /** the purchase request's canonical form (a second purchase under the same key must match it) */
  purchaseFingerprint?: string;
  /** times a local activity exhausted its retry bound and went on as a regular activity */
  retryBoundHits?: number;
}

export interface SubscriptionWorkflowInput {
  purchase?: PurchaseRequest;
  state?: SubscriptionState; // set when continuing as new
}

export interface Forecast {
  nextDeductionAt: number | null;
  deductionAttempts: number[];
  graceEndsAt: number | null;
  frozenEndsAt: number | null;
}

export interface PurchaseOutcome {
  ok: boolean;
  orderId: string | null;
  code?: string;
  message?: string;
}

export interface SubscriptionView extends SubscriptionState {
  forecast: Forecast;
  purchase: PurchaseOutcome | null;
}
