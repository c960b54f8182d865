import fc from 'fast-check';
import { exact, roundHalfUp, sumMoney } from '../../billing/money';
import {
  billTotal,
  drawUnitsPerContentUnit,
  HOUR_MS,
  nextArrearsReminderAt,
  packagePeriods,
  packagePrice,
  priceHour,
  quotaHourMetric,
  settlementHourFor,
  usageRecordHour,
  usageRecordProblem,
} from '../../billing';
import { at, CST } from '../billing/helpers';

describe('R-U3 usage records: lateness and the settlement that bills them', () => {
  const now = at('2026-03-20T12:00');

  it('accepts a record 1 h 59 min late and refuses one 2 h 1 min late', () => {
    expect(usageRecordProblem(at('2026-03-20T10:00'), at('2026-03-20T10:01'), now)).toBeNull();
    expect(usageRecordProblem(at('2026-03-20T09:58'), at('2026-03-20T09:59'), now)).toBe('USAGE.TOO_LATE');
    expect(usageRecordProblem(at('2026-03-20T09:59'), at('2026-03-20T10:00'), now)).toBeNull(); // exactly 2 h: still accepted
  });

  it('refuses a period that ends before it starts or in the future (beyond 5 minutes of clock skew)', () => {
    expect(usageRecordProblem(at('2026-03-20T11:00'), at('2026-03-20T10:59'), now)).toBe('USAGE.PERIOD_ORDER');
    expect(usageRecordProblem(at('2026-03-20T11:59'), at('2026-03-20T12:05'), now)).toBeNull();
    expect(usageRecordProblem(at('2026-03-20T11:59'), at('2026-03-20T12:06'), now)).toBe('USAGE.IN_FUTURE');
  });

  it('a record belongs to the hour holding its last instant', () => {
    expect(usageRecordHour(at('2026-03-20T10:00'), at('2026-03-20T11:00'), CST)).toBe(at('2026-03-20T10:00'));
    expect(usageRecordHour(at('2026-03-20T11:00'), at('2026-03-20T11:00'), CST)).toBe(at('2026-03-20T11:00'));
    expect(usageRecordHour(at('2026-03-20T10:15'), at('2026-03-20T10:45'), CST)).toBe(at('2026-03-20T10:00'));
  });

  it('a late record for an hour already settled goes to the next settlement', () => {
    expect(settlementHourFor(at('2026-03-20T10:00'), null)).toBe(at('2026-03-20T10:00'));
    expect(settlementHourFor(at('2026-03-20T10:00'), at('2026-03-20T10:00'))).toBe(at('2026-03-20T10:00'));
    expect(settlementHourFor(at('2026-03-20T09:00'), at('2026-03-20T11:00'))).toBe(at('2026-03-20T11:00'));
  });
});

