import fc from 'fast-check';
import {
  addDays,
  addMonthsClamped,
  addTerm,
  isLocalDate,
  localDate,
  localTimeAt,
  parseUtcOffset,
  startOfLocalHour,
  termMonths,
  toIsoLocal,
  wholeMonthsBetween,
} from '../../billing/calendar';
import { at, CST } from './helpers';

describe('R-T1 billing local time is a fixed UTC offset', () => {
  it.each([
    ['+08:00', 480],
    ['-05:30', -330],
    ['+00:00', 0],
    ['+14:00', 840],
    ['-12:00', -720],
  ])('parses %s as %d minutes', (s, minutes) => {
    expect(parseUtcOffset(s)).toBe(minutes);
  });

  it('parses -00:00 as plain 0, not -0', () => {
    expect(Object.is(parseUtcOffset('-00:00'), 0)).toBe(true);
  });

  it.each(['', '08:00', '+8:00', '+0800', '+08', 'Z', 'UTC+8', ' +08:00', '+08:60', '+15:00', '+08:00:00'])('refuses %p', (s) => {
    expect(() => parseUtcOffset(s)).toThrow(Error);
  });

  it('gives the local date of an instant', () => {
    const instant = at('2026-03-19T20:00Z');
    expect(localDate(instant, CST)).toBe('2026-03-20');
    expect(localDate(instant, 0)).toBe('2026-03-19');
    expect(localDate(at('2026-03-20T00:00'), CST)).toBe('2026-03-20');
    expect(localDate(at('2026-03-20T23:59:59.999'), CST)).toBe('2026-03-20');
  });

  it('gives the instant of a local time of day', () => {
    expect(localTimeAt('2026-03-13', 3, 0, CST)).toBe(at('2026-03-12T19:00Z'));
    expect(localTimeAt('2026-03-13', 3, 0, -330)).toBe(at('2026-03-13T08:30Z'));
    expect(localTimeAt('2024-02-29', 23, 59, CST)).toBe(at('2024-02-29T23:59'));
  });

  it.each([
    ['2026-02-30', 3, 0],
    ['2025-02-29', 3, 0],
    ['2026-3-1', 3, 0],
    ['20260301', 3, 0],
    ['2026-03-01T03:00', 3, 0],
    ['2026-03-01', 24, 0],
    ['2026-03-01', 3, 60],
    ['2026-03-01', 2.5, 0],
  ])('refuses localTimeAt(%p, %p, %p)', (date, hour, minute) => {
    expect(() => localTimeAt(date, hour, minute, CST)).toThrow(RangeError);
  });

  it('knows real dates', () => {
    expect(isLocalDate('2024-02-29')).toBe(true);
    expect(isLocalDate('2025-02-29')).toBe(false);
    expect(isLocalDate('2026-04-31')).toBe(false);
    expect(isLocalDate('2026-13-01')).toBe(false);
    expect(isLocalDate('2026-04-1')).toBe(false);
    expect(isLocalDate('')).toBe(false);
  });

  it('writes ISO 8601 with the billing offset', () => {
    expect(toIsoLocal(at('2026-03-20T07:00Z'), CST)).toBe('2026-03-20T15:00:00.000+08:00');
    expect(toIsoLocal(at('2026-03-20T07:00Z'), -330)).toBe('2026-03-20T01:30:00.000-05:30');
    expect(toIsoLocal(at('2026-03-20T07:00Z'), 0)).toBe('2026-03-20T07:00:00.000+00:00');
  });

  it('adds whole days of exactly 24 hours', () => {
    expect(addDays(at('2026-03-20T15:00'), 15)).toBe(at('2026-04-04T15:00'));
    expect(addDays(at('2026-03-20T15:00'), -7)).toBe(at('2026-03-13T15:00'));
    expect(() => addDays(0, 1.5)).toThrow(RangeError);
  });

  it('finds the start of the local clock hour, also for half-hour offsets', () => {
    expect(startOfLocalHour(at('2026-03-20T10:45:46'), CST)).toBe(at('2026-03-20T10:00'));
    expect(startOfLocalHour(at('2026-03-20T10:00'), CST)).toBe(at('2026-03-20T10:00'));
    expect(startOfLocalHour(at('2026-03-20T10:15:00+05:30'), 330)).toBe(at('2026-03-20T10:00+05:30'));
    expect(startOfLocalHour(at('2026-03-20T10:15:00-05:30'), -330)).toBe(at('2026-03-20T10:00-05:30'));
  });

  it('refuses an offset outside ±14:59', () => {
    expect(() => localDate(0, 900)).toThrow(RangeError);
    expect(() => localDate(0, 480.5)).toThrow(RangeError);
  });
});

