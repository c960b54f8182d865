import type { Knex } from 'knex';
import type { SubscriptionState } from '../workflows/subscription.types';
import { TRIAL_EDITION, TRIAL_PRODUCT } from '../billing/subscription-rules';
import { orderAccountId } from './orders.store';
import { notificationRows } from './outbox.store';
import { mayChangeSubscriptionStatus, subscriptionStatusChanges } from '../billing/status-change-events';
import { recordStatusChanges } from './status-changes.store';
import { comesAfter, comesAfterSql, WritePosition } from './write-position';

export interface RecordStateInput {
  state: SubscriptionState;
  event: string;
  at: number;
  details: Record<string, unknown>;
  notify: string | null;
  /** the workflow task that writes this step (see `comesAfter`); absent: order by seq alone */
  position?: WritePosition;
}


/** What kind of term a step starts (the first step of each term names it). */
const TERM_KIND: Record<string, string> = { purchased: 'purchase', trial_started: 'trial', renewed: 'renewal', renewed_manually: 'manual_renewal' };

const iso = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/**
 * Writes one workflow step to the read model in one transaction: the subscription row, the
 * timeline event and the outbox notifications. Keyed on (subscription, seq): a stale write (an
 * older seq) changes nothing, and the row never moves back to an older seq.
 *
 * A write of the same seq again replaces the first one. The step is a local activity: it runs
 * inside a workflow task, and when the worker dies before that task completes (issue #13,
 * scenario 6), the task runs again on another worker from the start, at a later workflow time,
 * and writes the same seq with what the workflow actually keeps (a purchase's expiry is its
 * start plus the term, and the start is the task's time). Found by the system tier: the first,
 * lost write won, and the read model showed an expiry 10 s off the workflow's, for good. A
 * retried write of the same content changes nothing either way. The rerun may also take its
 * updates in another order and number them differently: its writes carry their task
 * (`position`), and a later task's steps replace the lost task's even below its seq
 * (`comesAfter`).
 */
export async function recordSubscriptionState(db: Knex, input: RecordStateInput): Promise<void> {
  // R-I4: a step that changes what protects a server also writes its status change calls, in the
  // same transaction; a renewal unfreezes only when the step before had stopped protection.
  if (!mayChangeSubscriptionStatus(input.event)) return writeSubscriptionStep(db, input);
  await db.transaction(async (trx) => {
    const before = await trx('subscriptions').where({ id: input.state.subscriptionId }).forUpdate().first('status', 'seq', 'written_run', 'written_task');
    if (before && !comesAfter(input.position, input.state.seq, before)) return; // a stale write: a later step is already there
    await writeSubscriptionStep(trx, input);
    // The same step again (a retry, or its task rerun after a worker died, see above): the row
    // takes the rerun's times, and the status change calls the first write recorded stand (the
    // same step has the same event and status; `before` is now that step, not the one before it).
    if (before && Number(before.seq) === input.state.seq) return;
    const s = input.state;
    const data = {
      subscription_id: s.subscriptionId,
      account_id: s.accountId,
      product: s.product,
      edition: s.edition,
      region: s.region,
      quantity: s.quantity,
      status: s.status,
      expires_at: iso(s.expiresAt),
      grace_ends_at: iso(s.graceEndsAt),
      frozen_ends_at: iso(s.frozenEndsAt),
      reason: input.event,
    };
    const types = subscriptionStatusChanges(input.event, s.status, before?.status ?? null);
    await recordStatusChanges(trx, types.map((type) => ({ key: `${s.subscriptionId}:${s.seq}:${type}`, type, accountId: s.accountId, subscriptionId: s.subscriptionId, data, at: new Date(input.at) })));
  });
}

