import type { Knex } from 'knex';
import type { AccountState } from '../workflows/account.messages';
import { notificationRows } from './outbox.store';
import { arrearsStatusChanges } from '../billing/status-change-events';
import { recordStatusChanges } from './status-changes.store';
import { comesAfterUpdateSql, WritePosition } from './write-position';
import { HOUR_MS } from '../billing/calendar';
import { exact } from '../billing/money';
import { drawsCountFrom, drawUnitsPerContentUnit, effectiveSettledThrough, MetricPackage, packageRemainingAfterReset, ResetPolicy, restingWatermark, settlementHourFor, usageRecordHour } from '../billing/usage';
import { newId } from '../common/ids';

// Pay-per-use facts in Postgres, written by the API (enable/disable, power, usage records) and by
// the account workflow's activities (settlement, arrears). R-U3 forbids a workflow message per
// record, so the API writes these straight here; the settlement reads them back.
//
// Consistency between writers and the hourly settlement is one advisory lock per account:
// writers take it shared, a settlement exclusive. A settlement therefore sees every write that
// began before it, and a write that comes after it sees the new watermark (`settled_through`)
// and lands in a later hour — nothing is billed twice and nothing is skipped.

export type Power = 'running' | 'stopped';

type Conn = Knex | Knex.Transaction;

/** The account's usage lock: shared for writers of usage facts, exclusive for a settlement. */
export async function lockAccountUsage(trx: Knex.Transaction, accountId: string, mode: 'shared' | 'exclusive'): Promise<void> {
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  await trx.raw(`select ${fn}(hashtext(?))`, [`usage:${accountId}`]);
}

export const accountWorkflowId = (accountId: string) => `account-${accountId}`;

export interface UsageAccountRow {
  account_id: string;
  workflow_id: string;
  workflow_started_at: Date | null;
  settled_through: Date | null;
  arrears_status: 'none' | 'grace' | 'frozen' | 'released';
  arrears_since: Date | null;
  grace_ends_at: Date | null;
  frozen_ends_at: Date | null;
  outstanding: string;
  seq: number;
  updated_at: Date;
  /** R-U2 at rest: set by the settlement that found nothing left to settle (migration 007) */
  dormant_since: Date | null;
}

/** Wakes the account workflows of accounts that were at rest (API: a signal to each). */
export type WakeAccounts = (accountIds: string[]) => Promise<void>;

/**
 * R-U2 at rest: a billable fact for these accounts is being written (in `trx`, under the shared
 * usage lock): those at rest leave it, and their workflows are woken before the fact commits, so
 * the fact can't sit unsettled. The watermark moves to where hourly settlement would have brought
 * it (restingWatermark), so facts written before the workflow resumes are placed as they would
 * have been. A failed wake fails the write (the caller may retry); a wake whose write then fails
 * only makes the workflow look once more.
 */
export async function leaveRest(trx: Knex.Transaction, accountIds: readonly string[], wake: WakeAccounts | undefined, now: number, offsetMinutes: number): Promise<void> {
  if (!wake || accountIds.length === 0) return;
  const woken: { account_id: string }[] = await trx('usage_accounts').whereIn('account_id', accountIds).whereNotNull('dormant_since')
    .update({ dormant_since: null, settled_through: trx.raw('greatest(settled_through, ?::timestamptz)', [new Date(restingWatermark(now, offsetMinutes)).toISOString()]) }, ['account_id']);
  if (woken.length) await wake(woken.map((w) => w.account_id));
}

/** The account's usage row, created on first use. */
export async function ensureUsageAccount(db: Conn, accountId: string): Promise<UsageAccountRow> {
  await db('usage_accounts').insert({ account_id: accountId, workflow_id: accountWorkflowId(accountId) }).onConflict('account_id').ignore();
  return db('usage_accounts').where({ account_id: accountId }).first();
}

export async function markWorkflowStarted(db: Knex, accountId: string, at: Date): Promise<void> {
  await db('usage_accounts')
    .insert({ account_id: accountId, workflow_id: accountWorkflowId(accountId), workflow_started_at: at })
    .onConflict('account_id')
    .merge({ workflow_started_at: at });
}