describe('R-T2 calendar months', () => {
  it('clamps the day to the end of the target month (SPEC example)', () => {
    expect(addMonthsClamped(at('2025-01-31T10:00'), 1, CST)).toBe(at('2025-02-28T10:00'));
    expect(addMonthsClamped(at('2024-01-31T00:00'), 1, CST)).toBe(at('2024-02-29T00:00'));
    expect(addMonthsClamped(at('2024-02-29T00:00'), 12, CST)).toBe(at('2025-02-28T00:00'));
    expect(addTerm(at('2024-02-29T00:00'), { unit: 'year', count: 1 }, CST)).toBe(at('2025-02-28T00:00'));
  });

  it('renews from the original anchor: Jan 31 → Feb 28, Mar 31, Apr 30 (SPEC example)', () => {
    const anchor = at('2025-01-31T10:00');
    const renewals = [1, 2, 3].map((k) => toIsoLocal(addMonthsClamped(anchor, k, CST), CST));
    expect(renewals).toEqual(['2025-02-28T10:00:00.000+08:00', '2025-03-31T10:00:00.000+08:00', '2025-04-30T10:00:00.000+08:00']);
    // chaining from the clamped date would drift to Mar 28 — the rule forbids that
    expect(addMonthsClamped(addMonthsClamped(anchor, 1, CST), 1, CST)).toBe(at('2025-03-28T10:00'));
  });

  it('counts months in billing local time, not UTC', () => {
    // 2025-01-30T20:00Z is Jan 31 04:00 local: one month later is Feb 28 04:00 local (Feb 27 UTC)
    expect(addMonthsClamped(at('2025-01-30T20:00Z'), 1, CST)).toBe(at('2025-02-27T20:00Z'));
  });

  it('converts terms to months', () => {
    expect(termMonths({ unit: 'month', count: 8 })).toBe(8);
    expect(termMonths({ unit: 'year', count: 2 })).toBe(24);
    expect(() => termMonths({ unit: 'month', count: 0 })).toThrow(RangeError);
    expect(() => termMonths({ unit: 'year', count: 1.5 })).toThrow(RangeError);
    expect(() => addMonthsClamped(0, 0.5, CST)).toThrow(RangeError);
  });

  it('counts whole calendar months between instants', () => {
    const anchor = at('2025-01-31T10:00');
    expect(wholeMonthsBetween(anchor, at('2025-02-28T09:59'), CST)).toBe(0);
    expect(wholeMonthsBetween(anchor, at('2025-02-28T10:00'), CST)).toBe(1);
    expect(wholeMonthsBetween(anchor, at('2025-03-30T10:00'), CST)).toBe(1);
    expect(wholeMonthsBetween(anchor, at('2025-03-31T10:00'), CST)).toBe(2);
    expect(wholeMonthsBetween(anchor, at('2024-12-01T00:00'), CST)).toBe(0);
  });

  // An independent oracle: plain UTC getters on the instant shifted by the offset.
  function localParts(ms: number, offset: number) {
    const d = new Date(ms + offset * 60_000);
    return { y: d.getUTCFullYear(), m: d.getUTCMonth(), day: d.getUTCDate(), timeOfDay: (ms + offset * 60_000) % 86_400_000 };
  }
  const daysIn = (y: number, m: number) => new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const anchors = fc.integer({ min: at('2000-01-01T00:00Z'), max: at('2090-01-01T00:00Z') });
  const offsets = fc.constantFrom(480, 0, -330, 345, 840, -720);

  it('property: k months from the anchor keep the time of day and the anchor day, clamped — no drift', () => {
    fc.assert(
      fc.property(anchors, fc.integer({ min: 0, max: 240 }), offsets, (anchor, k, offset) => {
        const a = localParts(anchor, offset);
        const r = localParts(addMonthsClamped(anchor, k, offset), offset);
        const months = a.y * 12 + a.m + k;
        expect(r.y * 12 + r.m).toBe(months);
        expect(r.day).toBe(Math.min(a.day, daysIn(Math.floor(months / 12), months % 12)));
        expect(r.timeOfDay).toBe(a.timeOfDay);
      }),
    );
  });

  it('property: renewals are strictly increasing and wholeMonthsBetween inverts them', () => {
    fc.assert(
      fc.property(anchors, fc.integer({ min: 0, max: 120 }), offsets, (anchor, k, offset) => {
        const expiry = addMonthsClamped(anchor, k, offset);
        expect(addMonthsClamped(anchor, k + 1, offset)).toBeGreaterThan(expiry);
        expect(wholeMonthsBetween(anchor, expiry, offset)).toBe(k);
        expect(wholeMonthsBetween(anchor, expiry - 1, offset)).toBe(Math.max(0, k - 1));
      }),
    );
  });
});
