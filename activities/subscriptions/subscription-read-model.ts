import type { Knex } from 'knex';
import type { SubscriptionState } from '../../workflows/subscription.types';

export interface RecordStateInput {
  state: SubscriptionState;
  event: string;
  at: number;
  details: Record<string, unknown>;
  notify: string | null;
}

// R-S10: every notification goes to these channels through the outbox.
export const NOTIFICATION_CHANNELS = ['email', 'in_app'] as const;

/** What kind of term a step starts (the first step of each term names it). */
const TERM_KIND: Record<string, string> = { purchased: 'purchase', trial_started: 'trial', renewed: 'renewal', renewed_manually: 'manual_renewal' };

const iso = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/**
 * Writes one workflow step to the read model in one transaction: the subscription row, the
 * timeline event and the outbox notifications. Idempotent on (subscription, seq): a retried or
 * stale write changes nothing, and the row never moves back to an older seq.
 */
export async function recordSubscriptionState(db: Knex, input: RecordStateInput): Promise<void> {
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
    updated_at: iso(input.at),
  };
  // One statement (data-modifying CTEs), so one round trip and atomic without BEGIN/COMMIT: the
  // subscription row, the timeline event and the outbox notifications are written together.
  const cols = Object.keys(row).filter((c) => c !== 'id' && c !== 'workflow_id');
  const upsert = db.raw(
    `insert into subscriptions (${Object.keys(row).join(', ')}) values (${Object.keys(row).map(() => '?').join(', ')})
     on conflict (id) do update set ${cols.map((c) => `${c} = excluded.${c}`).join(', ')},
       pending_edition = case when excluded.edition = subscriptions.pending_edition then null else subscriptions.pending_edition end
     where subscriptions.seq < excluded.seq`,
    Object.values(row) as Knex.Value[],
  );
  const event = db('subscription_events')
    .insert(eventRow(s, input))
    .onConflict(['subscription_id', 'seq', 'type'])
    .ignore();
  // The current term (issue #6 read model): created by the step that starts it, kept current
  // (an upgrade changes its edition) by every later step of that term.
  const term = db.raw(
    `insert into subscription_terms (subscription_id, term_number, kind, edition, starts_at, ends_at, order_id, seq, created_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?)
     on conflict (subscription_id, term_number) do update set edition = excluded.edition, ends_at = excluded.ends_at,
       order_id = coalesce(excluded.order_id, subscription_terms.order_id), seq = excluded.seq
     where subscription_terms.seq < excluded.seq`,
    [s.subscriptionId, s.termNumber, TERM_KIND[input.event] ?? (s.trial ? 'trial' : 'renewal'), s.edition, iso(s.termStartedAt), iso(s.expiresAt), s.termOrderId, s.seq, iso(input.at)] as Knex.Value[],
  );
  if (!input.notify) {
    await db.with('subscription_row', upsert).with('term_row', term).insert(eventRow(s, input)).into('subscription_events').onConflict(['subscription_id', 'seq', 'type']).ignore();
    return;
  }
  const payload = { subscription_id: s.subscriptionId, product: s.product, edition: s.edition, status: s.status, expires_at: iso(s.expiresAt), ...input.details };
  await db
    .with('subscription_row', upsert)
    .with('term_row', term)
    .with('timeline_event', event)
    .insert(NOTIFICATION_CHANNELS.map((channel) => ({
      account_id: s.accountId,
      subscription_id: s.subscriptionId,
      channel,
      template: input.notify,
      payload,
      dedupe_key: `${s.subscriptionId}:${s.seq}:${input.notify}`,
      created_at: iso(input.at),
    })))
    .into('notifications')
    .onConflict(['dedupe_key', 'channel'])
    .ignore();
}

function eventRow(s: SubscriptionState, input: RecordStateInput) {
  return { subscription_id: s.subscriptionId, seq: s.seq, type: input.event, status: s.status, at: iso(input.at), details: input.details };
}
