import type { Knex } from 'knex';
import { HOUR_MS, startOfLocalHour } from '../billing/calendar';
import { billableIntervals, billedSecondsInHour, Interval, PowerEvent, priceHour, ProtectionUsage, quotaHourMetric, restingWatermark } from '../billing/usage';
import type { Catalog } from '../catalog/catalog';
import { derivedId } from '../common/ids';
import { ensureUsageAccount, lockAccountUsage, newestBySeq, usablePackages } from './usage.store';

// R-U2: settling one clock hour of one account, in Postgres. The bill (and its lines and package
// draws) is written in one transaction under the account's exclusive usage lock, keyed by
// (account, hour), so settling an hour twice finds the first bill. Collecting it is a charge
// (payments/), which the settlement activity makes between these writes
// (activities/usage/settlement.activities.ts).

export interface SettleHourInput {
  accountId: string;
  hourStart: number;
  offsetMinutes: number;
  /** R-P5: `account:<id>:hour:<hourStart>`, computed by the workflow */
  idempotencyKey: string;
  /**
   * R-U5: false while the account is in arrears: the bill is owed (`unpaid`) and collected with
   * the whole outstanding amount, not charged on its own.
   */
  collect: boolean;
  /** the workflow's clock when settling (R-T3): the charge's instant */
  at: number;
}

export interface CollectOutcome {
  status: 'paid' | 'failed' | 'unpaid';
  orderId: string | null;
  code?: string;
  message?: string;
}

export interface SettleHourResult extends Partial<CollectOutcome> {
  /** null when the hour had nothing to bill */
  billId: string | null;
  total: string;
  /**
   * R-U2 at rest: nothing is left to settle after this hour (no pay-per-use period open, no usage
   * record waiting, not in arrears); the account is marked so, and the next billable fact wakes
   * its workflow (usage.repository leaveRest).
   */
  resting?: boolean;
}

export interface BillRow {
  id: string;
  account_id: string;
  hour_start: Date;
  hour_end: Date;
  currency: string;
  total: string;
  status: 'pending' | 'paid' | 'failed' | 'unpaid';
  order_id: string | null;
  failure_code: string | null;
  failure_message: string | null;
}