// ---------------------------------------------------------------------------------------------
// Protections (R-U1)

export interface ProtectionRow {
  id: string;
  account_id: string;
  server_id: string;
  product: string;
  edition: string;
  quantity: number;
  hourly_price: string;
  status: 'active' | 'frozen' | 'disabled' | 'released';
  enabled_at: Date;
  disabled_at: Date | null;
}

export class ProtectionConflictError extends Error {
  constructor(readonly code: 'PAY_PER_USE.ALREADY_ENABLED' | 'ACCOUNT.IN_ARREARS', message: string) {
    super(message);
  }
}

/**
 * R-U1: turns pay-per-use protection on for a server at `at`: the protection and its first
 * billing period. A server whose power was never recorded gets its current power as the first
 * event (R-U1 counts a server with no history as stopped).
 */
export async function enableProtection(db: Knex, p: { accountId: string; serverId: string; product: string; edition: string; quantity: number; hourlyPrice: string; at: Date; rest?: { wake: WakeAccounts; offsetMinutes: number } }): Promise<ProtectionRow> {
  return db.transaction(async (trx) => {
    await lockAccountUsage(trx, p.accountId, 'shared');
    const usage = await ensureUsageAccount(trx, p.accountId);
    // R-U5: no new pay-per-use while the account owes money.
    if (usage.arrears_status !== 'none') throw new ProtectionConflictError('ACCOUNT.IN_ARREARS', `the account is in arrears (${usage.arrears_status}); pay the outstanding amount first`);
    const live = await trx('pay_per_use_protections').where({ server_id: p.serverId }).whereNull('disabled_at').first('id');
    if (live) throw new ProtectionConflictError('PAY_PER_USE.ALREADY_ENABLED', `server ${p.serverId} already has pay-per-use protection ${live.id}`);
    const row: ProtectionRow = {
      id: newId('ppu'),
      account_id: p.accountId,
      server_id: p.serverId,
      product: p.product,
      edition: p.edition,
      quantity: p.quantity,
      hourly_price: p.hourlyPrice,
      status: 'active',
      enabled_at: p.at,
      disabled_at: null,
    };
    await trx('pay_per_use_protections').insert(row);
    await trx('pay_per_use_periods').insert({ protection_id: row.id, account_id: p.accountId, started_at: p.at });
    const known = await trx('server_power_events').where({ server_id: p.serverId }).first('id');
    if (!known) {
      const server = await trx('servers').where({ id: p.serverId }).first('power');
      await trx('server_power_events').insert({ server_id: p.serverId, account_id: p.accountId, power: server?.power ?? 'running', at: p.at });
    }
    if (usage.dormant_since && p.rest) await leaveRest(trx, [p.accountId], p.rest.wake, p.at.getTime(), p.rest.offsetMinutes); // R-U2: billed from now on
    return row;
  });
}

/** R-U1: turns it off at `at`; the open period closes. Disabling twice changes nothing. */
export async function disableProtection(db: Knex, protectionId: string, at: Date): Promise<ProtectionRow | undefined> {
  return db.transaction(async (trx) => {
    const head: ProtectionRow | undefined = await trx('pay_per_use_protections').where({ id: protectionId }).first();
    if (!head) return undefined;
    await lockAccountUsage(trx, head.account_id, 'shared');
    const row: ProtectionRow = await trx('pay_per_use_protections').where({ id: protectionId }).forUpdate().first();
    if (row.disabled_at) return row;
    await closePeriods(trx, { protectionId }, at, 'disabled');
    const patch = { status: 'disabled' as const, disabled_at: at };
    await trx('pay_per_use_protections').where({ id: protectionId }).update(patch);
    return { ...row, ...patch };
  });
}

/**
 * R-U1: a server's power changed at `at`. The servers routes call this on every power change
 * and on registration, in their transaction, so settlement knows when a server was running.
 */
