import { addDays, isLocalDate, localDate, localTimeAt } from './calendar';

// R-S3: deduction attempts happen at 03:00 billing local time.
export const DEDUCTION_HOUR = 3;
// R-S3: the first attempt is on the day this many days before the expiry date.
export const FIRST_ATTEMPT_DAYS_BEFORE_EXPIRY = 7;
// R-S9: an isolated subscription is terminated after this many days.
export const ISOLATION_DAYS = 30;

export type SubscriptionStatus = 'trial' | 'active' | 'grace' | 'frozen' | 'isolated' | 'released' | 'unsubscribed';
export type CustomerLevel = 'standard' | 'key_account';
export type ArrearsPolicy = 'grace_then_freeze' | 'isolate';

export interface ArrearsPeriods {
  graceDays: number;
  retentionDays: number;
}

// R-A4: the default arrears periods per customer level (configuration may override them).
export const DEFAULT_ARREARS: Record<CustomerLevel, ArrearsPeriods> = {
  standard: { graceDays: 15, retentionDays: 15 },
  key_account: { graceDays: 30, retentionDays: 30 },
};

export interface DeductionAttempt {
  at: number;
  /** true for the late switch-on attempt made at once because no 03:00 is left before expiry */
  immediate: boolean;
}

export interface DeductionScheduleInput {
  expiresAt: number;
  now: number;
  offsetMinutes: number;
  /** the customer's chosen deduction date, 'YYYY-MM-DD' local */
  deductionDate?: string | null;
}

// R-S3: the auto-renew attempts still to come, in order. The first is 03:00 local on the day
// 7 days before the expiry date (or on the chosen deduction date); then 03:00 daily while
// 03:00 is strictly before expiry. Attempts before `now` are gone (late switch-on: the next
// 03:00 is the next attempt); if no 03:00 is left before expiry, one immediate attempt at `now`.
// A deduction date that is not a real date, or whose 03:00 is not before expiry, is ignored
// (default schedule) rather than thrown on: workflow code must not fail on stored data. The caller clears a chosen date once the term it was for is renewed.
export function deductionAttempts(p: DeductionScheduleInput): DeductionAttempt[] {
  if (p.now >= p.expiresAt) return [];
  const remaining = scheduledAttempts(p).filter((at) => at >= p.now);
  if (remaining.length === 0) return [{ at: p.now, immediate: true }];
  return remaining.map((at) => ({ at, immediate: false }));
}

// R-S3: every 03:00 of the schedule, from the first attempt up to (excluding) expiry.
function scheduledAttempts(p: DeductionScheduleInput): number[] {
  const attempts: number[] = [];
  for (let at = firstAttemptAt(p); at < p.expiresAt; at = addDays(at, 1)) attempts.push(at);
  return attempts;
}

function firstAttemptAt(p: DeductionScheduleInput): number {
  const byDefault = localDate(addDays(p.expiresAt, -FIRST_ATTEMPT_DAYS_BEFORE_EXPIRY), p.offsetMinutes);
  const chosen = p.deductionDate && isLocalDate(p.deductionDate) ? localTimeAt(p.deductionDate, DEDUCTION_HOUR, 0, p.offsetMinutes) : null;
  return chosen !== null && chosen < p.expiresAt ? chosen : localTimeAt(byDefault, DEDUCTION_HOUR, 0, p.offsetMinutes);
}

// R-S3: a chosen deduction date must be a real date whose 03:00 is still ahead and before expiry.
// Returns the reason it is refused, or null when it is fine.
export function validateDeductionDate(date: string, expiresAt: number, now: number, offsetMinutes: number): string | null {
  if (!isLocalDate(date)) return `deduction date must be a real date written YYYY-MM-DD, got ${JSON.stringify(date)}`;
  const at = localTimeAt(date, DEDUCTION_HOUR, 0, offsetMinutes);
  if (at >= expiresAt) return 'deduction date must be before the expiry date (its 03:00 must come before expiry)';
  if (at < now) return 'deduction date is in the past (its 03:00 has already passed)';
  return null;
}

// R-S6..S8 / R-S9: protection holds in trial, active and grace only.
export function isProtected(status: SubscriptionStatus): boolean {
  return status === 'trial' || status === 'active' || status === 'grace';
}

// R-S6 / R-S9: the state an unrenewed subscription enters at expiry.
export function statusAtExpiry(policy: ArrearsPolicy): 'grace' | 'isolated' {
  return policy === 'isolate' ? 'isolated' : 'grace';
}

