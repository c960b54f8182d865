import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Knex } from 'knex';

// The outboxes: what must leave the database after the transaction that decided it commits.
//
// Notifications (R-S10): written in the same transaction as the state change they report, one
// row per channel; workers/notification-dispatcher.ts delivers them.
//
// Signals (issue #11, defect 10). A payment fact that a workflow must hear (a top-up:
// R-S6 "a top-up in grace renews at once", R-U5 "paying the debt restores") is written in the
// same transaction as the money, then delivered: at once by the API, and again by the worker's
// background loop until Temporal takes it. A top-up while Temporal is unreachable is therefore
// still heard once Temporal is back; the money and the signal can never disagree.

// R-S10: every notification goes to these channels through the outbox.
export const NOTIFICATION_CHANNELS = ['email', 'sms', 'in_app'] as const;

/** The outbox rows of one notification: one per channel, deduplicated by its key. */
export function notificationRows(n: { accountId: string; subscriptionId?: string | null; template: string; payload: Record<string, unknown>; dedupeKey: string; at: Date }) {
  return NOTIFICATION_CHANNELS.map((channel) => ({
    account_id: n.accountId,
    ...(n.subscriptionId ? { subscription_id: n.subscriptionId } : {}),
    channel,
    template: n.template,
    payload: n.payload,
    dedupe_key: n.dedupeKey,
    created_at: n.at,
  }));
}

export interface PendingSignal {
  workflowId: string;
  signal: string;
  payload: Record<string, unknown>;
}

const TABLE = 'workflow_signals';
const MAX_BACKOFF_MS = 5 * 60_000;

/** Writes the signals inside the caller's transaction; returns their ids (to deliver at once after commit). */
export async function enqueueSignals(trx: Knex | Knex.Transaction, signals: PendingSignal[]): Promise<number[]> {
  if (signals.length === 0) return [];
  const rows = await trx(TABLE)
    .insert(signals.map((s) => ({ workflow_id: s.workflowId, signal: s.signal, payload: JSON.stringify(s.payload) })))
    .returning('id');
  return rows.map((r: { id: number } | number) => (typeof r === 'number' ? r : r.id));
}

/**
 * Delivers pending signals (the given ids, or whatever is due), each claimed with SKIP LOCKED so
 * two processes never send the same row at once. A workflow that is gone (closed, or never
 * started) is a delivered-to-nobody signal: marked `skipped`. Anything else is retried later with
 * a growing backoff, up to 5 minutes apart, never dropped.
 */
export async function deliverSignals(db: Knex, temporal: Pick<Client, 'workflow' | 'connection'>, opts: { ids?: number[]; limit?: number; deadlineMs?: number } = {}): Promise<{ delivered: number; skipped: number; failed: number }> {
  const counts = { delivered: 0, skipped: 0, failed: 0 };
  for (let i = 0; i < (opts.limit ?? 100); i += 1) {
    const done = await db.transaction(async (trx) => {
      const q = trx(TABLE).where({ status: 'pending' }).where('next_attempt_at', '<=', trx.fn.now()).orderBy('next_attempt_at').forUpdate().skipLocked().first();
      if (opts.ids) q.whereIn('id', opts.ids);
      const row = await q;
      if (!row) return false;
      try {
        await temporal.connection.withDeadline(Date.now() + (opts.deadlineMs ?? 5_000), () => temporal.workflow.getHandle(row.workflow_id).signal(row.signal, row.payload));
        await trx(TABLE).where({ id: row.id }).update({ status: 'delivered', delivered_at: trx.fn.now(), attempts: row.attempts + 1 });
        counts.delivered += 1;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          await trx(TABLE).where({ id: row.id }).update({ status: 'skipped', delivered_at: trx.fn.now(), attempts: row.attempts + 1, last_error: 'workflow not running' });
          counts.skipped += 1;
        } else {
          const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(row.attempts, 20));
          await trx(TABLE).where({ id: row.id }).update({
            attempts: row.attempts + 1,
            last_error: String((err as Error)?.message ?? err).slice(0, 500),
            next_attempt_at: trx.raw(`now() + make_interval(secs => ?)`, [backoff / 1000]),
          });
          counts.failed += 1;
        }
      }
      return true;
    });
    if (!done) break;
  }
  return counts;
}

/** Signals not yet taken by Temporal (the outbox backlog operators watch). */
export async function pendingSignalCount(db: Knex): Promise<number> {
  const [{ n }] = await db(TABLE).where({ status: 'pending' }).count({ n: '*' });
  return Number(n);
}

/**
 * A page of the account's notification rows (one per notification and channel), newest first by
 * id; `beforeId` is the last id of the previous page.
 */
export async function listNotifications(db: Knex, accountId: string, p: { limit: number; channel?: string; subscriptionId?: string; beforeId: number | null; read?: boolean }): Promise<any[]> {
  const q = db('notifications').where({ account_id: accountId }).orderBy('id', 'desc').limit(p.limit);
  if (p.channel) q.andWhere({ channel: p.channel });
  if (p.read === true) q.whereNotNull('read_at');
  if (p.read === false) q.whereNull('read_at');
  if (p.subscriptionId) q.andWhere({ subscription_id: p.subscriptionId });
  if (p.beforeId !== null) q.andWhere('id', '<', p.beforeId);
  return q;
}

/** One notification row, or undefined (ids are bigint: anything else is simply not found). */
export async function getNotification(db: Knex, id: string): Promise<any | undefined> {
  if (!/^[1-9]\d{0,17}$/.test(id)) return undefined;
  return db('notifications').where({ id }).first();
}

/** Issue #15, the in-app inbox: marks read (keeping the first read instant) or unread again. */
export async function setNotificationRead(db: Knex, id: string, read: boolean, at: Date): Promise<any> {
  const [row] = await db('notifications')
    .where({ id })
    .update({ read_at: read ? db.raw('coalesce(read_at, ?)', [at]) : null })
    .returning('*');
  return row;
}

/** How many of the account's in-app notifications are unread. */
export async function unreadNotificationCount(db: Knex, accountId: string): Promise<number> {
  const [{ n }] = await db('notifications').where({ account_id: accountId, channel: 'in_app' }).whereNull('read_at').count({ n: '*' });
  return Number(n);
}
