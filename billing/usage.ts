import { Decimal } from 'decimal.js';
import { addDays, addMonthsClamped, HOUR_MS, SECOND_MS, startOfLocalHour, Term, termMonths, wholeMonthsBetween } from './calendar';
import { exact, plain, roundHalfUp, sumMoney, toMoney, ZERO } from './money';

/** A half-open stretch of time [from, to) in epoch ms. */
export interface Interval {
  from: number;
  to: number;
}

export interface PowerEvent {
  at: number;
  power: 'running' | 'stopped';
}

// R-U4: a purchase buys at most this many packages.
export const MAX_PACKAGES_PER_PURCHASE = 30;
// R-U3: usage records may arrive up to 2 hours after their period ends.
export const USAGE_LATE_LIMIT_MS = 2 * HOUR_MS;

/**
 * R-U2: an hour is settled this long after it ends, so a fact stamped just before the end of the
 * hour (a disable, a power change) has been written; the account's usage lock orders the rest.
 */
export const SETTLE_DELAY_MS = 60_000;

// R-U2 at rest: an account with nothing to settle skips its empty hourly settlements, but a
// record must land in the same settlement as if they had run: every hour whose settlement time
// has passed counts as settled. This is the end of the last such hour at `now`.
export function restingWatermark(now: number, offsetMinutes: number): number {
  return startOfLocalHour(now - SETTLE_DELAY_MS, offsetMinutes);
}

// R-U3 with R-U2 at rest: the watermark a record arriving at `now` is placed against.
export function effectiveSettledThrough(settledThrough: number | null, resting: boolean, now: number, offsetMinutes: number): number | null {
  return settledThrough !== null && resting ? Math.max(settledThrough, restingWatermark(now, offsetMinutes)) : settledThrough;
}

// R-U1: billing is per second: instants are truncated to the whole second, empty intervals
// dropped, and overlapping or touching ones merged, so no second is billed twice.
export function normalizeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals
    .map((i) => ({ from: floorToSecond(i.from), to: floorToSecond(i.to) }))
    .filter((i) => i.to > i.from)
    .sort((a, b) => a.from - b.from);
  const merged: Interval[] = [];
  for (const i of sorted) {
    const last = merged[merged.length - 1];
    if (last && i.from <= last.to) last.to = Math.max(last.to, i.to);
    else merged.push({ ...i });
  }
  return merged;
}

// R-U1: the times covered by both lists (protection enabled ∩ server running).
export function intersectIntervals(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const x of normalizeIntervals(a)) {
    for (const y of normalizeIntervals(b)) {
      const from = Math.max(x.from, y.from);
      const to = Math.min(x.to, y.to);
      if (to > from) out.push({ from, to });
    }
  }
  return normalizeIntervals(out);
}

// R-U1: when a server was running, from its power timeline up to `untilMs`. Before its first
// event a server counts as stopped (registration is its first event); events may be unsorted.
export function runningIntervals(events: readonly PowerEvent[], untilMs: number): Interval[] {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  const out: Interval[] = [];
  let runningSince: number | null = null;
  for (const e of sorted) {
    if (e.power === 'running' && runningSince === null) runningSince = e.at;
    if (e.power === 'stopped' && runningSince !== null) {
      out.push({ from: runningSince, to: Math.min(e.at, untilMs) });
      runningSince = null;
    }
  }
  if (runningSince !== null) out.push({ from: runningSince, to: untilMs });
  return normalizeIntervals(out);
}

// R-U1: the billable time of pay-per-use protection: enabled and the server running.
export function billableIntervals(protection: readonly Interval[], power: readonly PowerEvent[], untilMs: number): Interval[] {
  return intersectIntervals(protection, runningIntervals(power, untilMs));
}

// R-U1: billed seconds per local clock hour: hour start (epoch ms) → seconds, in hour order.
export function splitIntoHours(intervals: readonly Interval[], offsetMinutes: number): Map<number, number> {
  const hours = new Map<number, number>();
  for (const i of normalizeIntervals(intervals)) {
    for (let hour = startOfLocalHour(i.from, offsetMinutes); hour < i.to; hour += HOUR_MS) {
      const seconds = overlapSeconds(i, hour);
      hours.set(hour, (hours.get(hour) ?? 0) + seconds);
    }
  }
  return new Map([...hours.entries()].sort(([a], [b]) => a - b));
}