async function writeSubscriptionStep(db: Knex | Knex.Transaction, input: RecordStateInput): Promise<void> {
  const s = input.state;
  const row = {
    id: s.subscriptionId,
    account_id: s.accountId,
    product: s.product,
    edition: s.edition,
    region: s.region,
    quantity: s.quantity,
    billing_mode: 'yearly_monthly',
    status: s.status,
    trial: s.trial,
    started_at: iso(s.startedAt),
    anchor_at: iso(s.anchorAt),
    months_from_anchor: s.monthsFromAnchor,
    expires_at: iso(s.expiresAt),
    auto_renew: s.autoRenew,
    deduction_date: s.deductionDate,
    renewal_unit: s.renewalPeriod.unit,
    renewal_count: s.renewalPeriod.count,
    term_number: s.termNumber,
    grace_ends_at: iso(s.graceEndsAt),
    frozen_ends_at: iso(s.frozenEndsAt),
    // What the forecast is computed from, so the list answers the item's forecast (issue #11).
    last_attempt_at: iso(s.lastAttemptAt),
    grace_days: s.settings.graceDays,
    retention_days: s.settings.retentionDays,
    arrears_policy: s.settings.policy,
    ended_at: s.status === 'released' || s.status === 'unsubscribed' ? iso(input.at) : null,
    workflow_id: `subscription-${s.subscriptionId}`,
    seq: s.seq,
    written_run: input.position?.run ?? null,
    written_task: input.position?.task ?? null,
    updated_at: iso(input.at),
  };
  // One statement (data-modifying CTEs), so one round trip and atomic without BEGIN/COMMIT: the
  // subscription row, the timeline event and the outbox notifications are written together.
  const cols = Object.keys(row).filter((c) => c !== 'id' && c !== 'workflow_id');
  const upsert = db.raw(
    `insert into subscriptions (${Object.keys(row).join(', ')}) values (${Object.keys(row).map(() => '?').join(', ')})
     on conflict (id) do update set ${cols.map((c) => `${c} = excluded.${c}`).join(', ')},
       pending_edition = case when excluded.edition = subscriptions.pending_edition then null else subscriptions.pending_edition end
     where ${comesAfterSql('subscriptions')}`,
    Object.values(row) as Knex.Value[],
  );
  const event = db('subscription_events')
    .insert(eventRow(s, input))
    .onConflict(['subscription_id', 'seq', 'type'])
    .merge(['status', 'at', 'details']);
  // The current term (issue #6 read model): created by the step that starts it, kept current
  // (an upgrade changes its edition) by every later step of that term.
  const term = db.raw(
    `insert into subscription_terms (subscription_id, term_number, kind, edition, starts_at, ends_at, order_id, seq, written_run, written_task, created_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     on conflict (subscription_id, term_number) do update set edition = excluded.edition, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
       order_id = coalesce(excluded.order_id, subscription_terms.order_id), seq = excluded.seq,
       written_run = excluded.written_run, written_task = excluded.written_task
     where ${comesAfterSql('subscription_terms')}`,
    [s.subscriptionId, s.termNumber, TERM_KIND[input.event] ?? (s.trial ? 'trial' : 'renewal'), s.edition, iso(s.termStartedAt), iso(s.expiresAt), s.termOrderId, s.seq, input.position?.run ?? null, input.position?.task ?? null, iso(input.at)] as Knex.Value[],
  );
  if (!input.notify) {
    await db.with('subscription_row', upsert).with('term_row', term).insert(eventRow(s, input)).into('subscription_events').onConflict(['subscription_id', 'seq', 'type']).merge(['status', 'at', 'details']);
    return;
  }
  const payload = { subscription_id: s.subscriptionId, product: s.product, edition: s.edition, status: s.status, expires_at: iso(s.expiresAt), grace_ends_at: iso(s.graceEndsAt), frozen_ends_at: iso(s.frozenEndsAt), ...input.details };
  await db
    .with('subscription_row', upsert)
    .with('term_row', term)
    .with('timeline_event', event)
    .insert(notificationRows({ accountId: s.accountId, subscriptionId: s.subscriptionId, template: input.notify, payload, dedupeKey: `${s.subscriptionId}:${s.seq}:${input.notify}`, at: iso(input.at) as Date }))
    .into('notifications')
    .onConflict(['dedupe_key', 'channel'])
    .ignore();
}

function eventRow(s: SubscriptionState, input: RecordStateInput) {
  return { subscription_id: s.subscriptionId, seq: s.seq, type: input.event, status: s.status, at: iso(input.at), details: input.details };
}

