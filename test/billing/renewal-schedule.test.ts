import fc from 'fast-check';
import { toIsoLocal } from '../../billing/calendar';
import {
  DEDUCTION_HOUR,
  DEFAULT_ARREARS,
  deductionAttempts,
  ISOLATION_DAYS,
  isProtected,
  lifecycleForecast,
  LifecycleForecastInput,
  statusAtExpiry,
  SubscriptionStatus,
  validateDeductionDate,
} from '../../billing/renewal-schedule';
import { at, CST } from './helpers';

const iso = (ms: number) => toIsoLocal(ms, CST);
const isoAttempts = (p: Parameters<typeof deductionAttempts>[0]) => deductionAttempts(p).map((a) => ({ at: iso(a.at), immediate: a.immediate }));
const scheduled = (...days: string[]) => days.map((d) => ({ at: `${d}T03:00:00.000+08:00`, immediate: false }));

describe('R-S3 auto-renewal schedule', () => {
  const expiresAt = at('2026-03-20T15:00');

  it('expiry 2026-03-20 15:00 → 8 attempts at 03:00 on the 13th..20th (SPEC example)', () => {
    expect(DEDUCTION_HOUR).toBe(3);
    expect(isoAttempts({ expiresAt, now: at('2026-02-20T15:00'), offsetMinutes: CST })).toEqual(
      scheduled('2026-03-13', '2026-03-14', '2026-03-15', '2026-03-16', '2026-03-17', '2026-03-18', '2026-03-19', '2026-03-20'),
    );
  });

  it('drops attempts already passed; an attempt exactly at now is kept', () => {
    expect(isoAttempts({ expiresAt, now: at('2026-03-16T03:00:00.001'), offsetMinutes: CST })).toEqual(
      scheduled('2026-03-17', '2026-03-18', '2026-03-19', '2026-03-20'),
    );
    expect(isoAttempts({ expiresAt, now: at('2026-03-16T03:00'), offsetMinutes: CST })).toEqual(
      scheduled('2026-03-16', '2026-03-17', '2026-03-18', '2026-03-19', '2026-03-20'),
    );
    expect(isoAttempts({ expiresAt, now: at('2026-03-20T14:59'), offsetMinutes: CST })).toEqual([{ at: '2026-03-20T14:59:00.000+08:00', immediate: true }]);
  });

  it('late switch-on: next 03:00 before expiry', () => {
    expect(isoAttempts({ expiresAt, now: at('2026-03-19T10:00'), offsetMinutes: CST })).toEqual(scheduled('2026-03-20'));
  });

  it('late switch-on at 01:00 for expiry at 02:30 the same day → immediate attempt (SPEC example)', () => {
    const now = at('2026-03-20T01:00');
    expect(deductionAttempts({ expiresAt: at('2026-03-20T02:30'), now, offsetMinutes: CST })).toEqual([{ at: now, immediate: true }]);
  });

  it('late switch-on at 10:00 for expiry at 02:00 the next day → immediate attempt (SPEC example)', () => {
    const now = at('2026-03-20T10:00');
    expect(deductionAttempts({ expiresAt: at('2026-03-21T02:00'), now, offsetMinutes: CST })).toEqual([{ at: now, immediate: true }]);
  });

  it('nothing once expired', () => {
    expect(deductionAttempts({ expiresAt, now: expiresAt, offsetMinutes: CST })).toEqual([]);
    expect(deductionAttempts({ expiresAt, now: at('2026-03-21T00:00'), offsetMinutes: CST })).toEqual([]);
  });

  it('expiry exactly at 03:00: that day\'s 03:00 is not before expiry, so it is excluded', () => {
    expect(isoAttempts({ expiresAt: at('2026-03-20T03:00'), now: at('2026-03-01T00:00'), offsetMinutes: CST })).toEqual(
      scheduled('2026-03-13', '2026-03-14', '2026-03-15', '2026-03-16', '2026-03-17', '2026-03-18', '2026-03-19'),
    );
  });

  it('expiry just after midnight: the last attempt is the day before', () => {
    const attempts = deductionAttempts({ expiresAt: at('2026-03-20T00:30'), now: at('2026-03-01T00:00'), offsetMinutes: CST });
    expect(attempts.map((a) => iso(a.at))).toEqual(
      ['13', '14', '15', '16', '17', '18', '19'].map((d) => `2026-03-${d}T03:00:00.000+08:00`),
    );
  });

  it('starts on the chosen deduction date and retries daily until expiry', () => {
    expect(isoAttempts({ expiresAt, now: at('2026-03-01T00:00'), offsetMinutes: CST, deductionDate: '2026-03-10' })).toEqual(
      scheduled('2026-03-10', '2026-03-11', '2026-03-12', '2026-03-13', '2026-03-14', '2026-03-15', '2026-03-16', '2026-03-17', '2026-03-18', '2026-03-19', '2026-03-20'),
    );
    expect(isoAttempts({ expiresAt, now: at('2026-03-01T00:00'), offsetMinutes: CST, deductionDate: '2026-03-18' })).toEqual(
      scheduled('2026-03-18', '2026-03-19', '2026-03-20'),
    );
    expect(isoAttempts({ expiresAt, now: at('2026-03-01T00:00'), offsetMinutes: CST, deductionDate: null })).toHaveLength(8);
  });

  it('ignores a stored deduction date that is not before expiry or not a date (default schedule)', () => {
    const base = { expiresAt, now: at('2026-03-01T00:00'), offsetMinutes: CST };
    expect(deductionAttempts({ ...base, deductionDate: '2026-03-21' })).toEqual(deductionAttempts(base));
    expect(deductionAttempts({ ...base, deductionDate: '2026-02-30' })).toEqual(deductionAttempts(base));
  });

  it('uses the billing offset for "03:00"', () => {
    const utc = deductionAttempts({ expiresAt: at('2026-03-20T15:00Z'), now: at('2026-03-01T00:00Z'), offsetMinutes: 0 });
    expect(utc.map((a) => toIsoLocal(a.at, 0))[0]).toBe('2026-03-13T03:00:00.000+00:00');
    expect(utc).toHaveLength(8);
  });

  it('property: attempts are strictly increasing, at 03:00 local, before expiry and not before now', () => {
    const offsets = fc.constantFrom(480, 0, -330, 345);
    fc.assert(
      fc.property(
        fc.integer({ min: at('2020-01-01T00:00Z'), max: at('2040-01-01T00:00Z') }),
        fc.integer({ min: -40 * 86_400_000, max: 2 * 86_400_000 }),
        offsets,
        fc.option(fc.integer({ min: 0, max: 30 }), { nil: null }),
        (expiresAt, nowFromExpiry, offset, daysBefore) => {
          const now = expiresAt + nowFromExpiry;
          const deductionDate = daysBefore === null ? null : toIsoLocal(expiresAt - daysBefore * 86_400_000, offset).slice(0, 10);
          const attempts = deductionAttempts({ expiresAt, now, offsetMinutes: offset, deductionDate });
          if (now >= expiresAt) return expect(attempts).toEqual([]);
          expect(attempts.length).toBeGreaterThan(0);
          if (attempts[0].immediate) return expect(attempts).toEqual([{ at: now, immediate: true }]);
          attempts.forEach((a, i) => {
            expect(a.immediate).toBe(false);
            expect(toIsoLocal(a.at, offset).slice(10, 23)).toBe('T03:00:00.000');
            expect(a.at).toBeLessThan(expiresAt);
            expect(a.at).toBeGreaterThanOrEqual(now);
            if (i > 0) expect(a.at - attempts[i - 1].at).toBe(86_400_000);
          });
          // retries run while 03:00 is before expiry: the next 03:00 would not be
          expect(attempts[attempts.length - 1].at + 86_400_000).toBeGreaterThanOrEqual(expiresAt);
          if (daysBefore === null) expect(attempts.length).toBeLessThanOrEqual(8);
        },
      ),
    );
  });
});