describe('R-U1 / R-C4 / R-U4 pricing one settled hour', () => {
  const hour = at('2026-03-20T10:00');

  it('R-U1 example: 2746 s at enterprise 0.040000/h → line 0.030511…, bill 0.03', () => {
    const p = priceHour({ protections: [{ protectionId: 'ppu_1', resourceId: 'srv_1', hourlyPrice: '0.040000', seconds: 2746, quantity: 1 }], metered: [], packages: [], at: hour });
    expect(p.protections[0].amount.toFixed(6)).toBe('0.030511');
    expect(p.total.toFixed(2)).toBe('0.03');
  });

  it('drops protection lines without billed seconds', () => {
    const p = priceHour({ protections: [{ protectionId: 'ppu_1', resourceId: 'srv_1', hourlyPrice: '0.040000', seconds: 0, quantity: 1 }], metered: [], packages: [], at: hour });
    expect(p.protections).toEqual([]);
    expect(p.total.toFixed(2)).toBe('0.00');
  });

  it('R-U4: three packages drawn in expiry order; only the excess is billed at 0.10 (R-C4)', () => {
    const packages = [
      { id: 'late', metric: 'image_scans', expiresAt: at('2026-06-20T10:00'), remaining: '10' },
      { id: 'first', metric: 'image_scans', expiresAt: at('2026-04-20T10:00'), remaining: '10' },
      { id: 'middle', metric: 'image_scans', expiresAt: at('2026-05-20T10:00'), remaining: '10' },
    ];
    const p = priceHour({
      protections: [],
      metered: [
        { resourceId: 'img_a', metric: 'image_scans', unitPrice: '0.100000', quantity: '20' },
        { resourceId: 'img_b', metric: 'image_scans', unitPrice: '0.100000', quantity: '15' },
      ],
      packages,
      at: hour,
    });
    expect(p.draws.map((d) => [d.id, d.amount.toString()])).toEqual([['first', '10'], ['middle', '10'], ['late', '10']]);
    expect(p.metered.map((m) => [m.resourceId, m.covered.toString(), m.billed.toString(), m.amount.toString()])).toEqual([
      ['img_a', '20', '0', '0'],
      ['img_b', '10', '5', '0.5'],
    ]);
    expect(p.total.toFixed(2)).toBe('0.50');
  });

  it('a package of another metric is not drawn', () => {
    const p = priceHour({ protections: [], metered: [{ resourceId: 'img_a', metric: 'image_scans', unitPrice: '0.1', quantity: '3' }], packages: [{ id: 'x', metric: 'other', expiresAt: at('2027-01-01T00:00'), remaining: '100' }], at: hour });
    expect(p.draws).toEqual([]);
    expect(p.total.toFixed(2)).toBe('0.30');
  });

  it('R-U4 quota-hours: a package of 0.5 enterprise quota-hours covers 1800 of the R-U1 example\'s 2746 s; 946 s are billed', () => {
    const enterprise = quotaHourMetric('host-security', 'enterprise');
    expect(enterprise).toBe('quota_hours.host-security.enterprise');
    expect(drawUnitsPerContentUnit(enterprise)).toBe(3600); // drawn in quota-seconds
    const p = priceHour({
      protections: [{ protectionId: 'ppu_1', resourceId: 'srv_1', product: 'host-security', edition: 'enterprise', hourlyPrice: '0.040000', seconds: 2746, quantity: 1 }],
      metered: [],
      packages: [{ id: 'qh', metric: enterprise, expiresAt: at('2026-04-20T10:00'), remaining: '1800' }],
      at: hour,
    });
    expect(p.draws.map((d) => [d.id, d.amount.toString()])).toEqual([['qh', '1800']]);
    expect(p.protections.map((l) => [l.coveredQuotaSeconds.toString(), l.amount.toFixed(12)])).toEqual([['1800', '0.010511111111']]); // 946 × 0.04 / 3600
    expect(p.total.toFixed(2)).toBe('0.01');
  });

  it('R-U4 quota-hours: drawn earliest expiry first across lines of one edition, quota × seconds; another edition\'s package is not drawn', () => {
    const enterprise = quotaHourMetric('host-security', 'enterprise');
    const p = priceHour({
      protections: [
        { protectionId: 'a', resourceId: 'srv_a', product: 'host-security', edition: 'enterprise', hourlyPrice: '0.040000', seconds: 3600, quantity: 2 }, // 7200 quota-seconds
        { protectionId: 'b', resourceId: 'srv_b', product: 'host-security', edition: 'enterprise', hourlyPrice: '0.040000', seconds: 1800, quantity: 1 },
        { protectionId: 'c', resourceId: 'srv_c', product: 'host-security', edition: 'premium', hourlyPrice: '0.060000', seconds: 3600, quantity: 1 },
      ],
      metered: [],
      packages: [
        { id: 'later', metric: enterprise, expiresAt: at('2026-06-01T00:00'), remaining: '3600' },
        { id: 'sooner', metric: enterprise, expiresAt: at('2026-05-01T00:00'), remaining: '5400' },
        { id: 'scans', metric: 'image_scans', expiresAt: at('2026-04-01T00:00'), remaining: '100' },
      ],
      at: hour,
    });
    expect(p.draws.map((d) => [d.id, d.amount.toString()])).toEqual([['sooner', '5400'], ['later', '3600']]);
    // 9000 quota-seconds in all, all covered: line a 7200, line b 1800; premium is billed in full.
    expect(p.protections.map((l) => [l.protectionId, l.coveredQuotaSeconds.toString(), l.amount.toString()])).toEqual([['a', '7200', '0'], ['b', '1800', '0'], ['c', '0', '0.06']]);
    expect(p.total.toFixed(2)).toBe('0.06');
  });

  it('property: the total is the exact sum of the line amounts rounded once, and draws cover exactly the covered usage', () => {
    const line = fc.record({ seconds: fc.integer({ min: 0, max: 3600 }), quantity: fc.integer({ min: 1, max: 50 }), price: fc.integer({ min: 0, max: 999_999 }) });
    const use = fc.record({ quantity: fc.integer({ min: 0, max: 10_000 }), scale: fc.integer({ min: 0, max: 3 }) });
    fc.assert(fc.property(fc.array(line, { maxLength: 6 }), fc.array(use, { maxLength: 6 }), fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 50_000 }), { maxLength: 3 }), (lines, uses, pkgs, quota) => {
      const p = priceHour({
        protections: lines.map((l, i) => ({ protectionId: `p${i}`, resourceId: `s${i}`, product: 'host-security', edition: 'enterprise', hourlyPrice: exact(l.price).div(1_000_000).toString(), seconds: l.seconds, quantity: l.quantity })),
        metered: uses.map((u, i) => ({ resourceId: `r${i}`, metric: 'image_scans', unitPrice: '0.1', quantity: exact(u.quantity).div(10 ** u.scale).toString() })),
        packages: [
          ...pkgs.map((c, i) => ({ id: `k${i}`, metric: 'image_scans', expiresAt: hour + (i + 1) * HOUR_MS, remaining: String(c) })),
          ...quota.map((c, i) => ({ id: `q${i}`, metric: quotaHourMetric('host-security', 'enterprise'), expiresAt: hour + (i + 1) * HOUR_MS, remaining: String(c) })),
        ],
        at: hour,
      });
      const exactSum = sumMoney([...p.protections.map((l) => l.amount), ...p.metered.map((m) => m.amount)]);
      expect(p.total.toFixed(2)).toBe(roundHalfUp(exactSum).toFixed(2));
      expect(sumMoney(p.draws.filter((d) => d.id.startsWith('k')).map((d) => d.amount)).toString()).toBe(sumMoney(p.metered.map((m) => m.covered)).toString());
      for (const m of p.metered) expect(m.covered.plus(m.billed).toString()).toBe(m.quantity.toString());
      // R-U4 quota-hours: what the quota-hour packages gave is exactly what the protection lines
      // did not bill, and each line's amount is price × its uncovered quota-seconds / 3600.
      const quotaDraws = p.draws.filter((d) => d.id.startsWith('q'));
      expect(sumMoney(quotaDraws.map((d) => d.amount)).toString()).toBe(sumMoney(p.protections.map((l) => l.coveredQuotaSeconds)).toString());
      for (const l of p.protections) {
        expect(l.coveredQuotaSeconds.lte(l.seconds * l.quantity)).toBe(true);
        expect(l.amount.times(3600).toString()).toBe(exact(l.hourlyPrice).times(exact(l.seconds * l.quantity).minus(l.coveredQuotaSeconds)).toString());
      }
    }), { numRuns: 300 });
  });

  it('rounds the whole bill once: three per-use amounts of 0.005 make 0.02, not 0.03 or 0.00 (R-M2)', () => {
    expect(billTotal([], ['0.005', '0.005', '0.005']).toFixed(2)).toBe('0.02');
    expect(billTotal([{ hourlyPrice: '0.018000', seconds: 1000, quantity: 1 }], ['0.005']).toFixed(2)).toBe('0.01'); // 0.005 + 0.005
  });
});