/** The account a subscription belongs to (or, before its first record, the account of its order). */
export async function accountOfSubscription(db: Knex, subscriptionId: string, orderId: string): Promise<string | null> {
  return (await subscriptionAccountId(db, subscriptionId)) ?? orderAccountId(db, orderId);
}

/**
 * R-S2: the first trial of an account wins, and only an account that never bought
 * host-security/basic may have one (issue #11). The same subscription asking again is fine. The
 * claim is one insert that checks for a paid basic purchase in the same statement.
 */
export async function claimTrial(db: Knex, accountId: string, subscriptionId: string): Promise<{ ok: boolean; reason?: 'used' | 'bought' }> {
  const basic = `${TRIAL_PRODUCT}/${TRIAL_EDITION}`;
  const claim = await db('trial_claims').where({ account_id: accountId }).first();
  if (claim) return claim.subscription_id === subscriptionId ? { ok: true } : { ok: false, reason: 'used' };
  await db.raw(
    `insert into trial_claims (account_id, subscription_id)
     select ?, ? where not exists (select 1 from orders where account_id = ? and product = ? and kind = 'subscription_purchase' and status in ('paid', 'partially_refunded', 'refunded'))
     on conflict (account_id) do nothing`,
    [accountId, subscriptionId, accountId, basic],
  );
  const after = await db('trial_claims').where({ account_id: accountId }).first();
  if (after?.subscription_id === subscriptionId) return { ok: true };
  return after ? { ok: false, reason: 'used' } : { ok: false, reason: 'bought' };
}

// ---------------------------------------------------------------------------------------------
// Reads of the read model (the API's)

type Conn = Knex | Knex.Transaction;

/** One subscription's read-model row, or undefined. */
export async function getSubscription(db: Conn, id: string): Promise<Record<string, any> | undefined> {
  return db('subscriptions').where({ id }).first();
}

/** The account a subscription belongs to, or null when there is no such subscription. */
export async function subscriptionAccountId(db: Conn, id: string): Promise<string | null> {
  return (await db('subscriptions').where({ id }).first('account_id'))?.account_id ?? null;
}

/**
 * A page of subscriptions, newest first, keyset-paginated on (created_at, id). `cursor_at` is
 * created_at to the microsecond: cut to milliseconds, the cursor would skip rows.
 */
export async function listSubscriptions(db: Knex, p: { accountId?: string | null; status?: string; limit: number; before: [string, string] | null }): Promise<Record<string, any>[]> {
  const q = db('subscriptions')
    .select('subscriptions.*', db.raw(`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at`))
    .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
    .limit(p.limit);
  if (p.accountId) q.where({ account_id: p.accountId });
  if (p.status) q.where({ status: p.status });
  if (p.before) q.whereRaw('(created_at, id) < (?::timestamptz, ?)', p.before);
  return q;
}

/** The subscription's terms after `afterTerm`, oldest first. */
export async function listSubscriptionTerms(db: Knex, subscriptionId: string, p: { afterTerm: number; limit: number }): Promise<Record<string, any>[]> {
  return db('subscription_terms')
    .where({ subscription_id: subscriptionId })
    .andWhere('term_number', '>', p.afterTerm)
    .orderBy('term_number')
    .limit(p.limit);
}

/** What the timeline is made of: the subscription's events, its orders and its email notifications. */
export async function subscriptionTimelineRows(db: Knex, subscriptionId: string): Promise<{ events: Record<string, any>[]; orders: Record<string, any>[]; notes: Record<string, any>[] }> {
  const [events, orders, notes] = await Promise.all([
    db('subscription_events').where({ subscription_id: subscriptionId }).orderBy('seq'),
    db('orders').where({ subscription_id: subscriptionId }).orderBy('created_at'),
    db('notifications').where({ subscription_id: subscriptionId, channel: 'email' }).orderBy('id'),
  ]);
  return { events, orders, notes };
}

/** The workflows of the account's lapsing subscriptions (grace, frozen, isolated): a top-up concerns them (R-S6/S7/S9). */
export async function lapsingSubscriptionWorkflows(trx: Conn, accountId: string): Promise<string[]> {
  return trx('subscriptions').where({ account_id: accountId }).whereIn('status', ['grace', 'frozen', 'isolated']).pluck('workflow_id');
}
