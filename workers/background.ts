import type { Knex } from 'knex';
import type { PaymentEngine } from '../activities/payments/payment-engine';
import { deliverPendingNotifications, inAppChannel, logChannel, NotificationChannel } from '../activities/notifications/notification-dispatcher';
import type { Logger } from '../common/logger';

/**
 * The worker process's housekeeping loops: deliver the notification outbox (R-S10) and resolve
 * payments whose process died mid-charge (R-P4: locks are captured or released by asking the
 * gateway, never left held). Each loop runs one round at a time; stop() waits for the round.
 */
export function startBackgroundLoops(deps: { db: Knex; payments: PaymentEngine; logger: Logger; intervalMs?: number; channels?: Record<string, NotificationChannel> }): { stop(): Promise<void> } {
  const channels = deps.channels ?? { email: logChannel(deps.logger, 'email'), sms: logChannel(deps.logger, 'sms'), in_app: inAppChannel };
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const round = async () => {
    try {
      const n = await deliverPendingNotifications(deps.db, channels);
      if (n.sent || n.failed) deps.logger.debug(n, 'notification round');
      const p = await deps.payments.recoverStalePayments();
      if (p.captured || p.released) deps.logger.warn(p, 'stale payments resolved');
    } catch (err) {
      deps.logger.error({ err }, 'background round failed');
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    current = current.then(round);
  }, deps.intervalMs ?? 2000);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}
