import fc from 'fast-check';
import { toIsoLocal } from '../../billing/calendar';
import { sumMoney, toMoney } from '../../billing/money';
import {
  billableIntervals,
  billedSecondsInHour,
  currentPeriodStart,
  drawdownPackages,
  hourlyBillTotal,
  hourlyFee,
  intersectIntervals,
  isUsageRecordTooLate,
  MAX_PACKAGES_PER_PURCHASE,
  nextResetAt,
  normalizeIntervals,
  packageRemainingAfterReset,
  runningIntervals,
  splitIntoHours,
  usageFee,
} from '../../billing/usage';
import { at, CST } from './helpers';

const hoursAsIso = (m: Map<number, number>) => [...m.entries()].map(([hour, seconds]) => [toIsoLocal(hour, CST), seconds]);

describe('R-U1 pay-per-use, per second, settled per clock hour', () => {
  const enabled = { from: at('2026-03-20T09:59:30'), to: at('2026-03-20T10:45:46') };

  it('enabled 09:59:30, disabled 10:45:46 → 30 s in the 09:00 hour and 2746 s in the 10:00 hour (SPEC example)', () => {
    expect(hoursAsIso(splitIntoHours([enabled], CST))).toEqual([
      ['2026-03-20T09:00:00.000+08:00', 30],
      ['2026-03-20T10:00:00.000+08:00', 2746],
    ]);
    expect(billedSecondsInHour([enabled], at('2026-03-20T09:00'))).toBe(30);
    expect(billedSecondsInHour([enabled], at('2026-03-20T10:00'))).toBe(2746);
    expect(billedSecondsInHour([enabled], at('2026-03-20T11:00'))).toBe(0);
  });

  it('enterprise 0.040000/hour × 1: 0.04/3600 × 30 = 0.000333… → 0.00; 0.04/3600 × 2746 = 0.030511… → 0.03 (SPEC example)', () => {
    expect(hourlyFee('0.040000', 30, 1).toFixed(6)).toBe('0.000333');
    expect(hourlyFee('0.040000', 2746, 1).toFixed(6)).toBe('0.030511');
    expect(hourlyFee('0.040000', 2746, 1).toString()).toBe('0.03051111111111111111111111111111111111111');
    expect(hourlyBillTotal([{ hourlyPrice: '0.040000', seconds: 30, quantity: 1 }]).toFixed(2)).toBe('0.00');
    expect(hourlyBillTotal([{ hourlyPrice: '0.040000', seconds: 2746, quantity: 1 }]).toFixed(2)).toBe('0.03');
  });

  it('bills the true 570 s for 08:45:30–08:55:00 (SPEC note)', () => {
    expect(hoursAsIso(splitIntoHours([{ from: at('2026-03-20T08:45:30'), to: at('2026-03-20T08:55:00') }], CST))).toEqual([
      ['2026-03-20T08:00:00.000+08:00', 570],
    ]);
  });

  it('a full hour costs the hourly price × quantity', () => {
    expect(hourlyFee('0.090000', 3600, 3).toString()).toBe('0.27');
    expect(hourlyBillTotal([{ hourlyPrice: '0.090000', seconds: 3600, quantity: 3 }]).toFixed(2)).toBe('0.27');
  });

  it("rounds the hour's bill once, not each line (R-M2)", () => {
    const line = { hourlyPrice: '0.048000', seconds: 300, quantity: 1 }; // 0.004 each
    expect(hourlyFee(line.hourlyPrice, line.seconds, line.quantity).toString()).toBe('0.004');
    expect(hourlyBillTotal([line, line, line]).toFixed(2)).toBe('0.01');
    // 0.001666… + 0.003333… is exactly half a cent: summed before the one division, it rounds up
    expect(hourlyBillTotal([
      { hourlyPrice: '0.006000', seconds: 1000, quantity: 1 },
      { hourlyPrice: '0.006000', seconds: 2000, quantity: 1 },
    ]).toFixed(2)).toBe('0.01');
    expect(hourlyBillTotal([{ hourlyPrice: '0.018000', seconds: 1000, quantity: 1 }]).toFixed(2)).toBe('0.01'); // exactly 0.005
    expect(hourlyBillTotal([]).toFixed(2)).toBe('0.00');
  });

  it('refuses impossible lines', () => {
    expect(() => hourlyFee('0.04', 3601, 1)).toThrow(RangeError);
    expect(() => hourlyFee('0.04', 1.5, 1)).toThrow(RangeError);
    expect(() => hourlyFee('0.04', 10, 0)).toThrow(RangeError);
  });

  it('a stopped server accrues nothing: a stop between enable and disable is not billed', () => {
    const protection = [{ from: at('2026-03-20T09:00'), to: at('2026-03-20T10:10') }];
    const power = [
      { at: at('2026-03-20T08:00'), power: 'running' as const },
      { at: at('2026-03-20T09:20'), power: 'stopped' as const },
      { at: at('2026-03-20T09:40'), power: 'running' as const },
    ];
    const billable = billableIntervals(protection, power, at('2026-03-20T12:00'));
    expect(hoursAsIso(splitIntoHours(billable, CST))).toEqual([
      ['2026-03-20T09:00:00.000+08:00', 2400],
      ['2026-03-20T10:00:00.000+08:00', 600],
    ]);
  });

  it('reads a power timeline: unsorted events, repeated states, stopped before the first event', () => {
    const events = [
      { at: at('2026-03-20T10:00'), power: 'stopped' as const },
      { at: at('2026-03-20T09:00'), power: 'running' as const },
      { at: at('2026-03-20T09:30'), power: 'running' as const },
      { at: at('2026-03-20T11:00'), power: 'stopped' as const },
      { at: at('2026-03-20T11:30'), power: 'running' as const },
    ];
    expect(runningIntervals(events, at('2026-03-20T12:00'))).toEqual([
      { from: at('2026-03-20T09:00'), to: at('2026-03-20T10:00') },
      { from: at('2026-03-20T11:30'), to: at('2026-03-20T12:00') },
    ]);
  });

  it('bills whole seconds, merges overlaps and drops empty intervals', () => {
    expect(normalizeIntervals([
      { from: at('2026-03-20T09:00:00.900'), to: at('2026-03-20T09:00:10.999') },
      { from: at('2026-03-20T09:00:05'), to: at('2026-03-20T09:00:20') },
      { from: at('2026-03-20T09:30'), to: at('2026-03-20T09:30') },
      { from: at('2026-03-20T09:40'), to: at('2026-03-20T09:39') },
    ])).toEqual([{ from: at('2026-03-20T09:00:00'), to: at('2026-03-20T09:00:20') }]);
    expect(intersectIntervals([{ from: 0, to: 10_000 }], [{ from: 5_000, to: 20_000 }, { from: 7_000, to: 8_000 }])).toEqual([{ from: 5_000, to: 10_000 }]);
  });

  it('uses local clock hours for half-hour offsets', () => {
    const m = splitIntoHours([{ from: at('2026-03-20T09:50+05:30'), to: at('2026-03-20T10:05+05:30') }], 330);
    expect([...m.entries()]).toEqual([
      [at('2026-03-20T09:00+05:30'), 600],
      [at('2026-03-20T10:00+05:30'), 300],
    ]);
  });

  it('property: splitting into hours conserves the billed seconds, within hour-aligned buckets', () => {
    const interval = fc.tuple(fc.integer({ min: 0, max: 10 * 86_400_000 }), fc.integer({ min: 0, max: 5 * 3_600_000 })).map(([from, len]) => ({ from: at('2026-03-20T00:00Z') + from, to: at('2026-03-20T00:00Z') + from + len }));
    fc.assert(
      fc.property(fc.array(interval, { maxLength: 8 }), fc.constantFrom(480, 0, 330, -330), (intervals, offset) => {
        const hours = splitIntoHours(intervals, offset);
        const total = normalizeIntervals(intervals).reduce((s, i) => s + (i.to - i.from) / 1000, 0);
        expect([...hours.values()].reduce((a, b) => a + b, 0)).toBe(total);
        for (const [hour, seconds] of hours) {
          expect(toIsoLocal(hour, offset).slice(13, 23)).toBe(':00:00.000');
          expect(seconds).toBeGreaterThan(0);
          expect(seconds).toBeLessThanOrEqual(3600);
          expect(Number.isInteger(seconds)).toBe(true);
          expect(billedSecondsInHour(intervals, hour)).toBe(seconds);
        }
      }),
    );
  });
});

