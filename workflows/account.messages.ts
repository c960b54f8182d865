import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Term } from './subscription.types';

// The account workflow (`account-<id>`, R-I2): pay-per-use settlement (R-U1…R-U4) and arrears
// (R-U5). Message definitions and the plain-JSON shapes that cross its boundary, shared by the
// workflow (handlers) and the API (callers). Instants are epoch ms; money decimal strings (R-M1).

export type ArrearsStatus = 'none' | 'grace' | 'frozen' | 'released';
export type ResetPolicy = 'none' | 'monthly' | 'yearly';

export interface AccountSettings {
  offsetMinutes: number; // R-T1
  graceDays: number; // R-A4 / R-U5
  retentionDays: number;
}

/** What the API starts an account workflow with. */
export interface AccountStart {
  accountId: string;
  /** the API's "now" when it first needed the workflow: settlement starts 2 h before it (R-U3) */
  since: number;
  settings: AccountSettings;
}

export interface OutstandingBill {
  billId: string;
  hourStart: number;
  total: string;
}

export interface Arrears {
  status: ArrearsStatus;
  since: number | null; // when the failed settlement put the account in arrears
  graceEndsAt: number | null;
  frozenEndsAt: number | null;
  remindersSent: number;
}

export interface AccountState {
  accountId: string;
  settings: AccountSettings;
  /** start of the next clock hour to settle (R-U2) */
  nextHour: number;
  arrears: Arrears;
  /** R-U5: failed bills not yet paid, oldest first */
  outstanding: OutstandingBill[];
  /** collection attempts of the outstanding amount so far (their idempotency keys count on) */
  collections: number;
  /** a top-up arrived and the outstanding amount has not been tried since (R-U5) */
  topUpPending: boolean;
  /** orders the read-model writes (a stale retried write changes nothing) */
  seq: number;
  /** R-U2 at rest: nothing to settle until a billable fact wakes the workflow (accountWakeSignal) */
  resting?: boolean;
  /** woken from rest: find the hour settlement resumes at before anything else */
  waking?: boolean;
  /** package purchases by purchase id: their request's canonical form and first outcome (issue #11) */
  purchases?: Record<string, { fingerprint: string; result: BuyPackagesResult }>;
  /** steps a business rule refused, and when each may be tried again */
  refusedUntil?: Record<string, number>;
  /** how many steps a business rule refused (logged as errors too) */
  refusals?: number;
}

export interface AccountWorkflowInput {
  start?: AccountStart;
  state?: AccountState; // set when continuing as new
}

export interface AccountView extends AccountState {
  outstandingTotal: string;
  /** null while at rest */
  nextSettlementAt: number | null;
}

export interface BuyPackagesRequest {
  /** names the purchase: the same id never pays twice (R-P5) */
  purchaseId: string;
  metric: string;
  content: string;
  count: number;
  term: Term;
  reset: ResetPolicy;
}

export interface BuyPackagesResult {
  ok: boolean;
  code?: string;
  message?: string;
  orderId?: string | null;
  amount?: string;
  packageIds: string[];
}

export const getAccountStateQuery = defineQuery<AccountView>('getAccountState');

/** A payment into the account happened: collect the outstanding bills (R-U5). */
export const accountTopUpSignal = defineSignal<[{ amount: string }]>('accountTopUp');

/** R-U2: a billable fact (a usage record, an enabled protection) arrived while the account rested. */
export const accountWakeSignal = defineSignal('accountWake');

/** R-U4: buy usage packages (charged through R-P1, then usable by the settlement). */
export const buyPackagesUpdate = defineUpdate<BuyPackagesResult, [BuyPackagesRequest]>('buyPackages');
