import type { Knex } from 'knex';
import { WEBHOOK_RETRY_WINDOW_MS, webhookBackoffMs } from '../billing/status-change-events';
import { derivedId, newId } from '../common/ids';

// R-I4 / issue #15: resource status change calls in Postgres.
//
// A state change is a row of `status_change_events`, written in the same transaction as the step
// that made it, with an id derived from that step (a retried write inserts nothing). It is fanned
// out at once to every live endpoint that wants its type, as one `webhook_deliveries` row each.
// The worker's loop (workers/webhook-sender.ts) claims due deliveries with SKIP LOCKED, POSTs,
// logs every attempt in `webhook_attempts`, and retries with backoff for 3 days.

type Conn = Knex | Knex.Transaction;

export interface StatusChange {
  /** What makes the change unique (e.g. `<subscription>:<seq>:<type>`): the event id derives from it. */
  key: string;
  type: string;
  accountId: string;
  subscriptionId?: string | null;
  data: Record<string, unknown>;
  at: Date;
}

export const eventIdOf = (key: string): string => derivedId('evt', key);

/** Writes the changes (idempotent on their ids) and a delivery per endpoint that wants each new one. */
export async function recordStatusChanges(db: Conn, changes: StatusChange[]): Promise<void> {
  if (changes.length === 0) return;
  const rows = changes.map((c) => ({
    id: eventIdOf(c.key),
    type: c.type,
    account_id: c.accountId,
    subscription_id: c.subscriptionId ?? null,
    data: JSON.stringify(c.data),
    created_at: c.at,
  }));
  await db('status_change_events').insert(rows).onConflict('id').ignore();
  // Idempotent too (one delivery per event and endpoint), so a retried write that finds its events
  // already there still completes their fan-out.
  await db.raw(
    `insert into webhook_deliveries (event_id, endpoint_id, give_up_at)
     select e.id, w.id, now() + make_interval(secs => ?)
       from status_change_events e
       join webhook_endpoints w on w.deleted_at is null
        and (w.events @> jsonb_build_array(e.type) or w.events @> '["*"]'::jsonb)
      where e.id = any(?)
     on conflict (event_id, endpoint_id) do nothing`,
    [WEBHOOK_RETRY_WINDOW_MS / 1000, rows.map((r) => r.id)],
  );
}

// ---------------------------------------------------------------------------------------------
// Endpoints (operators)

export interface EndpointRow {
  id: string;
  url: string;
  events: string[];
  secret: string;
  description: string | null;
  created_at: Date;
  deleted_at: Date | null;
}

export async function createEndpoint(db: Knex, e: { url: string; events: string[]; secret: string; description?: string | null }): Promise<EndpointRow> {
  const [row] = await db('webhook_endpoints')
    .insert({ id: newId('whe'), url: e.url, events: JSON.stringify(e.events), secret: e.secret, description: e.description ?? null, created_at: new Date() }) // ms precision, like the list's cursor
    .returning('*');
  return row;
}

export async function listEndpoints(db: Knex, p: { limit: number; before: { at: string; id: string } | null }): Promise<EndpointRow[]> {
  const q = db('webhook_endpoints').whereNull('deleted_at').orderBy('created_at', 'desc').orderBy('id', 'desc').limit(p.limit);
  if (p.before) q.whereRaw('(created_at, id) < (?, ?)', [p.before.at, p.before.id]);
  return q;
}

export async function getEndpoint(db: Knex, id: string): Promise<EndpointRow | undefined> {
  return db('webhook_endpoints').where({ id }).whereNull('deleted_at').first();
}

/**
 * Stops calls to the endpoint: its pending deliveries are never claimed again (they stay in the
 * log). An event it had not acknowledged counts as acknowledged once every live endpoint that
 * wanted it has; with none left that did, it stays unacknowledged (nobody confirmed it).
 */