export async function recordPowerChange(db: Conn, serverId: string, power: Power, at: Date): Promise<void> {
  const record = async (trx: Knex.Transaction) => {
    const server = await trx('servers').where({ id: serverId }).first('account_id');
    if (!server) throw new Error(`server ${serverId} does not exist`);
    await lockAccountUsage(trx, server.account_id, 'shared');
    await trx('server_power_events').insert({ server_id: serverId, account_id: server.account_id, power, at });
  };
  // Inside the caller's transaction when given one (the servers routes change the row with it).
  if ((db as Knex.Transaction).isTransaction) await record(db as Knex.Transaction);
  else await (db as Knex).transaction(record);
}

async function closePeriods(trx: Knex.Transaction, where: { protectionId: string } | { accountId: string }, at: Date, reason: string): Promise<void> {
  const q = trx('pay_per_use_periods').whereNull('ended_at');
  if ('protectionId' in where) q.where({ protection_id: where.protectionId });
  else q.where({ account_id: where.accountId });
  // A period never ends before it started (a restore and a freeze in the same instant).
  await q.update({ ended_at: trx.raw('greatest(started_at, ?::timestamptz)', [at]), end_reason: reason });
}

/** R-U5 frozen: the account's pay-per-use protections stop (not billed) from `at`. */
export async function freezeProtections(db: Knex, accountId: string, at: Date): Promise<number> {
  return db.transaction(async (trx) => {
    await lockAccountUsage(trx, accountId, 'shared');
    await closePeriods(trx, { accountId }, at, 'frozen');
    const n: number = await trx('pay_per_use_protections').where({ account_id: accountId, status: 'active' }).update({ status: 'frozen' });
    return n;
  });
}

/** R-U5 restored: frozen protections bill again from `at`. Idempotent: an open period stays. */
export async function restoreProtections(db: Knex, accountId: string, at: Date): Promise<number> {
  return db.transaction(async (trx) => {
    await lockAccountUsage(trx, accountId, 'shared');
    const frozen: { id: string }[] = await trx('pay_per_use_protections').where({ account_id: accountId, status: 'frozen' }).select('id');
    for (const p of frozen) {
      await trx.raw(`insert into pay_per_use_periods (protection_id, account_id, started_at) values (?, ?, ?)
        on conflict (protection_id) where ended_at is null do nothing`, [p.id, accountId, at]);
    }
    await trx('pay_per_use_protections').whereIn('id', frozen.map((p) => p.id)).update({ status: 'active' });
    return frozen.length;
  });
}

/** R-U5 released: the protections are disabled for good at `at`. */
export async function releaseProtections(db: Knex, accountId: string, at: Date): Promise<number> {
  return db.transaction(async (trx) => {
    await lockAccountUsage(trx, accountId, 'shared');
    await closePeriods(trx, { accountId }, at, 'released');
    const n: number = await trx('pay_per_use_protections').where({ account_id: accountId }).whereNull('disabled_at').update({ status: 'released', disabled_at: at });
    return n;
  });
}

// ---------------------------------------------------------------------------------------------
// Usage records (R-U3)

export interface NewUsageRecord {
  id: string;
  accountId: string;
  resourceId: string;
  metric: string;
  /** decimal string */
  quantity: string;
  periodStart: number;
  periodEnd: number;
  /**
   * Why the record may not be stored now (e.g. R-U3 too late). It is still looked up: a record
   * that was accepted before answers `duplicate` — a client's retry is not refused.
   */
  refusal?: { code: string; message: string };
}

export type IngestOutcome = { status: 'accepted' | 'duplicate' } | { status: 'rejected'; code: string; message: string };

// R-U3 ingestion: how many transactions one batch may be stored in, and the smallest chunk worth
// a transaction of its own (a batch of up to 2 × this is stored in one).
const PARALLEL_CHUNKS = 3;
const PARALLEL_CHUNK_MIN = 200;

/**
 * R-U3: stores a batch of validated records (in one transaction, or a few in parallel for a large
 * batch), idempotent on (account, record id): a record seen before answers `duplicate` (or
 * `rejected` if the same id came with other content). Each record is given the hour whose
 * settlement bills it: its own, or the next settlement when its hour is already settled. Records
 * of a frozen or released account for usage after the freeze are refused (R-U5: its pay-per-use
 * resources are stopped).
 */