describe('R-U4 package price and periods (quotaflow rule: content × unit price per period × count)', () => {
  it('a package is available once per reset period of its term', () => {
    expect(packagePeriods({ unit: 'month', count: 3 }, 'none')).toBe(1);
    expect(packagePeriods({ unit: 'month', count: 3 }, 'monthly')).toBe(3);
    expect(packagePeriods({ unit: 'year', count: 2 }, 'yearly')).toBe(2);
    expect(packagePeriods({ unit: 'year', count: 1 }, 'monthly')).toBe(12);
    expect(() => packagePeriods({ unit: 'month', count: 6 }, 'yearly')).toThrow(/whole years/);
  });

  it('1,000 image scans × 3 packages, monthly for 3 months at 0.10 → 900.00', () => {
    expect(packagePrice('0.100000', '1000', 3, { unit: 'month', count: 3 }, 'monthly').toFixed(2)).toBe('900.00');
    expect(packagePrice('0.100000', '10', 1, { unit: 'month', count: 1 }, 'none').toFixed(2)).toBe('1.00');
    expect(() => packagePrice('0.1', '10', 31, { unit: 'month', count: 1 }, 'none')).toThrow(/1\.\.30/);
  });
});

describe('R-U5 arrears reminders', () => {
  it('go out daily from the instant the account entered arrears', () => {
    const since = at('2026-03-20T10:01');
    expect(nextArrearsReminderAt(since, 0)).toBe(at('2026-03-21T10:01'));
    expect(nextArrearsReminderAt(since, 14)).toBe(at('2026-04-04T10:01'));
  });
});