export async function deleteEndpoint(db: Knex, id: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    const n = await trx('webhook_endpoints').where({ id }).whereNull('deleted_at').update({ deleted_at: trx.fn.now() });
    if (n === 0) return false;
    await trx.raw(
      `update status_change_events e set acknowledged_at = now()
        where e.acknowledged_at is null
          and exists (select 1 from webhook_deliveries d where d.event_id = e.id and d.endpoint_id = ? and d.status <> 'delivered')
          and exists (select 1 from webhook_deliveries d join webhook_endpoints w on w.id = d.endpoint_id
                       where d.event_id = e.id and d.status = 'delivered' and w.deleted_at is null)
          and not exists (select 1 from webhook_deliveries d join webhook_endpoints w on w.id = d.endpoint_id
                           where d.event_id = e.id and d.status <> 'delivered' and w.deleted_at is null)`,
      [id],
    );
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Deliveries and their attempts

const deliveryColumns = ['d.*', 'e.type as event_type', 'e.account_id', 'e.subscription_id'];

export async function listDeliveries(db: Knex, p: { endpointId?: string; eventId?: string; status?: string; limit: number; beforeId: number | null }): Promise<any[]> {
  const q = db({ d: 'webhook_deliveries' }).join({ e: 'status_change_events' }, 'e.id', 'd.event_id').select(deliveryColumns).orderBy('d.id', 'desc').limit(p.limit);
  if (p.endpointId) q.where('d.endpoint_id', p.endpointId);
  if (p.eventId) q.where('d.event_id', p.eventId);
  if (p.status) q.where('d.status', p.status);
  if (p.beforeId !== null) q.where('d.id', '<', p.beforeId);
  return q;
}

export async function getDelivery(db: Knex, id: string): Promise<any | undefined> {
  if (!/^[1-9]\d{0,17}$/.test(id)) return undefined;
  return db({ d: 'webhook_deliveries' }).join({ e: 'status_change_events' }, 'e.id', 'd.event_id').select(deliveryColumns).where('d.id', id).first();
}

export async function attemptsOf(db: Knex, deliveryIds: (string | number)[]): Promise<any[]> {
  if (deliveryIds.length === 0) return [];
  return db('webhook_attempts').whereIn('delivery_id', deliveryIds).orderBy('id');
}

/** Replay: the delivery is due again now, with a fresh 3-day window; its log keeps the earlier attempts. */
export async function replayDelivery(db: Knex, id: string): Promise<void> {
  await db('webhook_deliveries').where({ id }).update({
    status: 'pending',
    next_attempt_at: db.fn.now(),
    give_up_at: db.raw('now() + make_interval(secs => ?)', [WEBHOOK_RETRY_WINDOW_MS / 1000]),
  });
}

export interface OutgoingCall {
  deliveryId: number;
  attempt: number;
  url: string;
  secret: string;
  event: { id: string; type: string; created_at: string; data: Record<string, unknown> };
}

export type CallResult = { statusCode: number | null; error: string | null; durationMs: number };

/**
 * Sends what is due, one delivery per transaction: the row is claimed FOR UPDATE SKIP LOCKED, so two
 * workers never send it at once, and stays locked until its outcome is written. A 2xx delivers it
 * (and acknowledges the event once every endpoint has); anything else is retried with exponential
 * backoff until its 3-day window ends, then marked failed. Every attempt is logged.
 */
export async function sendDueDeliveries(
  db: Knex,
  post: (call: OutgoingCall) => Promise<CallResult>,
  opts: { limit?: number; backoffBaseMs?: number; ids?: number[] } = {},
): Promise<{ delivered: number; retried: number; failed: number }> {
  const counts = { delivered: 0, retried: 0, failed: 0 };
  for (let i = 0; i < (opts.limit ?? 50); i += 1) {
    const done = await db.transaction(async (trx) => {
      const q = trx({ d: 'webhook_deliveries' })
        .join({ w: 'webhook_endpoints' }, 'w.id', 'd.endpoint_id')
        .join({ e: 'status_change_events' }, 'e.id', 'd.event_id')
        .where('d.status', 'pending')
        .whereNull('w.deleted_at')
        .where('d.next_attempt_at', '<=', trx.fn.now())
        .orderBy('d.next_attempt_at')
        .orderBy('d.id')
        .first('d.id', 'd.attempts', 'd.give_up_at', 'w.url', 'w.secret', 'e.id as event_id', 'e.type', 'e.created_at', 'e.data')
        .forUpdate('d')
        .skipLocked();
      if (opts.ids) q.whereIn('d.id', opts.ids);
      const row = await q;
      if (!row) return false;
      const attempt = row.attempts + 1;
      const r = await post({
        deliveryId: Number(row.id),
        attempt,
        url: row.url,
        secret: row.secret,
        event: { id: row.event_id, type: row.type, created_at: new Date(row.created_at).toISOString(), data: row.data },
      });
      await trx('webhook_attempts').insert({ delivery_id: row.id, attempt, status_code: r.statusCode, error: r.error?.slice(0, 500) ?? null, duration_ms: Math.round(r.durationMs) });
      const ok = r.statusCode !== null && r.statusCode >= 200 && r.statusCode < 300;
      if (ok) {
        await trx('webhook_deliveries').where({ id: row.id }).update({ status: 'delivered', attempts: attempt, delivered_at: trx.fn.now(), last_status_code: r.statusCode, last_error: null });
        await trx.raw(
          `update status_change_events e set acknowledged_at = now()
            where e.id = ? and e.acknowledged_at is null and not exists (
              select 1 from webhook_deliveries d join webhook_endpoints w on w.id = d.endpoint_id
               where d.event_id = e.id and d.status <> 'delivered' and w.deleted_at is null)`,
          [row.event_id],
        );
        counts.delivered += 1;
        return true;
      }
      const next = Date.now() + webhookBackoffMs(attempt, opts.backoffBaseMs);
      const giveUp = next > new Date(row.give_up_at).getTime();
      await trx('webhook_deliveries').where({ id: row.id }).update({
        status: giveUp ? 'failed' : 'pending',
        attempts: attempt,
        last_status_code: r.statusCode,
        last_error: r.error?.slice(0, 500) ?? `HTTP ${r.statusCode}`,
        next_attempt_at: new Date(next),
      });
      if (giveUp) counts.failed += 1;
      else counts.retried += 1;
      return true;
    });
    if (!done) break;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// Status changes (operators): an unacknowledged release costs the seller (R-I4)

export async function listStatusChanges(db: Knex, p: { unacknowledged?: boolean; type?: string; accountId?: string; subscriptionId?: string; limit: number; beforeCreated: { at: string; id: string } | null }): Promise<any[]> {
  const q = db('status_change_events').orderBy('created_at', 'desc').orderBy('id', 'desc').limit(p.limit);
  if (p.unacknowledged === true) q.whereNull('acknowledged_at');
  if (p.unacknowledged === false) q.whereNotNull('acknowledged_at');
  if (p.type) q.where({ type: p.type });
  if (p.accountId) q.where({ account_id: p.accountId });
  if (p.subscriptionId) q.where({ subscription_id: p.subscriptionId });
  if (p.beforeCreated) q.whereRaw('(created_at, id) < (?, ?)', [p.beforeCreated.at, p.beforeCreated.id]);
  const events = await q;
  if (events.length === 0) return events;
  const tallies: { event_id: string; status: string; n: string }[] = await db('webhook_deliveries').whereIn('event_id', events.map((e) => e.id)).groupBy('event_id', 'status').select('event_id', 'status').count({ n: '*' });
  return events.map((e) => ({
    ...e,
    deliveries: Object.fromEntries(tallies.filter((t) => t.event_id === e.id).map((t) => [t.status, Number(t.n)])),
  }));
}

/** How many releases no endpoint has acknowledged yet (a metric when the worker serves one). */
export async function unacknowledgedReleaseCount(db: Knex): Promise<number> {
  const [{ n }] = await db('status_change_events').where({ type: 'resource.release' }).whereNull('acknowledged_at').count({ n: '*' });
  return Number(n);
}