// R-S6 / R-A4: grace lasts the level's grace period from the expiry instant.
export function graceEndsAt(expiresAt: number, periods: ArrearsPeriods): number {
  return addDays(expiresAt, periods.graceDays);
}

// R-S7 / R-A4: frozen lasts the retention period after grace; then released (R-S8).
export function frozenEndsAt(graceEnd: number, periods: ArrearsPeriods): number {
  return addDays(graceEnd, periods.retentionDays);
}

// R-S9: an isolated subscription is released ISOLATION_DAYS after expiry.
export function isolationEndsAt(expiresAt: number): number {
  return addDays(expiresAt, ISOLATION_DAYS);
}

export interface LifecycleForecastInput {
  status: SubscriptionStatus;
  expiresAt: number;
  now: number;
  offsetMinutes: number;
  autoRenew: boolean;
  deductionDate?: string | null;
  periods: ArrearsPeriods;
  policy: ArrearsPolicy;
  /** when already in grace/frozen: the recorded end of grace (else computed from expiry) */
  graceEndsAt?: number | null;
  /** when already in grace/frozen/isolated: the recorded end of frozen/isolation */
  frozenEndsAt?: number | null;
}

export interface LifecycleForecast {
  nextDeductionAt: number | null;
  deductionAttempts: number[];
  graceEndsAt: number | null;
  frozenEndsAt: number | null;
}

// R-S3, R-S6..S9 (API.md `forecast`): what happens if no deduction succeeds.
// - Scheduled attempts exist only in trial/active with auto-renew on; in grace/frozen/isolated
//   a renewal attempt is triggered by a top-up (R-S6), which cannot be forecast.
// - grace_then_freeze: grace ends graceDays after expiry, frozen ends retentionDays after that.
// - isolate: there is no grace, protection stops at expiry, so graceEndsAt = expiresAt (a
//   zero-length grace, not null, so "protected until" is always graceEndsAt); frozenEndsAt is
//   the end of isolation, expiry + ISOLATION_DAYS.
// - released/unsubscribed: nothing lies ahead, all null.
export function lifecycleForecast(p: LifecycleForecastInput): LifecycleForecast {
  if (p.status === 'released' || p.status === 'unsubscribed') {
    return { nextDeductionAt: null, deductionAttempts: [], graceEndsAt: null, frozenEndsAt: null };
  }
  const attempts = forecastAttempts(p);
  return { nextDeductionAt: attempts[0] ?? null, deductionAttempts: attempts, ...arrearsEnds(p) };
}

function forecastAttempts(p: LifecycleForecastInput): number[] {
  const scheduled = p.autoRenew && (p.status === 'trial' || p.status === 'active');
  return scheduled ? deductionAttempts(p).map((a) => a.at) : [];
}

function arrearsEnds(p: LifecycleForecastInput): { graceEndsAt: number; frozenEndsAt: number } {
  const inArrears = p.status === 'grace' || p.status === 'frozen' || p.status === 'isolated';
  if (p.policy === 'isolate') {
    const recorded = inArrears ? p.frozenEndsAt : null;
    return { graceEndsAt: p.expiresAt, frozenEndsAt: recorded ?? isolationEndsAt(p.expiresAt) };
  }
  const grace = (inArrears ? p.graceEndsAt : null) ?? graceEndsAt(p.expiresAt, p.periods);
  const frozen = (inArrears ? p.frozenEndsAt : null) ?? frozenEndsAt(grace, p.periods);
  return { graceEndsAt: grace, frozenEndsAt: frozen };
}

export interface SubscriptionForecastInput extends LifecycleForecastInput {
  /** the last deduction attempt made this term (attempts up to it are history, not forecast) */
  lastAttemptAt: number | null;
}

// API.md `forecast` of a subscription, from what its workflow records: the lifecycle forecast
// without the attempts already made. The workflow's live view and the read model (the list
// route) both answer with this one function, so the list and the item agree (issue #11).
export function subscriptionForecast(p: SubscriptionForecastInput): LifecycleForecast {
  const f = lifecycleForecast(p);
  const attempts = f.deductionAttempts.filter((a) => p.lastAttemptAt === null || a > p.lastAttemptAt);
  return { ...f, deductionAttempts: attempts, nextDeductionAt: attempts[0] ?? null };
}