export async function insertUsageRecords(db: Knex, records: readonly NewUsageRecord[], opts: { now: number; offsetMinutes: number; wake?: WakeAccounts }): Promise<IngestOutcome[]> {
  const out: IngestOutcome[] = new Array(records.length);
  const first = new Map<string, number>(); // key → index of its first occurrence in this batch
  const fresh: number[] = [];
  records.forEach((r, i) => {
    const key = `${r.accountId}\u0000${r.id}`;
    const seen = first.get(key);
    if (seen === undefined) {
      first.set(key, i);
      fresh.push(i);
    } else {
      out[i] = sameRecord(records[seen], r) ? { status: 'duplicate' } : idConflict(r.id);
    }
  });
  if (fresh.length === 0) return out;

  const store = (chunk: readonly number[], fast: boolean) => db.transaction(async (trx) => {
    const accounts = [...new Set(chunk.map((i) => records[i].accountId))].sort();
    for (const a of accounts) await lockAccountUsage(trx, a, 'shared');
    const rows: UsageAccountRow[] = await trx('usage_accounts').whereIn('account_id', accounts);
    const byAccount = new Map(rows.map((r) => [r.account_id, r]));

    const cols = { account_id: [] as string[], id: [] as string[], resource_id: [] as string[], metric: [] as string[], quantity: [] as string[], period_start: [] as string[], period_end: [] as string[], settlement_hour: [] as string[] };
    const inserting: number[] = [];
    const refused: number[] = []; // rejected unless stored before (then `duplicate`), below
    for (const i of chunk) {
      const r = records[i];
      if (r.refusal) {
        out[i] = { status: 'rejected', ...r.refusal };
        refused.push(i);
        continue;
      }
      const acct = byAccount.get(r.accountId);
      const frozenSince = acct && (acct.arrears_status === 'frozen' || acct.arrears_status === 'released') && acct.grace_ends_at ? acct.grace_ends_at.getTime() : null;
      if (frozenSince !== null && r.periodEnd > frozenSince) {
        out[i] = { status: 'rejected', code: 'USAGE.ACCOUNT_FROZEN', message: `the account's pay-per-use resources are ${acct!.arrears_status} since ${new Date(frozenSince).toISOString()} (R-U5)` };
        refused.push(i);
        continue;
      }
      const settledThrough = effectiveSettledThrough(acct?.settled_through ? acct.settled_through.getTime() : null, !!acct?.dormant_since, opts.now, opts.offsetMinutes);
      inserting.push(i);
      cols.account_id.push(r.accountId);
      cols.id.push(r.id);
      cols.resource_id.push(r.resourceId);
      cols.metric.push(r.metric);
      cols.quantity.push(r.quantity);
      cols.period_start.push(new Date(r.periodStart).toISOString());
      cols.period_end.push(new Date(r.periodEnd).toISOString());
      cols.settlement_hour.push(new Date(settlementHourFor(usageRecordHour(r.periodStart, r.periodEnd, opts.offsetMinutes), settledThrough)).toISOString());
    }
    const insertSql = `insert into usage_records (account_id, id, resource_id, metric, quantity, period_start, period_end, settlement_hour, received_at)
       select u.*, ?::timestamptz from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::numeric[], ?::timestamptz[], ?::timestamptz[], ?::timestamptz[]) as u`;
    const insertArgs = [new Date(opts.now).toISOString(), cols.account_id, cols.id, cols.resource_id, cols.metric, cols.quantity, cols.period_start, cols.period_end, cols.settlement_hour];
    // R-U2 at rest: an account resting gets records to settle: wake it before they commit.
    const resting = [...new Set(inserting.map((i) => records[i].accountId))].filter((a) => byAccount.get(a)?.dormant_since);
    // Fast path: a batch of new records (the usual case) as a plain insert; `on conflict … do
    // nothing returning` makes every row a speculative insertion and returns every key (measured:
    // single-client ingestion 0.37× → 0.46× raw COPY). A record seen before fails the insert
    // (unique violation) and with it this transaction; the batch is then stored again on the
    // careful path, which sorts accepted from duplicates.
    if (fast && inserting.length > 0 && refused.length === 0) {
      await trx.raw(insertSql, insertArgs);
      for (const i of inserting) out[i] = { status: 'accepted' };
      await leaveRest(trx, resting, opts.wake, opts.now, opts.offsetMinutes);
      return;
    }
    const inserted = inserting.length === 0 ? { rows: [] } : await trx.raw(`${insertSql}
       on conflict (account_id, id) do nothing
       returning account_id, id`, insertArgs);
    if (inserted.rows.length) await leaveRest(trx, resting, opts.wake, opts.now, opts.offsetMinutes);
    const isNew = new Set<string>(inserted.rows.map((r: { account_id: string; id: string }) => `${r.account_id}\u0000${r.id}`));
    for (const i of inserting) if (isNew.has(`${records[i].accountId}\u0000${records[i].id}`)) out[i] = { status: 'accepted' };
    const existing = [...inserting.filter((i) => !isNew.has(`${records[i].accountId}\u0000${records[i].id}`)), ...refused];
    if (existing.length === 0) return;
    const stored = await trx.raw(
      `select r.account_id, r.id, r.resource_id, r.metric, r.quantity::text as quantity, r.period_start, r.period_end
         from usage_records r join unnest(?::text[], ?::text[]) as k(account_id, id) on r.account_id = k.account_id and r.id = k.id`,
      [existing.map((i) => records[i].accountId), existing.map((i) => records[i].id)],
    );
    const byKey = new Map<string, NewUsageRecord>(stored.rows.map((s: any) => [`${s.account_id}\u0000${s.id}`, {
      id: s.id, accountId: s.account_id, resourceId: s.resource_id, metric: s.metric, quantity: s.quantity, periodStart: new Date(s.period_start).getTime(), periodEnd: new Date(s.period_end).getTime(),
    }]));
    const refusedNow = new Set(refused);
    for (const i of existing) {
      const s = byKey.get(`${records[i].accountId}\u0000${records[i].id}`);
      if (s && sameRecord(s, records[i])) out[i] = { status: 'duplicate' };
      else if (!refusedNow.has(i)) out[i] = idConflict(records[i].id);
    }
  });
  // A large batch is stored as up to PARALLEL_CHUNKS chunks in parallel, each its own transaction
  // on its own connection, so Postgres inserts on several cores while a single client waits
  // (bench, single client vs raw COPY, 4 runs each: one transaction 0.38–0.44×, two chunks
  // 0.43–0.54×, three 0.51–0.54×). Each record's outcome stands on its own (R-U3), so the chunks
  // need not commit together; each takes the account's shared lock, and no chunk waits on another.
  const parts = fresh.length > 2 * PARALLEL_CHUNK_MIN ? Math.min(PARALLEL_CHUNKS, Math.floor(fresh.length / PARALLEL_CHUNK_MIN)) : 1;
  const size = Math.ceil(fresh.length / parts);
  const chunks: number[][] = [];
  for (let k = 0; k < fresh.length; k += size) chunks.push(fresh.slice(k, k + size));
  await Promise.all(chunks.map(async (chunk) => {
    try {
      await store(chunk, true);
    } catch (e) {
      if ((e as { code?: string }).code !== '23505') throw e;
      await store(chunk, false);
    }
  }));
  // Later copies in the batch of a record refused above share its fate.
  records.forEach((r, i) => {
    const f = first.get(`${r.accountId}\u0000${r.id}`)!;
    if (f !== i && out[f]?.status === 'rejected') out[i] = out[f];
  });
  return out;
}

