import type { Knex } from 'knex';
import nodemailer from 'nodemailer';
import { DEFAULT_LANGUAGE, isLanguage, renderNotification } from '../billing/notification-templates';
import type { Logger } from '../common/logger';
import { getAccount } from '../store/accounts.store';
import { storeSandboxSms } from '../store/sms.store';
import { inAppChannel, logChannel, NotificationChannel, OutboxNotification } from './notification-dispatcher';

// Issue #15: the channels that reach people. Each renders the row's template in the account's
// language (billing/notification-templates) and sends it to the account's address; an account
// without an address for the channel is `skipped` (not an error, nothing to retry).
//
// Email: nodemailer over SMTP (SMTP_URL, SMTP_FROM). nodemailer is the de-facto SMTP client for
// Node (maintained since 2010, no runtime dependencies, pooled connections, STARTTLS/SMTPS),
// so we do not hand-roll SMTP. SMS: a provider interface; the sandbox stores what it would send.

export interface SmsProvider {
  send(m: { to: string; body: string; notificationId: number; accountId: string; template: string; language: string }): Promise<void>;
}

/** The sandbox SMS provider: messages land in `sandbox_sms_messages` (GET /v1/sandbox/sms). */
export function sandboxSmsProvider(db: Knex): SmsProvider {
  return { send: (m) => storeSandboxSms(db, { notificationId: m.notificationId, accountId: m.accountId, phone: m.to, template: m.template, language: m.language, body: m.body }) };
}

async function recipient(db: Knex, n: OutboxNotification, field: 'email' | 'phone') {
  const account = await getAccount(db, n.account_id);
  const to = account?.[field] ?? null;
  const language = isLanguage(account?.language) ? account.language : DEFAULT_LANGUAGE;
  return { to, language };
}

export function smtpEmailChannel(db: Knex, opts: { smtpUrl: string; from: string; offsetMinutes: number }): NotificationChannel & { close(): void } {
  // Short timeouts: the dispatcher holds its claimed rows while it sends, so a silent server must
  // fail fast and be retried later rather than hold the batch for nodemailer's default 2 minutes.
  const transport = nodemailer.createTransport({ url: opts.smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
  return {
    async send(n) {
      const { to, language } = await recipient(db, n, 'email');
      if (!to) return { skipped: 'the account has no email address' };
      const m = renderNotification(n.template, n.payload, language, opts.offsetMinutes);
      await transport.sendMail({
        from: opts.from,
        to,
        subject: m.subject,
        text: m.text,
        // One message per outbox row: a receiving system can deduplicate a retried send.
        messageId: `<notification-${n.id}@quotaflow>`,
        headers: { 'X-Quotaflow-Template': n.template, 'Content-Language': language },
      });
    },
    close: () => transport.close(),
  };
}

export function smsChannel(db: Knex, provider: SmsProvider, offsetMinutes: number): NotificationChannel {
  return {
    async send(n) {
      const { to, language } = await recipient(db, n, 'phone');
      if (!to) return { skipped: 'the account has no phone number' };
      const m = renderNotification(n.template, n.payload, language, offsetMinutes);
      await provider.send({ to, body: m.sms, notificationId: n.id, accountId: n.account_id, template: n.template, language });
    },
  };
}

/** The channels the worker delivers through, from the settings (common/config). */
export function createNotificationChannels(deps: { db: Knex; logger: Logger; offsetMinutes: number; smtpUrl?: string; smtpFrom: string }): Record<string, NotificationChannel> {
  return {
    email: deps.smtpUrl ? smtpEmailChannel(deps.db, { smtpUrl: deps.smtpUrl, from: deps.smtpFrom, offsetMinutes: deps.offsetMinutes }) : logChannel(deps.logger, 'email'),
    sms: smsChannel(deps.db, sandboxSmsProvider(deps.db), deps.offsetMinutes),
    in_app: inAppChannel,
  };
}