/** R-U1 / R-C4 / R-U4: writes an hour's bill once; the catalog gives the metered services' unit prices. */
export function createBillWriter(deps: { db: Knex; catalog: Catalog }) {
  const { db } = deps;
  const unitPrices = new Map(deps.catalog.services.map((s) => [s.metric, s.unit_price]));

  /**
   * R-U1 / R-C4 / R-U4: the hour's bill, written once (null when there is nothing to bill), and
   * whether the account is now at rest (only when not in arrears: `collect`).
   */
  async function writeBill(input: SettleHourInput): Promise<{ bill: BillRow | null; resting: boolean }> {
    const hourEnd = new Date(input.hourStart + HOUR_MS);
    return db.transaction(async (trx) => {
      await lockAccountUsage(trx, input.accountId, 'exclusive');
      const bill = await billOnce(trx, input);
      return { bill, resting: input.collect ? await restIfIdle(trx, input.accountId, hourEnd) : false };
    });
  }

  async function billOnce(trx: Knex.Transaction, input: SettleHourInput): Promise<BillRow | null> {
    const hourStart = new Date(input.hourStart);
    const hourEnd = new Date(input.hourStart + HOUR_MS);
    const existing: BillRow | undefined = await trx('bills').where({ account_id: input.accountId, hour_start: hourStart }).first();
    if (existing) return existing;
    const usage = await ensureUsageAccount(trx, input.accountId);
    if (usage.settled_through && usage.settled_through.getTime() >= hourEnd.getTime()) return null; // settled before, empty

    const protections = await protectionUsage(trx, input.accountId, input.hourStart);
    // R-C4 / R-U3: Postgres aggregates the hour's records; only one row per resource and metric
    // comes back, however many records there are.
    const metered: { resource_id: string; metric: string; quantity: string }[] = (await trx.raw(
      `select resource_id, metric, sum(quantity)::text as quantity from usage_records
        where account_id = ? and settlement_hour = ? group by resource_id, metric order by resource_id, metric`,
      [input.accountId, hourStart],
    )).rows;
    // R-U4: the packages that can cover this hour: the metered metrics' and the quota-hours of
    // the editions protecting servers in it.
    const packageMetrics = [...new Set([...metered.map((m) => m.metric), ...protections.filter((l) => l.seconds > 0).map((l) => quotaHourMetric(l.product, l.edition))])];
    const packages = packageMetrics.length ? await usablePackages(trx, input.accountId, packageMetrics, input.hourStart, input.offsetMinutes) : [];
    const priced = priceHour({
      protections,
      metered: metered.map((m) => ({ resourceId: m.resource_id, metric: m.metric, quantity: m.quantity, unitPrice: unitPriceOf(m.metric) })),
      packages,
      at: input.hourStart,
    });

    // R-U3: the watermark moves on with the bill, so a record arriving from now on for this
    // hour (or an earlier one) goes to the next settlement.
    await trx('usage_accounts').where({ account_id: input.accountId }).update({ settled_through: hourEnd });
    if (priced.protections.length === 0 && priced.metered.length === 0) return null;

    const account = await trx('accounts').where({ id: input.accountId }).first('currency');
    const bill: BillRow = {
      id: derivedId('bill', `${input.accountId}:${input.hourStart}`),
      account_id: input.accountId,
      hour_start: hourStart,
      hour_end: hourEnd,
      currency: account.currency,
      total: priced.total.toFixed(2),
      status: priced.total.isZero() ? 'paid' : 'pending', // nothing to collect
      order_id: null,
      failure_code: null,
      failure_message: null,
    };
    await trx('bills').insert({ ...bill, created_at: new Date(input.at), paid_at: priced.total.isZero() ? new Date(input.at) : null });
    const lines = [
      ...priced.protections.map((l) => ({
        kind: 'protection', resource_id: l.resourceId, protection_id: l.protectionId, product: l.product, edition: l.edition, metric: null,
        // R-U4: for a protection line `covered` is quota-seconds drawn from quota-hour packages.
        seconds: l.seconds, quantity: String(l.quantity), unit_price: String(l.hourlyPrice), covered: l.coveredQuotaSeconds.toString(), billed_quantity: String(l.quantity), amount: l.amount.toFixed(12),
      })),
      ...priced.metered.map((l) => ({
        kind: 'usage', resource_id: l.resourceId, protection_id: null, product: null, edition: null, metric: l.metric,
        seconds: null, quantity: l.quantity.toString(), unit_price: String(l.unitPrice), covered: l.covered.toString(), billed_quantity: l.billed.toString(), amount: l.amount.toFixed(12),
      })),
    ].map((l, i) => ({ ...l, bill_id: bill.id, line_no: i + 1 }));
    for (let i = 0; i < lines.length; i += 1000) await trx('bill_lines').insert(lines.slice(i, i + 1000));
    if (priced.draws.length) {
      await trx('usage_package_draws').insert(priced.draws.map((d) => ({ package_id: d.id, bill_id: bill.id, at: hourStart, amount: d.amount.toString() })));
    }
    return bill;
  }

  function unitPriceOf(metric: string): string {
    const price = unitPrices.get(metric);
    // Ingestion accepts catalog metrics only; a catalog that dropped one is an operator error.
    if (price === undefined) throw new Error(`metric ${metric} has no unit price in the catalog`);
    return price;
  }

  return { writeBill };
}

/** The bill of an hour, by id. */
export async function loadBill(db: Knex, billId: string): Promise<BillRow> {
  return db('bills').where({ id: billId }).first();
}