describe('R-S3 deduction date validation', () => {
  const expiresAt = at('2026-03-20T15:00');
  const now = at('2026-03-01T12:00');

  it('accepts a real date whose 03:00 is ahead and before expiry', () => {
    expect(validateDeductionDate('2026-03-18', expiresAt, now, CST)).toBeNull();
    expect(validateDeductionDate('2026-03-20', expiresAt, now, CST)).toBeNull(); // 03:00 < 15:00
    expect(validateDeductionDate('2026-03-02', expiresAt, now, CST)).toBeNull();
  });

  it('refuses what is not a real date', () => {
    expect(validateDeductionDate('2026-02-30', expiresAt, now, CST)).toMatch(/real date/);
    expect(validateDeductionDate('18/03/2026', expiresAt, now, CST)).toMatch(/real date/);
  });

  it('refuses a date on or after expiry', () => {
    expect(validateDeductionDate('2026-03-21', expiresAt, now, CST)).toMatch(/before the expiry/);
    expect(validateDeductionDate('2026-03-20', at('2026-03-20T03:00'), now, CST)).toMatch(/before the expiry/);
  });

  it('refuses a date whose 03:00 has passed', () => {
    expect(validateDeductionDate('2026-03-01', expiresAt, now, CST)).toMatch(/past/);
    expect(validateDeductionDate('2026-02-27', expiresAt, now, CST)).toMatch(/past/);
  });
});

