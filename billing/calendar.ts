import { DateTime, FixedOffsetZone } from 'luxon';

// R-T1: billing local time is a fixed UTC offset (no DST), so a day is always 24 h and a local
// hour boundary is a fixed distance from a UTC one. Instants are epoch milliseconds (UTC).
// Nothing here reads the clock: "now" is always a parameter (R-T3).

export const SECOND_MS = 1_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** A subscription term or renewal period (R-S1, R-S4). */
export interface Term {
  unit: 'month' | 'year';
  count: number;
}

const MAX_OFFSET_MINUTES = 14 * 60 + 59; // the range common/config.ts accepts for BILLING_UTC_OFFSET

// R-T1: "+08:00" → 480, "-05:30" → -330; anything but ±HH:MM within ±14:59 is refused.
export function parseUtcOffset(s: string): number {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(s);
  if (!m) throw new Error(`invalid UTC offset ${JSON.stringify(s)}: expected ±HH:MM such as +08:00`);
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  if (Number(m[3]) > 59 || minutes > MAX_OFFSET_MINUTES) throw new Error(`UTC offset out of range: ${s}`);
  return m[1] === '-' && minutes !== 0 ? -minutes : minutes;
}

// R-T2: n calendar months later in local time, the day clamped to the target month's end
// (Jan 31 + 1 = Feb 28/29). Renewals always count from the original anchor:
// expiry after k months = addMonthsClamped(anchor, k), so Jan 31 → Feb 28, Mar 31, Apr 30.
export function addMonthsClamped(anchorMs: number, months: number, offsetMinutes: number): number {
  if (!Number.isInteger(months)) throw new RangeError(`months must be an integer, got ${months}`);
  return toLocal(anchorMs, offsetMinutes).plus({ months }).toMillis();
}

// R-T2: a term in months (a year is 12 months, so Feb 29 + 1 year = Feb 28).
export function termMonths(term: Term): number {
  if (!Number.isInteger(term.count) || term.count < 1) throw new RangeError(`term count must be a positive integer, got ${term.count}`);
  return term.unit === 'year' ? term.count * 12 : term.count;
}

// R-T2: the instant a term starting at `anchorMs` ends.
export function addTerm(anchorMs: number, term: Term, offsetMinutes: number): number {
  return addMonthsClamped(anchorMs, termMonths(term), offsetMinutes);
}

// R-T2: the number of whole calendar months from `anchorMs` to `ms` (the largest k with
// addMonthsClamped(anchor, k) <= ms), 0 when `ms` is before the anchor.
export function wholeMonthsBetween(anchorMs: number, ms: number, offsetMinutes: number): number {
  if (ms <= anchorMs) return 0;
  const estimate = toLocal(ms, offsetMinutes).diff(toLocal(anchorMs, offsetMinutes), 'months').months;
  let k = Math.max(0, Math.floor(estimate));
  while (k > 0 && addMonthsClamped(anchorMs, k, offsetMinutes) > ms) k--;
  while (addMonthsClamped(anchorMs, k + 1, offsetMinutes) <= ms) k++;
  return k;
}

// R-T1: with a fixed offset a day is exactly 86 400 000 ms.
export function addDays(ms: number, days: number): number {
  if (!Number.isInteger(days)) throw new RangeError(`days must be an integer, got ${days}`);
  return ms + days * DAY_MS;
}

// R-T1: the local calendar date ('YYYY-MM-DD') of an instant.
export function localDate(ms: number, offsetMinutes: number): string {
  const date = toLocal(ms, offsetMinutes).toISODate();
  if (date === null) throw new RangeError(`not a representable instant: ${ms}`);
  return date;
}

// R-T1: whether `s` is a real calendar date written 'YYYY-MM-DD' (2026-02-30 is not).
export function isLocalDate(s: string): boolean {
  const parts = dateParts(s);
  return parts !== null && DateTime.fromObject(parts, { zone: FixedOffsetZone.utcInstance }).isValid;
}

// R-T1: the instant of hh:mm local time on a local date (e.g. the 03:00 of R-S3).
export function localTimeAt(date: string, hour: number, minute: number, offsetMinutes: number): number {
  const parts = dateParts(date);
  if (parts === null) throw new RangeError(`not a date in the form YYYY-MM-DD: ${JSON.stringify(date)}`);
  if (!Number.isInteger(hour) || hour < 0 || hour > 23 || !Number.isInteger(minute) || minute < 0 || minute > 59) {
    throw new RangeError(`not a time of day: ${hour}:${minute}`);
  }
  const dt = DateTime.fromObject({ ...parts, hour, minute }, { zone: zone(offsetMinutes) });
  if (!dt.isValid) throw new RangeError(`not a real date: ${date}`);
  return dt.toMillis();
}

// R-T1: the start of the local clock hour containing `ms` (R-U1 settles each such hour).
export function startOfLocalHour(ms: number, offsetMinutes: number): number {
  const shift = offsetMinutes * 60_000;
  return Math.floor((ms + shift) / HOUR_MS) * HOUR_MS - shift;
}

// R-T1: ISO 8601 with the billing offset, e.g. '2026-03-20T15:00:00.000+08:00' (UTC is
// written '+00:00', not 'Z', so every instant the API shows has the same shape).
export function toIsoLocal(ms: number, offsetMinutes: number): string {
  const iso = toLocal(ms, offsetMinutes).toISO();
  if (iso === null) throw new RangeError(`not a representable instant: ${ms}`);
  return iso.endsWith('Z') ? `${iso.slice(0, -1)}+00:00` : iso;
}

function zone(offsetMinutes: number): FixedOffsetZone {
  if (!Number.isInteger(offsetMinutes) || Math.abs(offsetMinutes) > MAX_OFFSET_MINUTES) {
    throw new RangeError(`offsetMinutes must be an integer within ±${MAX_OFFSET_MINUTES}, got ${offsetMinutes}`);
  }
  return FixedOffsetZone.instance(offsetMinutes);
}

function toLocal(ms: number, offsetMinutes: number): DateTime {
  const dt = DateTime.fromMillis(ms, { zone: zone(offsetMinutes) });
  if (!dt.isValid) throw new RangeError(`not a representable instant: ${ms}`);
  return dt;
}

function dateParts(s: string): { year: number; month: number; day: number } | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return m ? { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) } : null;
}