/** A page of the account's hourly bills, newest first. */
export async function listBills(db: Knex, accountId: string, p: { beforeSeq: number | null; limit: number }): Promise<any[]> {
  return newestBySeq(db('bills').where({ account_id: accountId }), p);
}

/** One of the account's bills with its lines in order, or undefined. */
export async function getBillWithLines(db: Knex, accountId: string, billId: string): Promise<{ bill: any; lines: any[] } | undefined> {
  const bill = await db('bills').where({ id: billId, account_id: accountId }).first();
  if (!bill) return undefined;
  return { bill, lines: await db('bill_lines').where({ bill_id: bill.id }).orderBy('line_no') };
}

/** R-U5: in arrears a bill is owed (`unpaid`), collected with the whole outstanding amount. */
export async function markBillUnpaid(db: Knex, billId: string): Promise<void> {
  await db('bills').where({ id: billId, status: 'pending' }).update({ status: 'unpaid' });
}

/** The outcome of a collection charge on the bills it paid for (never turns a paid bill back). */
export async function recordCollection(db: Knex, billIds: string[], at: number, outcome: { status: 'paid' | 'failed'; orderId: string; code?: string; message?: string }): Promise<void> {
  if (outcome.status === 'paid') {
    await db('bills').whereIn('id', billIds).whereNot({ status: 'paid' })
      .update({ status: 'paid', order_id: outcome.orderId, paid_at: new Date(at), failure_code: null, failure_message: null, attempts: db.raw('attempts + 1') });
    return;
  }
  await db('bills').whereIn('id', billIds).whereNot({ status: 'paid' }).andWhereRaw('order_id is distinct from ?', [outcome.orderId])
    .update({ status: 'failed', order_id: outcome.orderId, failure_code: outcome.code, failure_message: outcome.message, attempts: db.raw('attempts + 1') });
}

/** R-U5: which of `billIds` are still to pay. */
export async function unpaidBills(db: Knex, accountId: string, billIds: string[]): Promise<BillRow[]> {
  return db('bills').where({ account_id: accountId }).whereIn('id', billIds).whereNot({ status: 'paid' });
}

/** A bill that failed puts the account in arrears (R-U5), which never rests: lift the rest mark. */
export async function liftRest(db: Knex, accountId: string): Promise<void> {
  await db('usage_accounts').where({ account_id: accountId }).update({ dormant_since: null });
}

  /**
   * R-U2 at rest → awake: where settlement resumes. The hours the account rested through had no
   * facts (a fact would have woken it sooner), so it jumps to the first hour that has one: the
   * earliest waiting record's settlement hour, or the hour a period open since then covers; else
   * the current hour. The watermark moves there, so a late record for a skipped hour goes to the
   * next settlement (R-U3).
   */
export async function resumeFromRest(db: Knex, input: { accountId: string; at: number; offsetMinutes: number }): Promise<{ nextHour: number }> {
    return db.transaction(async (trx) => {
      await lockAccountUsage(trx, input.accountId, 'exclusive');
      const usage = await ensureUsageAccount(trx, input.accountId);
      const through = usage.settled_through ?? new Date(restingWatermark(input.at, input.offsetMinutes));
      const { rows: [first] } = await trx.raw(
        `select least(
           (select min(settlement_hour) from usage_records where account_id = ? and settlement_hour >= ?),
           (select min(greatest(started_at, ?)) from pay_per_use_periods where account_id = ? and (ended_at is null or ended_at > ?))
         ) as at`,
        [input.accountId, through, through, input.accountId, through],
      );
      // Facts written while at rest sit at or after the resting watermark of their time; with
      // none (a spurious wake), resume where hourly settlement would be now.
      const next = Math.max(through.getTime(), first.at ? startOfLocalHour(new Date(first.at).getTime(), input.offsetMinutes) : restingWatermark(input.at, input.offsetMinutes));
      await trx('usage_accounts').where({ account_id: input.accountId }).update({ settled_through: new Date(next), dormant_since: null });
      return { nextHour: next };
    });
  }