describe('R-A4 arrears periods per customer level', () => {
  it('defaults: standard 15/15, key account 30/30; isolation 30 days', () => {
    expect(DEFAULT_ARREARS).toEqual({ standard: { graceDays: 15, retentionDays: 15 }, key_account: { graceDays: 30, retentionDays: 30 } });
    expect(ISOLATION_DAYS).toBe(30);
  });
});

describe('R-S6..S8 protection by status', () => {
  it.each<[SubscriptionStatus, boolean]>([
    ['trial', true],
    ['active', true],
    ['grace', true],
    ['frozen', false],
    ['isolated', false],
    ['released', false],
    ['unsubscribed', false],
  ])('%s protected: %p', (status, expected) => {
    expect(isProtected(status)).toBe(expected);
  });

  it('R-S9 an unrenewed subscription goes to grace or isolation by policy', () => {
    expect(statusAtExpiry('grace_then_freeze')).toBe('grace');
    expect(statusAtExpiry('isolate')).toBe('isolated');
  });
});

describe('R-S3/R-S6..S9 lifecycle forecast (API.md forecast)', () => {
  const expiresAt = at('2026-03-20T15:00');
  const base: LifecycleForecastInput = {
    status: 'active',
    expiresAt,
    now: at('2026-03-01T00:00'),
    offsetMinutes: CST,
    autoRenew: true,
    periods: DEFAULT_ARREARS.standard,
    policy: 'grace_then_freeze',
  };
  const isoForecast = (p: LifecycleForecastInput) => {
    const f = lifecycleForecast(p);
    const o = (ms: number | null) => (ms === null ? null : iso(ms));
    return { next: o(f.nextDeductionAt), attempts: f.deductionAttempts.length, grace: o(f.graceEndsAt), frozen: o(f.frozenEndsAt) };
  };

  it('SPEC example: 8 attempts, then grace from 15:00 on the 20th for 15 days, frozen 15 more', () => {
    expect(isoForecast(base)).toEqual({
      next: '2026-03-13T03:00:00.000+08:00',
      attempts: 8,
      grace: '2026-04-04T15:00:00.000+08:00',
      frozen: '2026-04-19T15:00:00.000+08:00',
    });
  });

  it('key accounts get 30 + 30 days', () => {
    expect(isoForecast({ ...base, periods: DEFAULT_ARREARS.key_account })).toMatchObject({
      grace: '2026-04-19T15:00:00.000+08:00',
      frozen: '2026-05-19T15:00:00.000+08:00',
    });
  });

  it('without auto-renew there are no attempts, the arrears dates still stand', () => {
    expect(isoForecast({ ...base, autoRenew: false })).toEqual({
      next: null,
      attempts: 0,
      grace: '2026-04-04T15:00:00.000+08:00',
      frozen: '2026-04-19T15:00:00.000+08:00',
    });
  });

  it('a trial is forecast like an active term (R-S2)', () => {
    expect(isoForecast({ ...base, status: 'trial' })).toEqual(isoForecast(base));
  });

  it('in grace or frozen: no scheduled attempts (a top-up triggers one), recorded dates are kept', () => {
    const recorded = { graceEndsAt: at('2026-04-05T00:00'), frozenEndsAt: at('2026-04-20T00:00') };
    for (const status of ['grace', 'frozen'] as const) {
      expect(isoForecast({ ...base, status, now: at('2026-03-25T00:00'), ...recorded })).toEqual({
        next: null,
        attempts: 0,
        grace: '2026-04-05T00:00:00.000+08:00',
        frozen: '2026-04-20T00:00:00.000+08:00',
      });
    }
    expect(isoForecast({ ...base, status: 'grace', now: at('2026-03-25T00:00') })).toMatchObject({ grace: '2026-04-04T15:00:00.000+08:00' });
  });

  it('R-S9 isolate: no grace (graceEndsAt = expiry), isolated 30 days from expiry', () => {
    expect(isoForecast({ ...base, policy: 'isolate' })).toEqual({
      next: '2026-03-13T03:00:00.000+08:00',
      attempts: 8,
      grace: '2026-03-20T15:00:00.000+08:00',
      frozen: '2026-04-19T15:00:00.000+08:00',
    });
    expect(isoForecast({ ...base, policy: 'isolate', status: 'isolated', frozenEndsAt: at('2026-04-20T00:00') })).toMatchObject({
      attempts: 0,
      frozen: '2026-04-20T00:00:00.000+08:00',
    });
  });

  it('released and unsubscribed have nothing ahead', () => {
    for (const status of ['released', 'unsubscribed'] as const) {
      expect(lifecycleForecast({ ...base, status })).toEqual({ nextDeductionAt: null, deductionAttempts: [], graceEndsAt: null, frozenEndsAt: null });
    }
  });
});