// R-U1: billed seconds in the clock hour starting at `hourStartMs`.
export function billedSecondsInHour(intervals: readonly Interval[], hourStartMs: number): number {
  return normalizeIntervals(intervals).reduce((sum, i) => sum + overlapSeconds(i, hourStartMs), 0);
}

// R-U1: fee = hourly price ÷ 3600 × billed seconds × quantity, UNROUNDED. One hour's bill is
// the sum of its lines rounded once (hourlyBillTotal, R-M2); rounding each line would lose
// sub-cent amounts that together make cents.
export function hourlyFee(hourlyPrice: Decimal.Value, seconds: number, quantity: number): Decimal {
  return plain(lineSecondsValue({ hourlyPrice, seconds, quantity }).div(3600));
}

export interface HourlyLine {
  hourlyPrice: Decimal.Value;
  seconds: number;
  quantity: number;
  /** R-U4: quota-seconds of this line drawn from quota-hour packages (not billed); 0 if absent */
  coveredQuotaSeconds?: Decimal.Value;
}

// R-U1 / R-M2: an hour's bill for an account: the exact sum of its lines, rounded half-up
// once to 0.01 (a single division by 3600, so lines that add up to a cent stay exact).
export function hourlyBillTotal(lines: readonly HourlyLine[]): Decimal {
  return billTotal(lines, []);
}

// R-U1 / R-C4 / R-M2: an hour's bill with per-second lines and per-use amounts: everything is
// summed exactly (per-second lines as price × seconds × quantity, per-use amounts × 3600, then a
// single division by 3600) and the total rounded half-up once to 0.01.
export function billTotal(lines: readonly HourlyLine[], perUseAmounts: readonly Decimal.Value[]): Decimal {
  const seconds = lines.reduce((sum, line) => sum.plus(lineSecondsValue(line)), exact(0));
  const perUse = perUseAmounts.reduce<Decimal>((sum, a) => sum.plus(toMoney(a)), exact(0));
  return roundHalfUp(seconds.plus(perUse.times(3600)).div(3600));
}

// R-C4 / R-U4: a per-use fee (e.g. image-scan 0.10 per successful scan, or the excess over
// packages): unit price × quantity, unrounded (round once on the bill).
export function usageFee(unitPrice: Decimal.Value, quantity: Decimal.Value): Decimal {
  return plain(exact(toMoney(unitPrice)).times(nonNegative(quantity, 'usage')));
}

export interface UsagePackage {
  id: string;
  expiresAt: number;
  remaining: Decimal.Value;
}

export interface Drawdown {
  draws: { id: string; amount: Decimal }[];
  excess: Decimal;
}

// R-U4: usage is drawn from packages first, earliest expiry first (ties: input order); only
// the excess is billed. With `now`, packages expired at `now` (expiresAt <= now) are skipped.
export function drawdownPackages(packages: readonly UsagePackage[], usage: Decimal.Value, now?: number): Drawdown {
  const usable = packages.filter((p) => now === undefined || p.expiresAt > now).sort((a, b) => a.expiresAt - b.expiresAt);
  let left = exact(nonNegative(usage, 'usage'));
  const draws: Drawdown['draws'] = [];
  for (const p of usable) {
    const take = Decimal.min(left, exact(toMoney(p.remaining)));
    if (!take.gt(0)) continue;
    draws.push({ id: p.id, amount: plain(take) });
    left = left.minus(take);
  }
  return { draws, excess: plain(left) };
}

export type ResetPolicy = 'none' | 'monthly' | 'yearly';

// R-U4 "720 quota-hours": pay-per-use protection of one edition can be prepaid in quota-hours.
// The package's metric names the edition, because editions have different hourly prices (SPEC §3).
const QUOTA_HOURS_PREFIX = 'quota_hours.';

export function quotaHourMetric(product: string, edition: string): string {
  return `${QUOTA_HOURS_PREFIX}${product}.${edition}`;
}

export function isQuotaHourMetric(metric: string): boolean {
  return metric.startsWith(QUOTA_HOURS_PREFIX);
}