describe('R-C4 per-use services', () => {
  it('image-scan 0.10 per successful scan', () => {
    expect(usageFee('0.10', 7).toFixed(2)).toBe('0.70');
    expect(usageFee('0.100000', '1234').toFixed(2)).toBe('123.40');
    expect(() => usageFee('0.10', -1)).toThrow(RangeError);
  });
});

describe('R-U4 usage packages', () => {
  it('allows at most 30 packages per purchase', () => {
    expect(MAX_PACKAGES_PER_PURCHASE).toBe(30);
  });

  const early = { id: 'early', expiresAt: at('2026-04-01T00:00'), remaining: '30' };
  const late = { id: 'late', expiresAt: at('2026-06-01T00:00'), remaining: '100' };

  it('draws from the package expiring first, then the next; only the excess is billed', () => {
    const within = drawdownPackages([late, early], '50');
    expect(within.draws.map((d) => [d.id, d.amount.toString()])).toEqual([['early', '30'], ['late', '20']]);
    expect(within.excess.toString()).toBe('0');

    const beyond = drawdownPackages([late, early], '200');
    expect(beyond.draws.map((d) => [d.id, d.amount.toString()])).toEqual([['early', '30'], ['late', '100']]);
    expect(beyond.excess.toString()).toBe('70');
    expect(usageFee('0.10', beyond.excess).toFixed(2)).toBe('7.00');
  });

  it('skips empty and (given now) expired packages; bills everything without packages', () => {
    const empty = { id: 'empty', expiresAt: at('2026-03-01T00:00'), remaining: '0' };
    expect(drawdownPackages([empty, late, early], '10', at('2026-04-01T00:00')).draws.map((d) => d.id)).toEqual(['late']);
    expect(drawdownPackages([], '12.5').excess.toString()).toBe('12.5');
    expect(drawdownPackages([early], '0')).toEqual({ draws: [], excess: toMoney(0) });
    expect(() => drawdownPackages([early], '-1')).toThrow(RangeError);
  });

  it('keeps input order between packages with the same expiry', () => {
    const a = { id: 'a', expiresAt: early.expiresAt, remaining: '5' };
    const b = { id: 'b', expiresAt: early.expiresAt, remaining: '5' };
    expect(drawdownPackages([b, a], '7').draws.map((d) => [d.id, d.amount.toString()])).toEqual([['b', '5'], ['a', '2']]);
  });

  it('property: drawdown conserves the usage and never overdraws a package', () => {
    const pkg = fc.record({
      id: fc.uuid(),
      expiresAt: fc.integer({ min: 0, max: 1_000 }),
      remaining: fc.integer({ min: 0, max: 100_000 }).map((n) => toMoney(n).div(1000).toString()),
    });
    fc.assert(
      fc.property(fc.uniqueArray(pkg, { selector: (p) => p.id, maxLength: 10 }), fc.integer({ min: 0, max: 1_000_000 }), (packages, usageMilli) => {
        const usage = toMoney(usageMilli).div(1000);
        const { draws, excess } = drawdownPackages(packages, usage);
        expect(sumMoney([...draws.map((d) => d.amount), excess]).equals(usage)).toBe(true);
        expect(excess.gte(0)).toBe(true);
        const byId = new Map(packages.map((p) => [p.id, p]));
        for (const d of draws) expect(d.amount.gt(0) && d.amount.lte(byId.get(d.id)!.remaining)).toBe(true);
        const expiries = draws.map((d) => byId.get(d.id)!.expiresAt);
        expect(expiries).toEqual([...expiries].sort((x, y) => x - y));
        if (excess.gt(0)) expect(sumMoney(draws.map((d) => d.amount)).equals(sumMoney(packages.map((p) => p.remaining)))).toBe(true);
      }),
    );
  });

  it('monthly/yearly reset periods start on the purchase anniversaries (R-T2 clamping)', () => {
    const bought = at('2026-01-31T10:00');
    const iso = (ms: number | null) => (ms === null ? null : toIsoLocal(ms, CST));
    expect(iso(currentPeriodStart(bought, 'none', at('2026-05-01T00:00'), CST))).toBe('2026-01-31T10:00:00.000+08:00');
    expect(iso(currentPeriodStart(bought, 'monthly', at('2026-02-15T00:00'), CST))).toBe('2026-01-31T10:00:00.000+08:00');
    expect(iso(currentPeriodStart(bought, 'monthly', at('2026-03-15T00:00'), CST))).toBe('2026-02-28T10:00:00.000+08:00');
    expect(iso(currentPeriodStart(bought, 'monthly', at('2026-04-01T00:00'), CST))).toBe('2026-03-31T10:00:00.000+08:00');
    expect(iso(nextResetAt(bought, 'monthly', at('2026-04-01T00:00'), CST))).toBe('2026-04-30T10:00:00.000+08:00');
    expect(nextResetAt(bought, 'none', at('2026-04-01T00:00'), CST)).toBeNull();
    const leap = at('2024-02-29T00:00');
    expect(iso(currentPeriodStart(leap, 'yearly', at('2025-03-01T00:00'), CST))).toBe('2025-02-28T00:00:00.000+08:00');
    expect(iso(currentPeriodStart(leap, 'yearly', at('2025-02-27T00:00'), CST))).toBe('2024-02-29T00:00:00.000+08:00');
    expect(iso(nextResetAt(leap, 'yearly', at('2025-03-01T00:00'), CST))).toBe('2026-02-28T00:00:00.000+08:00');
    expect(iso(currentPeriodStart(leap, 'yearly', at('2028-03-01T00:00'), CST))).toBe('2028-02-29T00:00:00.000+08:00');
  });

  it('what is left after a reset: the content minus the current period\'s draws', () => {
    const draws = [
      { at: at('2026-01-20T00:00'), amount: '300' },
      { at: at('2026-02-05T00:00'), amount: '200' },
      { at: at('2026-02-11T00:00'), amount: '150' },
    ];
    const pkg = { content: '1000', purchasedAt: at('2026-01-10T12:00'), draws };
    expect(packageRemainingAfterReset({ ...pkg, reset: 'monthly' }, at('2026-02-12T00:00'), CST).toString()).toBe('850');
    expect(packageRemainingAfterReset({ ...pkg, reset: 'monthly' }, at('2026-03-10T12:00'), CST).toString()).toBe('1000');
    expect(packageRemainingAfterReset({ ...pkg, reset: 'none' }, at('2026-02-12T00:00'), CST).toString()).toBe('350');
    expect(packageRemainingAfterReset({ ...pkg, reset: 'yearly' }, at('2026-02-12T00:00'), CST).toString()).toBe('350');
    expect(packageRemainingAfterReset({ ...pkg, content: '500', reset: 'none' }, at('2026-02-12T00:00'), CST).toString()).toBe('0');
  });

  it('a package bought mid-hour keeps the draws of its purchase hour (dated at the hour\'s start): its content is never drawn twice', () => {
    const purchasedAt = at('2026-01-10T12:30');
    const draws = [{ at: at('2026-01-10T12:00'), amount: '10' }, { at: at('2026-01-10T13:00'), amount: '5' }];
    for (const reset of ['none', 'monthly', 'yearly'] as const) {
      const pkg = { content: '1000', purchasedAt, reset, draws };
      expect(packageRemainingAfterReset(pkg, at('2026-01-10T12:00'), CST).toString()).toBe('985');
      expect(packageRemainingAfterReset(pkg, at('2026-01-10T14:00'), CST).toString()).toBe('985');
    }
    // After the first monthly reset the purchase hour's draws no longer count.
    expect(packageRemainingAfterReset({ content: '1000', purchasedAt, reset: 'monthly', draws }, at('2026-02-10T13:00'), CST).toString()).toBe('1000');
  });
});

describe('R-U3 late usage records', () => {
  it('accepts records up to 2 hours after their period ends', () => {
    const end = at('2026-03-20T10:00');
    expect(isUsageRecordTooLate(end, at('2026-03-20T12:00'))).toBe(false);
    expect(isUsageRecordTooLate(end, at('2026-03-20T12:00:00.001'))).toBe(true);
    expect(isUsageRecordTooLate(end, at('2026-03-20T09:00'))).toBe(false);
  });
});
