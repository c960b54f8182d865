import type { AccountState } from '../../workflows/account.messages';
import { recordAccountState } from '../../store/usage.store';
import { createTestDb } from '../support/db';

// The account workflow's read model (usage_accounts) under the same rule as a subscription's
// (issue #13, scenario 6): a workflow task lost with its worker may have written steps that its
// rerun writes again, later on the clock or in another order; the rerun's writes win, a write
// from an older task (an activity attempt that finished late) changes nothing.
describe('the pay-per-use read model follows the workflow task that completed', () => {
  let t: Awaited<ReturnType<typeof createTestDb>>;
  beforeAll(async () => { t = await createTestDb(); });
  afterAll(async () => { await t?.drop(); });

  const state = (seq: number, status: AccountState['arrears']['status'], since: number | null): AccountState => ({
    accountId: 'acc_ar1', settings: { offsetMinutes: 480, graceDays: 15, retentionDays: 15, policy: 'grace_then_freeze' } as AccountState['settings'],
    nextHour: 0, arrears: { status, since, graceEndsAt: since === null ? null : since + 15 * 86_400_000, frozenEndsAt: null, remindersSent: 0 },
    outstanding: [], collections: 0, topUpPending: false, seq,
  });
  const write = (s: AccountState, outstanding: string, task: number, run = 1_799_000_000_000) =>
    recordAccountState(t.db, { state: s, outstandingTotal: outstanding, event: 'settled', at: 1_800_000_000_000, notify: null, position: { run, task } });
  const row = () => t.db('usage_accounts').where({ account_id: 'acc_ar1' }).first();

  it('a rerun task replaces the lost task\'s step of the same seq, and of a higher one; an older task does not', async () => {
    await t.db('accounts').insert({ id: 'acc_ar1', name: 'ar' });
    await write(state(1, 'none', null), '0.00', 5);
    // the lost task (history length 9) went to seq 3 …
    await write(state(2, 'grace', 1_800_000_000_000), '4.00', 9);
    await write(state(3, 'grace', 1_800_000_000_000), '6.00', 9);
    // … its rerun (history length 12) wrote seq 2 later on the clock, with what the workflow keeps
    await write(state(2, 'grace', 1_800_000_010_000), '5.00', 12);
    expect(await row()).toMatchObject({ seq: 2, outstanding: '5.00', arrears_status: 'grace' });
    expect(new Date((await row()).arrears_since).getTime()).toBe(1_800_000_010_000);
    // a late attempt from the task before changes nothing
    await write(state(1, 'none', null), '0.00', 5);
    expect(await row()).toMatchObject({ seq: 2, outstanding: '5.00' });
    // the next run (continue-as-new) starts its history again and still comes after
    await write(state(3, 'none', null), '0.00', 3, 1_799_000_000_001);
    expect(await row()).toMatchObject({ seq: 3, arrears_status: 'none', outstanding: '0.00' });
  });
});