function sameRecord(a: NewUsageRecord, b: NewUsageRecord): boolean {
  return a.resourceId === b.resourceId && a.metric === b.metric && sameDecimal(a.quantity, b.quantity)
    && a.periodStart === b.periodStart && a.periodEnd === b.periodEnd;
}

// "1.50" and "1.5" are the same quantity; compare without binary floating point (R-M1).
function sameDecimal(a: string, b: string): boolean {
  const norm = (s: string) => {
    const [int, frac = ''] = s.split('.');
    const f = frac.replace(/0+$/, '');
    return `${int.replace(/^0+(?=\d)/, '')}${f ? `.${f}` : ''}`;
  };
  return norm(a) === norm(b);
}

function idConflict(id: string): IngestOutcome {
  return { status: 'rejected', code: 'USAGE.ID_CONFLICT', message: `record id ${id} was already used for a different record` };
}

// ---------------------------------------------------------------------------------------------
// Usage packages (R-U4)

/** R-U4: the metric's packages usable in the hour, with what is left of their current period. */
export async function usablePackages(conn: Knex | Knex.Transaction, accountId: string, metrics: string[], hourStartMs: number, offsetMinutes: number): Promise<(MetricPackage & { content: string })[]> {
  const rows: { id: string; metric: string; content: string; reset: ResetPolicy; purchased_at: Date; expires_at: Date }[] = await conn('usage_packages')
    .where({ account_id: accountId })
    .whereIn('metric', metrics)
    .andWhere('purchased_at', '<', new Date(hourStartMs + HOUR_MS))
    .andWhere('expires_at', '>', new Date(hourStartMs))
    .orderBy([{ column: 'expires_at' }, { column: 'seq' }]);
  return withRemaining(conn, rows, hourStartMs, offsetMinutes);
}

