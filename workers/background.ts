import type { Knex } from 'knex';
import type { PaymentEngine } from '../payments/payment-engine';
import { deliverPendingNotifications, inAppChannel, logChannel, NotificationChannel } from './notification-dispatcher';
import type { Client } from '@temporalio/client';
import type { Logger } from '../common/logger';
import { deliverSignals } from '../store/outbox.store';
import { deliverStatusChanges, WebhookSenderOptions } from './webhook-sender';

/**
 * The worker process's housekeeping loops: deliver the notification outbox (R-S10), the status
 * change calls (R-I4) and the
 * workflow-signal outbox (a top-up's signal, issue #11), and resolve
 * payments whose process died mid-charge (R-P4: locks are captured or released by asking the
 * gateway, never left held). Each loop runs one round at a time; stop() waits for the round.
 */
export function startBackgroundLoops(deps: { db: Knex; payments: PaymentEngine; logger: Logger; temporal?: Client; intervalMs?: number; channels?: Record<string, NotificationChannel>; webhooks?: WebhookSenderOptions }): { stop(): Promise<void> } {
  const channels = deps.channels ?? { email: logChannel(deps.logger, 'email'), sms: logChannel(deps.logger, 'sms'), in_app: inAppChannel };
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const round = async () => {
    try {
      const n = await deliverPendingNotifications(deps.db, channels);
      if (n.sent || n.failed) deps.logger.debug(n, 'notification round');
      // R-I4: status change calls due now (first sends and retries).
      const h = await deliverStatusChanges(deps.db, deps.webhooks);
      if (h.retried || h.failed) deps.logger.warn(h, 'status change calls not acknowledged yet');
      const p = await deps.payments.recoverStalePayments();
      if (p.captured || p.released || p.errors) deps.logger.warn(p, 'stale payments resolved');
      // Signals written with money (a top-up) that Temporal did not take at once (store/outbox.store).
      if (deps.temporal) {
        const s = await deliverSignals(deps.db, deps.temporal);
        if (s.failed) deps.logger.warn(s, 'workflow signals not delivered yet; retrying');
      }
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