// R-U1 / R-U4: protection is billed per second, so a quota-hour package is drawn in
// quota-seconds: its draws, and what is left of it in pricing, count 3600 units per quota-hour of
// content. That keeps every draw and every excess fee exact (an hour's 2746 s is not a finite
// decimal number of hours). Other metrics are drawn in their own unit.
export function drawUnitsPerContentUnit(metric: string): number {
  return isQuotaHourMetric(metric) ? 3600 : 1;
}

// R-U4: start of the package period containing `now`: the purchase for `none`, else the latest
// monthly/yearly anniversary of the purchase (R-T2 clamping, counted from the purchase).
export function currentPeriodStart(purchasedAt: number, reset: ResetPolicy, now: number, offsetMinutes: number): number {
  if (reset === 'none') return purchasedAt;
  return addMonthsClamped(purchasedAt, periodsElapsed(purchasedAt, reset, now, offsetMinutes) * monthsPerPeriod(reset), offsetMinutes);
}

// R-U4: when the content is next available again; null for `none`.
export function nextResetAt(purchasedAt: number, reset: ResetPolicy, now: number, offsetMinutes: number): number | null {
  if (reset === 'none') return null;
  return addMonthsClamped(purchasedAt, (periodsElapsed(purchasedAt, reset, now, offsetMinutes) + 1) * monthsPerPeriod(reset), offsetMinutes);
}

export interface PackageUsage {
  content: Decimal.Value;
  purchasedAt: number;
  reset: ResetPolicy;
  /** everything drawn from this package so far */
  draws: readonly { at: number; amount: Decimal.Value }[];
}

// R-U4: the instant from which draws count against the period containing `now`. A draw is dated
// by the hour it settles, and a package bought mid-hour already covers that hour, so the first
// period's draws count from the start of the purchase's hour. (They used to count from the
// purchase itself: the purchase hour's draws were forgotten and their content sold twice.)
export function drawsCountFrom(purchasedAt: number, reset: ResetPolicy, now: number, offsetMinutes: number): number {
  const start = currentPeriodStart(purchasedAt, reset, now, offsetMinutes);
  return start === purchasedAt ? startOfLocalHour(purchasedAt, offsetMinutes) : start;
}

// R-U4: what is left in a package at `now`: its content minus the draws of the current period
// (all draws for `none`; a reset makes the full content available again). Never negative.
export function packageRemainingAfterReset(p: PackageUsage, now: number, offsetMinutes: number): Decimal {
  const periodStart = drawsCountFrom(p.purchasedAt, p.reset, now, offsetMinutes);
  const used = p.draws.filter((d) => d.at >= periodStart).reduce((sum, d) => sum.plus(toMoney(d.amount)), exact(0));
  const left = exact(toMoney(p.content)).minus(used);
  return left.gt(0) ? plain(left) : ZERO;
}

// R-U3: a record whose period ended more than 2 hours before `now` is refused.
export function isUsageRecordTooLate(periodEndMs: number, now: number): boolean {
  return now - periodEndMs > USAGE_LATE_LIMIT_MS;
}

// R-U3: the most one usage record may carry. A bound keeps every sum a settlement makes (one
// resource's hour of records, its bill line, the bill) far inside the columns that store it:
// two records of 99999999999999 used to overflow a bill line, and settlement then retried that
// hour for ever (issue #11, defect 6). A billion of a metric in one record is no real usage.
export const MAX_USAGE_RECORD_QUANTITY = '1000000000';

// R-U3: whether a record's quantity is within MAX_USAGE_RECORD_QUANTITY.
export function isUsageQuantityTooLarge(quantity: Decimal.Value): boolean {
  return toMoney(quantity).gt(MAX_USAGE_RECORD_QUANTITY);
}

// R-U3: a record may end at most this far after our clock's "now" (clock skew of the sender).
export const USAGE_FUTURE_TOLERANCE_MS = 5 * 60_000;

export type UsageRecordProblem = 'USAGE.PERIOD_ORDER' | 'USAGE.TOO_LATE' | 'USAGE.IN_FUTURE';