/**
 * R-U4: content minus what the current reset period has drawn (packageRemainingAfterReset), in
 * draw units (quota-seconds for quota-hour packages: drawUnitsPerContentUnit).
 */
export async function withRemaining<R extends { id: string; metric: string; content: string; reset: ResetPolicy; purchased_at: Date; expires_at: Date }>(
  conn: Knex | Knex.Transaction, rows: R[], at: number, offsetMinutes: number,
): Promise<(R & MetricPackage)[]> {
  if (rows.length === 0) return [];
  const since = rows.map((r) => drawsCountFrom(r.purchased_at.getTime(), r.reset, at, offsetMinutes));
  const used: { id: string; used: string }[] = (await conn.raw(
    `select k.id, coalesce(sum(d.amount), 0)::text as used
       from unnest(?::text[], ?::timestamptz[]) as k(id, since)
       left join usage_package_draws d on d.package_id = k.id and d.at >= k.since
      group by k.id`,
    [rows.map((r) => r.id), since.map((s) => new Date(s).toISOString())],
  )).rows;
  const usedById = new Map(used.map((u) => [u.id, u.used]));
  return rows.map((r, i) => ({
    ...r,
    expiresAt: r.expires_at.getTime(),
    remaining: packageRemainingAfterReset(
      { content: exact(r.content).times(drawUnitsPerContentUnit(r.metric)), purchasedAt: r.purchased_at.getTime(), reset: r.reset, draws: [{ at: since[i], amount: usedById.get(r.id) ?? '0' }] },
      at,
      offsetMinutes,
    ),
  }));
}

// ---------------------------------------------------------------------------------------------
// The account workflow's read model and packages

export interface RecordAccountStateInput {
  state: AccountState;
  outstandingTotal: string;
  event: string;
  at: number;
  details?: Record<string, unknown>;
  /** R-S10 / R-U5: the notification template to send, if any */
  notify: string | null;
  /** the workflow task that writes this step (store/write-position.ts); absent: order by seq alone */
  position?: WritePosition;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms));

/**
 * The account workflow's read model (usage_accounts) and its notifications (R-S10 outbox), in
 * one transaction; idempotent on (task, seq): a retried write changes nothing, a stale one neither.
 */
