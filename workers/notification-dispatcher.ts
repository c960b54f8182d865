import type { Knex } from 'knex';
import type { Logger } from '../common/logger';

// R-S10: notifications are written to the outbox (`notifications`) in the same transaction as
// the state change they report; this dispatcher delivers them through pluggable channels.
// Delivery is at-least-once: a row is marked sent only after its channel accepted it.

export interface OutboxNotification {
  id: number;
  account_id: string;
  subscription_id: string | null;
  channel: string;
  template: string;
  payload: Record<string, unknown>;
  attempts: number;
}

/**
 * A delivery channel (email, SMS, in-app…). A real provider adapter implements `send`; it answers
 * `{ skipped }` when there is nowhere to send (an account without an email address).
 */
export interface NotificationChannel {
  send(n: OutboxNotification): Promise<void | { skipped: string }>;
}

/** Sandbox email/SMS: writes the message to the structured log instead of a provider. */
export function logChannel(logger: Logger, channel: string): NotificationChannel {
  return {
    async send(n): Promise<void> {
      logger.info({ channel, notificationId: n.id, accountId: n.account_id, template: n.template, payload: n.payload }, 'notification delivered');
    },
  };
}

/** In-app: the message is shown from the outbox itself (GET …/notifications); delivery is marking it. */
export const inAppChannel: NotificationChannel = { async send(): Promise<void> { /* nothing to push */ } };

export const MAX_DELIVERY_ATTEMPTS = 8;
/** After a failed send the row waits base × 2^(attempts − 1): 30 s, 1 min, 2 min … about 2 hours in all. */
export const RETRY_BASE_MS = 30_000;

/**
 * Delivers up to `limit` due notifications. Rows are claimed with SKIP LOCKED so several
 * dispatchers never send one twice concurrently; a failure is retried with exponential backoff
 * until MAX_DELIVERY_ATTEMPTS, then marked failed.
 */
export async function deliverPendingNotifications(
  db: Knex,
  channels: Record<string, NotificationChannel>,
  opts: { limit?: number; now?: () => Date; retryBaseMs?: number } = {},
): Promise<{ sent: number; failed: number; retried: number; skipped: number }> {
  const now = opts.now ?? (() => new Date());
  const result = { sent: 0, failed: 0, retried: 0, skipped: 0 };
  await db.transaction(async (trx) => {
    const rows: OutboxNotification[] = await trx('notifications')
      .where({ status: 'pending' })
      .where('next_attempt_at', '<=', trx.fn.now())
      .orderBy('id')
      .limit(opts.limit ?? 100)
      .forUpdate()
      .skipLocked();
    for (const row of rows) {
      const channel = channels[row.channel];
      try {
        if (!channel) throw new Error(`no channel configured for ${row.channel}`);
        const r = await channel.send(row);
        if (r && 'skipped' in r) {
          await trx('notifications').where({ id: row.id }).update({ status: 'skipped', attempts: row.attempts + 1, last_error: r.skipped });
          result.skipped += 1;
        } else {
          await trx('notifications').where({ id: row.id }).update({ status: 'sent', sent_at: now(), attempts: row.attempts + 1, last_error: null });
          result.sent += 1;
        }
      } catch (err) {
        const attempts = row.attempts + 1;
        const failed = attempts >= MAX_DELIVERY_ATTEMPTS;
        const waitS = ((opts.retryBaseMs ?? RETRY_BASE_MS) * 2 ** (attempts - 1)) / 1000;
        await trx('notifications').where({ id: row.id }).update({
          status: failed ? 'failed' : 'pending',
          attempts,
          last_error: String(err instanceof Error ? err.message : err).slice(0, 500),
          next_attempt_at: trx.raw('now() + make_interval(secs => ?)', [waitS]),
        });
        if (failed) result.failed += 1;
        else result.retried += 1;
      }
    }
  });
  return result;
}
