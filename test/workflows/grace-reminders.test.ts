import { graceReminderInstants, nextStep } from '../../workflows/subscription.state';

// R-S6 "reminders are sent" during grace (issue #15): a week apart, and the day before it ends.
const DAY = 86_400_000;

describe('R-S6 grace reminders', () => {
  it('standard (15 days): day 7 and day 14; key account (30 days): days 7, 14, 21, 28 and 29', () => {
    expect(graceReminderInstants(0, 15 * DAY).map((t) => t / DAY)).toEqual([7, 14]);
    expect(graceReminderInstants(0, 30 * DAY).map((t) => t / DAY)).toEqual([7, 14, 21, 28, 29]);
    expect(graceReminderInstants(0, DAY)).toEqual([]);
  });

  it('a grace entered before the patch goes straight to freeze, as its history did', () => {
    const s = { status: 'grace', retryNow: false, expiresAt: 0, graceEndsAt: 15 * DAY } as never;
    expect(nextStep(s, 0)).toEqual({ kind: 'freeze', at: 15 * DAY });
    expect(nextStep({ ...(s as object), graceReminders: true, graceRemindersSent: 1 } as never, 0)).toEqual({ kind: 'grace_reminder', at: 14 * DAY });
    expect(nextStep({ ...(s as object), graceReminders: true, graceRemindersSent: 2 } as never, 0)).toEqual({ kind: 'freeze', at: 15 * DAY });
  });
});