// R-U3: why a record is refused on arrival, or null: its period must not end before it starts,
// must have ended (give or take the tolerance) and not more than 2 hours ago.
export function usageRecordProblem(periodStartMs: number, periodEndMs: number, now: number): UsageRecordProblem | null {
  if (periodEndMs < periodStartMs) return 'USAGE.PERIOD_ORDER';
  if (isUsageRecordTooLate(periodEndMs, now)) return 'USAGE.TOO_LATE';
  if (periodEndMs - now > USAGE_FUTURE_TOLERANCE_MS) return 'USAGE.IN_FUTURE';
  return null;
}

// R-U3: the clock hour a record's usage belongs to: the hour holding its last instant (a period
// [10:00, 11:00) belongs to 10:00; an instantaneous record to the hour it happened in).
export function usageRecordHour(periodStartMs: number, periodEndMs: number, offsetMinutes: number): number {
  return startOfLocalHour(periodEndMs > periodStartMs ? periodEndMs - 1 : periodEndMs, offsetMinutes);
}

// R-U3: the settlement that bills a record: its own hour's or, when that hour is already settled
// (a late record), the next settlement. `settledThrough` is the end of the last settled hour.
export function settlementHourFor(recordHour: number, settledThrough: number | null): number {
  return settledThrough === null ? recordHour : Math.max(recordHour, settledThrough);
}

/** R-U1: one pay-per-use protection's billed seconds in the hour being settled. */
export interface ProtectionUsage extends HourlyLine {
  protectionId: string;
  resourceId: string;
  /** with the edition, names the quota-hour packages that cover this line (R-U4) */
  product?: string;
  edition?: string;
}

/** R-C4 / R-U3: one resource's metered usage of a metric in the hour being settled. */
export interface MeteredUsage {
  resourceId: string;
  metric: string;
  unitPrice: Decimal.Value;
  quantity: Decimal.Value;
}

/** `remaining` is in draw units (drawUnitsPerContentUnit): quota-seconds for quota-hour packages */
export interface MetricPackage extends UsagePackage {
  metric: string;
}

export interface PricedHour<P extends ProtectionUsage = ProtectionUsage, M extends MeteredUsage = MeteredUsage> {
  protections: (P & { coveredQuotaSeconds: Decimal; amount: Decimal })[];
  metered: (Omit<M, 'quantity'> & { quantity: Decimal; covered: Decimal; billed: Decimal; amount: Decimal })[];
  draws: Drawdown['draws'];
  total: Decimal;
}

// R-U1 / R-C4 / R-U4 / R-M2: an account's bill for one settled hour. Protection lines bill their
// seconds (R-U1), less the quota-seconds drawn from their edition's quota-hour packages; metered
// usage is drawn from the metric's packages. Packages are drawn earliest expiry first and only
// the excess is billed (R-U4); the packages cover the lines in the order given. Line amounts are
// unrounded; the total is rounded once (billTotal).
export function priceHour<P extends ProtectionUsage, M extends MeteredUsage>(p: { protections: readonly P[]; metered: readonly M[]; packages: readonly MetricPackage[]; at: number }): PricedHour<P, M> {
  const draws: Drawdown['draws'] = [];
  const billed = p.protections.filter((l) => l.seconds > 0);
  const covered = new Map<P, Decimal>();
  const quotaMetrics = [...new Set(billed.filter((l) => l.product && l.edition).map((l) => quotaHourMetric(l.product as string, l.edition as string)))];
  for (const metric of quotaMetrics) {
    const lines = billed.filter((l) => l.product && l.edition && quotaHourMetric(l.product, l.edition) === metric);
    const quotaSeconds = lines.reduce((sum, l) => sum.plus(exact(l.seconds).times(l.quantity)), exact(0));
    const drawn = drawdownPackages(p.packages.filter((pk) => pk.metric === metric), quotaSeconds, p.at);
    draws.push(...drawn.draws);
    let cover = quotaSeconds.minus(drawn.excess);
    for (const l of lines) {
      const c = Decimal.min(exact(l.seconds).times(l.quantity), cover);
      cover = cover.minus(c);
      covered.set(l, plain(c));
    }
  }
  const protections = billed.map((l) => {
    const coveredQuotaSeconds = covered.get(l) ?? ZERO;
    return { ...l, coveredQuotaSeconds, amount: plain(lineSecondsValue({ ...l, coveredQuotaSeconds }).div(3600)) };
  });
  const metered: PricedHour<P, M>['metered'] = [];
  for (const metric of [...new Set(p.metered.map((m) => m.metric))]) {
    const lines = p.metered.filter((m) => m.metric === metric);
    const usage = sumMoney(lines.map((l) => nonNegative(l.quantity, 'usage')));
    const drawn = drawdownPackages(p.packages.filter((pk) => pk.metric === metric), usage, p.at);
    draws.push(...drawn.draws);
    let cover = exact(usage).minus(drawn.excess);
    for (const l of lines) {
      const quantity = toMoney(l.quantity);
      const covered = Decimal.min(quantity, cover);
      cover = cover.minus(covered);
      const billed = plain(exact(quantity).minus(covered));
      metered.push({ ...l, quantity, covered: plain(covered), billed, amount: usageFee(l.unitPrice, billed) });
    }
  }
  return { protections, metered, draws, total: billTotal(protections, metered.map((m) => m.amount)) };
}

