import type { Knex } from 'knex';

// Issue #15: the sandbox SMS provider keeps what it would send, in Postgres, so a test, an
// operator (GET /v1/sandbox/sms) or a second worker all see the same outbox of a "provider".

export interface SandboxSms {
  notificationId: number;
  accountId: string;
  phone: string;
  template: string;
  language: string;
  body: string;
}

/** Idempotent on the notification: a retried delivery stores one message. */
export async function storeSandboxSms(db: Knex | Knex.Transaction, m: SandboxSms): Promise<void> {
  await db('sandbox_sms_messages')
    .insert({ notification_id: m.notificationId, account_id: m.accountId, phone: m.phone, template: m.template, language: m.language, body: m.body })
    .onConflict('notification_id')
    .ignore();
}

export async function listSandboxSms(db: Knex, p: { accountId?: string; limit: number; beforeId: number | null }): Promise<any[]> {
  const q = db('sandbox_sms_messages').orderBy('id', 'desc').limit(p.limit);
  if (p.accountId) q.where({ account_id: p.accountId });
  if (p.beforeId !== null) q.where('id', '<', p.beforeId);
  return q;
}