export async function recordAccountState(db: Knex, input: RecordAccountStateInput): Promise<void> {
  const s = input.state;
  const a = s.arrears;
  await db.transaction(async (trx) => {
    await ensureUsageAccount(trx, s.accountId);
    // A step written again by its task's rerun, or by a rerun that took its messages in another
    // order, replaces the lost task's; a write from an older task changes nothing (issue #13).
    await trx('usage_accounts')
      .where({ account_id: s.accountId })
      .andWhereRaw(...comesAfterUpdateSql(input.position, s.seq))
      .update({
        arrears_status: a.status,
        arrears_since: iso(a.since),
        grace_ends_at: iso(a.graceEndsAt),
        frozen_ends_at: iso(a.frozenEndsAt),
        outstanding: input.outstandingTotal,
        seq: s.seq,
        written_run: input.position?.run ?? null,
        written_task: input.position?.task ?? null,
        updated_at: new Date(input.at),
      });
    // R-I4 / R-U5: the account's pay-per-use resources frozen, released or restored.
    const types = arrearsStatusChanges(input.event, typeof input.details?.from === 'string' ? input.details.from : null);
    const data = { account_id: s.accountId, scope: 'pay_per_use', arrears_status: a.status, outstanding: input.outstandingTotal, grace_ends_at: iso(a.graceEndsAt), frozen_ends_at: iso(a.frozenEndsAt), reason: input.event };
    await recordStatusChanges(trx, types.map((type) => ({ key: `account:${s.accountId}:${s.seq}:${type}`, type, accountId: s.accountId, data, at: new Date(input.at) })));
    if (!input.notify) return;
    const payload = {
      account_id: s.accountId,
      event: input.event,
      arrears_status: a.status,
      outstanding: input.outstandingTotal,
      grace_ends_at: iso(a.graceEndsAt),
      frozen_ends_at: iso(a.frozenEndsAt),
      ...input.details,
    };
    await trx('notifications')
      .insert(notificationRows({ accountId: s.accountId, template: input.notify, payload, dedupeKey: `account:${s.accountId}:${s.seq}:${input.notify}`, at: new Date(input.at) }))
      .onConflict(['dedupe_key', 'channel'])
      .ignore();
  });
}

/** R-U4: the packages of a purchase; their ids derive from the purchase, so a retry inserts none again. */
export async function insertPackages(db: Knex, rows: Record<string, unknown>[]): Promise<void> {
  await db('usage_packages').insert(rows).onConflict('id').ignore();
}

// ---------------------------------------------------------------------------------------------
// Reads (the API's)

/** The account's usage row (its workflow, settlement watermark and arrears), or undefined. */
export async function getUsageAccount(db: Conn, accountId: string): Promise<UsageAccountRow | undefined> {
  return db('usage_accounts').where({ account_id: accountId }).first();
}

/** Which of `accountIds` already have a started account workflow. */
export async function startedUsageAccounts(db: Knex, accountIds: string[]): Promise<string[]> {
  return db('usage_accounts').whereIn('account_id', accountIds).whereNotNull('workflow_started_at').pluck('account_id');
}

/** The account's started workflow (none or one): a top-up concerns it (R-U5). */
export async function startedUsageWorkflows(trx: Conn, accountId: string): Promise<string[]> {
  return trx('usage_accounts').where({ account_id: accountId }).whereNotNull('workflow_started_at').pluck('workflow_id');
}

export async function getProtection(db: Knex, id: string): Promise<ProtectionRow | undefined> {
  return db('pay_per_use_protections').where({ id }).first();
}

/** Rows newest first by `seq`, before the cursor's seq when there is one. */
export function newestBySeq(q: Knex.QueryBuilder, p: { beforeSeq: number | null; limit: number }): Knex.QueryBuilder {
  if (p.beforeSeq !== null) q.andWhere('seq', '<', p.beforeSeq);
  return q.orderBy('seq', 'desc').limit(p.limit);
}

/** A page of the account's usage packages, newest first. */
export async function listUsagePackages(db: Knex, accountId: string, p: { beforeSeq: number | null; limit: number }): Promise<any[]> {
  return newestBySeq(db('usage_packages').where({ account_id: accountId }), p);
}

/** The packages of a purchase, in the order they were made. */
export async function packagesByIds(db: Knex, ids: string[]): Promise<any[]> {
  return db('usage_packages').whereIn('id', ids).orderBy('seq');
}