// R-U4: how many times a package's content is available over its term: once for `none`, once a
// month or once a year for `monthly`/`yearly` (a yearly reset needs a term of whole years).
export function packagePeriods(term: Term, reset: ResetPolicy): number {
  const months = termMonths(term);
  if (reset === 'none') return 1;
  if (reset === 'monthly') return months;
  if (months % 12 !== 0) throw new RangeError('a package that resets yearly needs a term of whole years');
  return months / 12;
}

// R-U4 (SPEC gives no package price; quotaflow's rule, docs/pay-per-use.md): a package costs its
// content at the metric's unit price for every period it is available, times the number bought,
// rounded once to 0.01 (R-M2).
export function packagePrice(unitPrice: Decimal.Value, content: Decimal.Value, count: number, term: Term, reset: ResetPolicy): Decimal {
  if (!Number.isInteger(count) || count < 1 || count > MAX_PACKAGES_PER_PURCHASE) throw new RangeError(`count must be 1..${MAX_PACKAGES_PER_PURCHASE}, got ${count}`);
  return roundHalfUp(exact(toMoney(unitPrice)).times(nonNegative(content, 'content')).times(packagePeriods(term, reset)).times(count));
}

// R-U5 / R-S10: while an account is in arrears a reminder goes out every day, counted from the
// instant it entered arrears; `sent` reminders have gone out so far.
export function nextArrearsReminderAt(arrearsSince: number, sent: number): number {
  return addDays(arrearsSince, sent + 1);
}

function periodsElapsed(purchasedAt: number, reset: 'monthly' | 'yearly', now: number, offsetMinutes: number): number {
  return Math.floor(wholeMonthsBetween(purchasedAt, now, offsetMinutes) / monthsPerPeriod(reset));
}

function monthsPerPeriod(reset: 'monthly' | 'yearly'): number {
  return reset === 'yearly' ? 12 : 1;
}

// price × (billed quota-seconds − those covered by packages): the line's fee × 3600.
function lineSecondsValue(line: HourlyLine): Decimal {
  if (!Number.isInteger(line.seconds) || line.seconds < 0 || line.seconds > 3600) throw new RangeError(`seconds in an hour must be an integer 0..3600, got ${line.seconds}`);
  if (!Number.isInteger(line.quantity) || line.quantity < 1) throw new RangeError(`quantity must be a positive integer, got ${line.quantity}`);
  const quotaSeconds = exact(line.seconds).times(line.quantity);
  const covered = nonNegative(line.coveredQuotaSeconds ?? 0, 'covered quota-seconds');
  if (covered.gt(quotaSeconds)) throw new RangeError(`covered quota-seconds ${covered.toString()} exceed the line's ${quotaSeconds.toString()}`);
  return exact(toMoney(line.hourlyPrice)).times(quotaSeconds.minus(covered));
}

function overlapSeconds(i: Interval, hourStartMs: number): number {
  const ms = Math.min(i.to, hourStartMs + HOUR_MS) - Math.max(i.from, hourStartMs);
  return ms > 0 ? ms / SECOND_MS : 0;
}

function floorToSecond(ms: number): number {
  return Math.floor(ms / SECOND_MS) * SECOND_MS;
}

function nonNegative(v: Decimal.Value, what: string): Decimal {
  const d = toMoney(v);
  if (d.isNegative() && !d.isZero()) throw new RangeError(`${what} must not be negative, got ${d.toString()}`);
  return d;
}