/**
 * R-U2 at rest: after settling through `settledThrough`, is anything left to settle? If not, the
 * account is marked resting (under the caller's exclusive lock) and true returned.
 */
async function restIfIdle(trx: Knex.Transaction, accountId: string, settledThrough: Date): Promise<boolean> {
  // max(settlement_hour) is one step down the (account_id, settlement_hour) index; an `exists`
  // with `>=` let the planner walk the hour's rows just billed (bench: +165 ms at 1M records).
  const { rows: [busy] } = await trx.raw(
    `select exists(select 1 from pay_per_use_periods where account_id = ? and (ended_at is null or ended_at > ?))
         or coalesce((select max(settlement_hour) from usage_records where account_id = ?) >= ?, false) as busy`,
    [accountId, settledThrough, accountId, settledThrough],
  );
  if (busy.busy) return false;
  await trx('usage_accounts').where({ account_id: accountId }).update({ dormant_since: settledThrough });
  return true;
}

/** R-U1: billed seconds in the hour of every protection period that overlaps it, while running. */
async function protectionUsage(trx: Knex.Transaction, accountId: string, hourStartMs: number): Promise<(ProtectionUsage & { product: string; edition: string })[]> {
  const hourStart = new Date(hourStartMs);
  const hourEnd = new Date(hourStartMs + HOUR_MS);
  const periods: { protection_id: string; started_at: Date; ended_at: Date | null; server_id: string; product: string; edition: string; quantity: number; hourly_price: string }[] = await trx('pay_per_use_periods as p')
    .join('pay_per_use_protections as pr', 'pr.id', 'p.protection_id')
    .where('p.account_id', accountId)
    .andWhere('p.started_at', '<', hourEnd)
    .andWhere((q) => q.whereNull('p.ended_at').orWhere('p.ended_at', '>', hourStart))
    .orderBy([{ column: 'pr.server_id' }, { column: 'p.protection_id' }, { column: 'p.started_at' }])
    .select('p.protection_id', 'p.started_at', 'p.ended_at', 'pr.server_id', 'pr.product', 'pr.edition', 'pr.quantity', 'pr.hourly_price');
  if (periods.length === 0) return [];
  const servers = [...new Set(periods.map((p) => p.server_id))];
  // The power state at the start of the hour (each server's last event before it) and every
  // change within the hour.
  const events: { server_id: string; power: PowerEvent['power']; at: Date }[] = (await trx.raw(
    `select server_id, power, at from (
       select distinct on (server_id) server_id, power, at, id from server_power_events
        where server_id = any(?) and at < ? order by server_id, at desc, id desc) before_hour
     union all
     select server_id, power, at from (select server_id, power, at, id from server_power_events
        where server_id = any(?) and at >= ? and at < ? order by at, id) in_hour`,
    [servers, hourStart, servers, hourStart, hourEnd],
  )).rows;
  const byProtection = new Map<string, { head: (typeof periods)[number]; intervals: Interval[] }>();
  for (const p of periods) {
    const entry = byProtection.get(p.protection_id) ?? { head: p, intervals: [] };
    entry.intervals.push({ from: p.started_at.getTime(), to: p.ended_at ? p.ended_at.getTime() : hourEnd.getTime() });
    byProtection.set(p.protection_id, entry);
  }
  return [...byProtection.values()].map(({ head, intervals }) => {
    const power = events.filter((e) => e.server_id === head.server_id).map((e) => ({ at: new Date(e.at).getTime(), power: e.power }));
    return {
      protectionId: head.protection_id,
      resourceId: head.server_id,
      product: head.product,
      edition: head.edition,
      hourlyPrice: head.hourly_price,
      quantity: head.quantity,
      seconds: billedSecondsInHour(billableIntervals(intervals, power, hourEnd.getTime()), hourStartMs),
    };
  });
}
