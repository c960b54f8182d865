import { createPaymentEngine, PaymentEngine } from '../../payments/payment-engine';
import { createSandboxGateway } from '../../payments/sandbox-gateway';
import { createUsageActivities } from '../../activities/usage/usage.activities';
import { disableProtection, enableProtection, insertUsageRecords, withRemaining } from '../../store/usage.store';
import { quotaHourMetric } from '../../billing/usage';
import { defaultCatalog } from '../../catalog/catalog';
import type { Db } from '../../common/db';
import { at } from '../billing/helpers';
import { createTestDb } from '../support/db';
import { anAccountRow, aServer, CST, HOUR, scans, setPower } from './support';

// Settlement of one hour (R-U2) against real Postgres, driven at chosen instants (the workflow
// tests drive the same activities through time-skipping Temporal).
describe('hourly settlement (R-U1, R-U2, R-U3, R-U4, R-C4)', () => {
  let t: Awaited<ReturnType<typeof createTestDb>>;
  let db: Db;
  let payments: PaymentEngine;
  let acts: ReturnType<typeof createUsageActivities>;

  beforeAll(async () => {
    t = await createTestDb();
    db = t.db;
    payments = createPaymentEngine({ db, gateway: createSandboxGateway() });
    acts = createUsageActivities({ db, payments, catalog: defaultCatalog });
  });
  afterAll(async () => { await t?.drop(); });

  async function account(cash?: string): Promise<string> {
    const id = await anAccountRow(db);
    if (cash) await payments.topUp({ accountId: id, amount: cash, idempotencyKey: `seed:${id}` });
    return id;
  }
  const settle = (accountId: string, hourStart: number) =>
    acts.settleUsageHour({ accountId, hourStart, offsetMinutes: CST, idempotencyKey: `account:${accountId}:hour:${hourStart}`, collect: true, at: hourStart + HOUR + 60_000 });
  const cash = async (accountId: string) => (await payments.getBalances(accountId)).cash;
  const lines = async (billId: string | null) => db('bill_lines').where({ bill_id: billId }).orderBy('line_no');
  async function buy(accountId: string, p: { content: string; count?: number; months: number; reset?: 'none' | 'monthly' | 'yearly'; at: number }) {
    const r = await acts.buyUsagePackages({
      accountId, purchaseId: `upp_${p.months}_${p.at}_${Math.random().toString(36).slice(2)}`, metric: 'image_scans', content: p.content, count: p.count ?? 1,
      term: { unit: 'month', count: p.months }, reset: p.reset ?? 'none', offsetMinutes: CST, at: p.at,
    });
    expect(r.ok).toBe(true);
    return r.packageIds;
  }

  it('R-U1: enabled 09:59:30, disabled 10:45:46 → 30 s and 2746 s at enterprise 0.040000/h; bills 0.00 and 0.03', async () => {
    const acc = await account('10.00');
    const srv = await aServer(db, acc, { at: at('2026-03-20T08:00') });
    const p = await enableProtection(db, { accountId: acc, serverId: srv, product: 'host-security', edition: 'enterprise', quantity: 1, hourlyPrice: '0.040000', at: new Date(at('2026-03-20T09:59:30')) });
    await disableProtection(db, p.id, new Date(at('2026-03-20T10:45:46')));

    const nine = await settle(acc, at('2026-03-20T09:00'));
    const ten = await settle(acc, at('2026-03-20T10:00'));
    expect(nine).toMatchObject({ total: '0.00', status: 'paid', orderId: null }); // nothing to collect
    expect(ten).toMatchObject({ total: '0.03', status: 'paid' });
    expect((await lines(nine.billId)).map((l) => [l.seconds, l.unit_price, l.quantity, l.amount])).toEqual([[30, '0.040000', '1.000000', '0.000333333333']]);
    expect((await lines(ten.billId)).map((l) => [l.seconds, l.unit_price, l.quantity, l.amount])).toEqual([[2746, '0.040000', '1.000000', '0.030511111111']]);
    expect(await cash(acc)).toBe('9.97');
    expect((await settle(acc, at('2026-03-20T11:00'))).billId).toBeNull();
  });

  it('R-U1: a stop between enable and disable is not billed', async () => {
    const acc = await account('10.00');
    const srv = await aServer(db, acc, { at: at('2026-03-20T08:00') });
    const p = await enableProtection(db, { accountId: acc, serverId: srv, product: 'host-security', edition: 'premium', quantity: 2, hourlyPrice: '0.060000', at: new Date(at('2026-03-20T10:10')) });
    await setPower(db, srv, 'stopped', at('2026-03-20T10:20'));
    await setPower(db, srv, 'running', at('2026-03-20T10:40'));
    await disableProtection(db, p.id, new Date(at('2026-03-20T10:50')));
    const r = await settle(acc, at('2026-03-20T10:00'));
    // 10:10–10:20 and 10:40–10:50: 1200 s × 2 quotas × 0.06/3600 = 0.04
    expect((await lines(r.billId)).map((l) => [l.seconds, l.quantity])).toEqual([[1200, '2.000000']]);
    expect(r.total).toBe('0.04');
  });

  it('R-U2: settling an hour twice never bills twice', async () => {
    const acc = await account('10.00');
    await scans(db, { accountId: acc, count: 7, at: at('2026-03-21T10:30') });
    const first = await settle(acc, at('2026-03-21T10:00'));
    const again = await settle(acc, at('2026-03-21T10:00'));
    expect(first).toMatchObject({ total: '0.70', status: 'paid' });
    expect(again).toEqual(first);
    expect(await cash(acc)).toBe('9.30');
    expect(await db('orders').where({ account_id: acc, kind: 'usage_settlement' })).toHaveLength(1);
  });

  it('R-U3: a re-sent batch changes no total; the same id with other content is refused', async () => {
    const acc = await account('10.00');
    const batch = [1, 2, 3].map((n) => ({ id: `r-${n}`, accountId: acc, resourceId: `img_${n}`, metric: 'image_scans', quantity: String(n), periodStart: at('2026-03-22T10:00'), periodEnd: at('2026-03-22T10:05') }));
    const now = at('2026-03-22T10:06');
    expect((await insertUsageRecords(db, batch, { now, offsetMinutes: CST })).map((o) => o.status)).toEqual(['accepted', 'accepted', 'accepted']);
    expect((await insertUsageRecords(db, batch, { now, offsetMinutes: CST })).map((o) => o.status)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    const changed = [{ ...batch[0], quantity: '1.000' }, { ...batch[1], quantity: '5' }, batch[2], batch[2]];
    expect(await insertUsageRecords(db, changed, { now, offsetMinutes: CST })).toEqual([
      { status: 'duplicate' }, // "1.000" is the same quantity as "1"
      { status: 'rejected', code: 'USAGE.ID_CONFLICT', message: 'record id r-2 was already used for a different record' },
      { status: 'duplicate' },
      { status: 'duplicate' },
    ]);
    // New and already-stored records in one batch: the fast plain insert fails on the stored
    // ones and the whole batch is stored again on the careful path — the new one once.
    const mixed = [batch[0], { ...batch[0], id: 'r-4', resourceId: 'img_1', quantity: '0' }];
    expect((await insertUsageRecords(db, mixed, { now, offsetMinutes: CST })).map((o) => o.status)).toEqual(['duplicate', 'accepted']);
    expect(Number((await db('usage_records').where({ account_id: acc }).count({ n: '*' }))[0].n)).toBe(4);
    const r = await settle(acc, at('2026-03-22T10:00'));
    expect(r.total).toBe('0.60'); // 6 scans × 0.10, once
    expect((await lines(r.billId)).map((l) => [l.resource_id, l.quantity, l.amount])).toEqual([
      ['img_1', '1.000000', '0.100000000000'], ['img_2', '2.000000', '0.200000000000'], ['img_3', '3.000000', '0.300000000000'],
    ]);
  });

  it('R-U3: a batch of 1000 stored in parallel chunks answers each record as a single transaction would, and bills each once', async () => {
    const acc = await account('1000.00');
    const rec = (n: number, quantity = '1') => ({ id: `big-${n}`, accountId: acc, resourceId: `img_${n % 7}`, metric: 'image_scans', quantity, periodStart: at('2026-03-25T10:00'), periodEnd: at('2026-03-25T10:05') });
    const now = at('2026-03-25T10:06');
    // Stored before: every third record of the batch, so each chunk holds new and stored ones.
    const before = Array.from({ length: 1000 }, (_, n) => n).filter((n) => n % 3 === 0).map((n) => rec(n));
    expect(new Set((await insertUsageRecords(db, before, { now, offsetMinutes: CST })).map((o) => o.status))).toEqual(new Set(['accepted']));
    const batch = [...Array.from({ length: 1000 }, (_, n) => (n === 999 ? rec(n, '2') : rec(n))), rec(1), rec(600, '3')];
    const out = await insertUsageRecords(db, batch, { now, offsetMinutes: CST });
    expect(out).toHaveLength(1002);
    out.slice(0, 1000).forEach((o, n) => {
      if (n === 999) expect(o).toEqual({ status: 'rejected', code: 'USAGE.ID_CONFLICT', message: 'record id big-999 was already used for a different record' });
      else expect(o).toEqual({ status: n % 3 === 0 ? 'duplicate' : 'accepted' });
    });
    expect(out.slice(1000)).toEqual([{ status: 'duplicate' }, { status: 'rejected', code: 'USAGE.ID_CONFLICT', message: 'record id big-600 was already used for a different record' }]); // copies later in the batch
    expect(Number((await db('usage_records').where({ account_id: acc }).count({ n: '*' }))[0].n)).toBe(1000);
    const again = await insertUsageRecords(db, batch.slice(0, 1000), { now, offsetMinutes: CST }); // re-sent
    expect(again.filter((o) => o.status === 'accepted')).toHaveLength(0);
    expect((await settle(acc, at('2026-03-25T10:00'))).total).toBe('100.00'); // 1000 scans × 0.10, once each
  });

  it('R-U3: a record arriving after its hour was settled is billed in the next settlement', async () => {
    const acc = await account('10.00');
    await scans(db, { accountId: acc, count: 1, at: at('2026-03-23T10:10') });
    const ten = await settle(acc, at('2026-03-23T10:00'));
    expect(ten.total).toBe('0.10');
    // 1 h 29 min late, after the 10:00 hour was settled: it goes to the 11:00 settlement. (The
    // account rests after 10:00, so hours whose settlement time has passed count as settled: at
    // 12:29 it would go to the 12:00 one, as if the 11:00 settlement had run.)
    expect(ten.resting).toBe(true);
    const late = await scans(db, { accountId: acc, count: 4, at: at('2026-03-23T10:30'), now: at('2026-03-23T11:59') });
    expect(late.outcome).toEqual({ status: 'accepted' });
    const stored = await db('usage_records').where({ account_id: acc, id: late.record.id }).first();
    expect(stored.settlement_hour.getTime()).toBe(at('2026-03-23T11:00'));
    expect(await settle(acc, at('2026-03-23T10:00'))).toEqual({ ...ten, resting: false }); // unchanged (a record now waits)
    const eleven = await settle(acc, at('2026-03-23T11:00'));
    expect(eleven.total).toBe('0.40');
    expect(await cash(acc)).toBe('9.50');
  });

  it('R-U2 at rest: an idle account rests; the next billable fact wakes it once, and settlement resumes at the fact\'s hour', async () => {
    const acc = await account('10.00');
    const srv = await aServer(db, acc, { at: at('2026-03-26T08:00') });
    const p = await enableProtection(db, { accountId: acc, serverId: srv, product: 'host-security', edition: 'enterprise', quantity: 1, hourlyPrice: '0.040000', at: new Date(at('2026-03-26T09:10')) });
    expect((await settle(acc, at('2026-03-26T08:00'))).resting).toBe(false); // a period is open
    await disableProtection(db, p.id, new Date(at('2026-03-26T09:40')));
    const nine = await settle(acc, at('2026-03-26T09:00'));
    expect(nine).toMatchObject({ total: '0.02', resting: true }); // 1800 s × 0.04/3600
    expect((await db('usage_accounts').where({ account_id: acc }).first()).dormant_since.getTime()).toBe(at('2026-03-26T10:00'));

    // At 14:21 a record for 14:20 arrives: the workflow is woken once, before it commits.
    const woken: string[][] = [];
    const wake = async (ids: string[]) => { woken.push(ids); };
    const rec = (id: string, t: number) => ({ id, accountId: acc, resourceId: 'img_a', metric: 'image_scans', quantity: '1', periodStart: t, periodEnd: t });
    await insertUsageRecords(db, [rec('rest-1', at('2026-03-26T14:20'))], { now: at('2026-03-26T14:21'), offsetMinutes: CST, wake });
    await insertUsageRecords(db, [rec('rest-2', at('2026-03-26T14:21'))], { now: at('2026-03-26T14:22'), offsetMinutes: CST, wake });
    expect(woken).toEqual([[acc]]);
    // A record 2 h late for an hour rested through goes where hourly settlement would have put
    // it, also before the woken workflow has resumed.
    await insertUsageRecords(db, [rec('rest-3', at('2026-03-26T12:25'))], { now: at('2026-03-26T14:22'), offsetMinutes: CST, wake });
    expect((await db('usage_records').where({ account_id: acc }).orderBy('id')).map((r) => [r.id, r.settlement_hour.getTime()])).toEqual([
      ['rest-1', at('2026-03-26T14:00')], ['rest-2', at('2026-03-26T14:00')], ['rest-3', at('2026-03-26T14:00')],
    ]);
    // The woken workflow resumes at 14:00: the empty hours 10:00–13:00 are not settled one by one.
    expect(await acts.resumeUsageSettlement({ accountId: acc, at: at('2026-03-26T14:22'), offsetMinutes: CST })).toEqual({ nextHour: at('2026-03-26T14:00') });
    const two = await settle(acc, at('2026-03-26T14:00'));
    expect(two).toMatchObject({ total: '0.30', status: 'paid', resting: true });
    expect(await db('bills').where({ account_id: acc }).orderBy('hour_start').pluck('total')).toEqual(['0.02', '0.30']);
    expect(await cash(acc)).toBe('9.68');
    // A wake with nothing to settle resumes where hourly settlement would be (at 18:30: 18:00).
    expect(await acts.resumeUsageSettlement({ accountId: acc, at: at('2026-03-26T18:30'), offsetMinutes: CST })).toEqual({ nextHour: at('2026-03-26T18:00') });
  });

  it('R-U4: three packages with different expiries are drawn in expiry order; only the excess is charged', async () => {
    const acc = await account('100.00');
    const bought = at('2026-03-24T09:00');
    const [three] = await buy(acc, { content: '10', months: 3, at: bought });
    const [one] = await buy(acc, { content: '10', months: 1, at: bought + 1000 });
    const [two] = await buy(acc, { content: '10', months: 2, at: bought + 2000 });
    expect(await cash(acc)).toBe('97.00'); // 3 × 10 scans × 0.10 (R-U4 price rule)

    await scans(db, { accountId: acc, resourceId: 'img_a', count: 25, at: at('2026-03-24T10:30') });
    const first = await settle(acc, at('2026-03-24T10:00'));
    expect(first).toMatchObject({ total: '0.00', status: 'paid' });
    const draws = await db('usage_package_draws').where({ bill_id: first.billId }).orderBy('id');
    expect(draws.map((d) => [d.package_id, d.amount])).toEqual([[one, '10.000000'], [two, '10.000000'], [three, '5.000000']]);

    await scans(db, { accountId: acc, resourceId: 'img_a', count: 6, at: at('2026-03-24T11:30') });
    await scans(db, { accountId: acc, resourceId: 'img_b', count: 4, at: at('2026-03-24T11:40') });
    const second = await settle(acc, at('2026-03-24T11:00'));
    // 10 scans: 5 left in the 3-month package, 5 × 0.10 billed.
    expect(second).toMatchObject({ total: '0.50', status: 'paid' });
    expect((await lines(second.billId)).map((l) => [l.resource_id, l.quantity, l.covered, l.billed_quantity, l.amount])).toEqual([
      ['img_a', '6.000000', '5.000000', '1.000000', '0.100000000000'],
      ['img_b', '4.000000', '0.000000', '4.000000', '0.400000000000'],
    ]);
    expect(await cash(acc)).toBe('96.50');
    const left = await withRemaining(db, await db('usage_packages').where({ account_id: acc }).orderBy('expires_at'), at('2026-03-24T12:00'), CST);
    expect(left.map((p) => [p.id, p.remaining.toString()])).toEqual([[one, '0'], [two, '0'], [three, '0']]);
  });

  it('R-U4: a monthly package is available again at the month boundary', async () => {
    const acc = await account('100.00');
    const bought = at('2026-01-15T10:20');
    const [pkg] = await buy(acc, { content: '10', months: 3, reset: 'monthly', at: bought });
    expect(await cash(acc)).toBe('97.00'); // 10 scans × 0.10 × 3 periods

    await scans(db, { accountId: acc, count: 10, at: at('2026-02-10T10:30') });
    expect((await settle(acc, at('2026-02-10T10:00'))).total).toBe('0.00');
    await scans(db, { accountId: acc, count: 3, at: at('2026-02-11T10:30') });
    expect((await settle(acc, at('2026-02-11T10:00'))).total).toBe('0.30'); // used up this month: excess
    // The hour starting 10:00 on Feb 15 began before the 10:20 anniversary: still the first month.
    await scans(db, { accountId: acc, count: 1, at: at('2026-02-15T10:30') });
    expect((await settle(acc, at('2026-02-15T10:00'))).total).toBe('0.10');
    await scans(db, { accountId: acc, count: 4, at: at('2026-02-15T11:05') });
    expect((await settle(acc, at('2026-02-15T11:00'))).total).toBe('0.00'); // reset: drawn again
    const [left] = await withRemaining(db, await db('usage_packages').where({ id: pkg }), at('2026-02-16T00:00'), CST);
    expect(left.remaining.toString()).toBe('6');
    expect(await cash(acc)).toBe('96.60');
  });

  it('R-U4 quota-hours: 1 enterprise quota-hour covers the R-U1 example (30 s + 2746 s); the next hour bills only what exceeds the 824 s left', async () => {
    const acc = await account('10.00');
    const metric = quotaHourMetric('host-security', 'enterprise');
    const bought = await acts.buyUsagePackages({
      accountId: acc, purchaseId: `upp_qh_${acc}`, metric, content: '1', count: 1, term: { unit: 'month', count: 1 }, reset: 'none', offsetMinutes: CST, at: at('2026-03-20T08:00'),
    });
    expect(bought).toMatchObject({ ok: true, amount: '0.04' }); // 1 quota-hour at enterprise's 0.040000/h
    const [pkg] = bought.packageIds;
    const srv = await aServer(db, acc, { at: at('2026-03-20T08:00') });
    const first = await enableProtection(db, { accountId: acc, serverId: srv, product: 'host-security', edition: 'enterprise', quantity: 1, hourlyPrice: '0.040000', at: new Date(at('2026-03-20T09:59:30')) });
    await disableProtection(db, first.id, new Date(at('2026-03-20T10:45:46')));

    const nine = await settle(acc, at('2026-03-20T09:00'));
    const ten = await settle(acc, at('2026-03-20T10:00'));
    expect([nine.total, ten.total]).toEqual(['0.00', '0.00']);
    expect((await lines(ten.billId)).map((l) => [l.seconds, l.covered, l.amount])).toEqual([[2746, '2746.000000', '0.000000000000']]);
    const drawn = await db('usage_package_draws').where({ package_id: pkg }).orderBy('at');
    expect(drawn.map((d) => d.amount)).toEqual(['30.000000', '2746.000000']); // quota-seconds
    const [afterTen] = await withRemaining(db, await db('usage_packages').where({ id: pkg }), at('2026-03-20T11:00'), CST);
    expect(afterTen.remaining.toString()).toBe('824');

    const second = await enableProtection(db, { accountId: acc, serverId: srv, product: 'host-security', edition: 'enterprise', quantity: 1, hourlyPrice: '0.040000', at: new Date(at('2026-03-21T10:00')) });
    await disableProtection(db, second.id, new Date(at('2026-03-21T11:00')));
    const next = await settle(acc, at('2026-03-21T10:00'));
    expect(next.total).toBe('0.03'); // (3600 − 824) s × 0.04 / 3600 = 0.030844…
    expect((await lines(next.billId)).map((l) => [l.seconds, l.covered, l.amount])).toEqual([[3600, '824.000000', '0.030844444444']]);
    expect(await cash(acc)).toBe('9.93'); // 10.00 − 0.04 package − 0.03
  });

  it('R-U5: a freeze stops billing mid-hour, a restore bills again, a release disables', async () => {
    const acc = await account('10.00');
    const srv = await aServer(db, acc, { at: at('2026-03-25T08:00') });
    await enableProtection(db, { accountId: acc, serverId: srv, product: 'host-security', edition: 'enterprise', quantity: 1, hourlyPrice: '0.040000', at: new Date(at('2026-03-25T10:00')) });
    await acts.freezePayPerUse({ accountId: acc, at: at('2026-03-25T10:30') });
    await acts.restorePayPerUse({ accountId: acc, at: at('2026-03-25T12:15') });
    await acts.restorePayPerUse({ accountId: acc, at: at('2026-03-25T12:20') }); // retried: no second period
    await acts.releasePayPerUse({ accountId: acc, at: at('2026-03-25T13:00') });
    const secondsOf = async (h: string) => (await lines((await settle(acc, at(h))).billId)).map((l) => l.seconds);
    expect(await secondsOf('2026-03-25T10:00')).toEqual([1800]);
    expect(await secondsOf('2026-03-25T11:00')).toEqual([]);
    expect(await secondsOf('2026-03-25T12:00')).toEqual([2700]);
    expect(await secondsOf('2026-03-25T13:00')).toEqual([]);
    expect(await db('pay_per_use_protections').where({ account_id: acc }).pluck('status')).toEqual(['released']);
  });

  it('R-U2 / R-U5: a failed collection leaves the bill failed; in arrears bills are unpaid; the whole outstanding amount is collected in one charge', async () => {
    const acc = await account();
    await scans(db, { accountId: acc, count: 3, at: at('2026-03-26T10:30') });
    await scans(db, { accountId: acc, count: 2, at: at('2026-03-26T11:30') });
    const a = await settle(acc, at('2026-03-26T10:00'));
    expect(a).toMatchObject({ status: 'failed', code: 'PAYMENT.INSUFFICIENT_FUNDS' });
    // In arrears the next hour is billed but not charged on its own (R-U5).
    const eleven = at('2026-03-26T11:00');
    const b = await acts.settleUsageHour({ accountId: acc, hourStart: eleven, offsetMinutes: CST, idempotencyKey: `account:${acc}:hour:${eleven}`, collect: false, at: eleven + HOUR });
    expect(b).toMatchObject({ status: 'unpaid', total: '0.20', orderId: null });
    expect(await db('orders').where({ account_id: acc })).toHaveLength(1); // only the failed 10:00 charge
    const input = { accountId: acc, billIds: [a.billId!, b.billId!], idempotencyKey: `account:${acc}:arrears:1`, at: at('2026-03-26T12:30') };
    expect(await acts.collectOutstandingBills(input)).toMatchObject({ status: 'failed', amount: '0.50' });
    await payments.topUp({ accountId: acc, amount: '0.50', idempotencyKey: `t:${acc}` });
    const paid = await acts.collectOutstandingBills({ ...input, idempotencyKey: `account:${acc}:arrears:2` });
    expect(paid).toMatchObject({ status: 'paid', amount: '0.50' });
    expect(await acts.collectOutstandingBills({ ...input, idempotencyKey: `account:${acc}:arrears:2` })).toMatchObject({ status: 'paid', amount: '0.00' });
    expect(await db('bills').where({ account_id: acc }).orderBy('hour_start').pluck('status')).toEqual(['paid', 'paid']);
    expect(await cash(acc)).toBe('0.00');
  });

  it('R-C4 / R-U3: Postgres aggregates the records; one line per resource and metric', async () => {
    const acc = await account('1000.00');
    const records = Array.from({ length: 3000 }, (_, i) => ({ id: `bulk-${i}`, accountId: acc, resourceId: `img_${i % 3}`, metric: 'image_scans', quantity: '1', periodStart: at('2026-03-27T10:00') + i, periodEnd: at('2026-03-27T10:00') + i }));
    const out = await insertUsageRecords(db, records, { now: at('2026-03-27T10:30'), offsetMinutes: CST });
    expect(out.every((o) => o.status === 'accepted')).toBe(true);
    const r = await settle(acc, at('2026-03-27T10:00'));
    expect(r.total).toBe('300.00');
    expect((await lines(r.billId)).map((l) => [l.resource_id, l.quantity])).toEqual([['img_0', '1000.000000'], ['img_1', '1000.000000'], ['img_2', '1000.000000']]);
  });
});
