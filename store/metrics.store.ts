import type { Knex } from 'knex';
import type { OperationalSnapshot } from '../common/metrics';

/**
 * What the scrape-time gauges show (issue 14), in one round trip: subscriptions by status (the
 * read model), the settlement lag, the outbox backlog and the releases not yet acknowledged. Cheap enough to run on every scrape:
 * each part is an aggregate over an indexed column or a small table.
 */
export async function readOperationalSnapshot(db: Knex): Promise<OperationalSnapshot> {
  const { rows } = await db.raw<{ rows: { part: string; key: string | null; n: string }[] }>(`
    select 'subscriptions' as part, status as key, count(*)::text as n from subscriptions group by status
    union all
    -- R-U1: an account at rest (dormant_since set, R-U2) has nothing to settle, so its watermark
    -- standing still is not lag.
    select 'lag', null, coalesce(max(extract(epoch from now() - settled_through)), 0)::text
      from usage_accounts where settled_through is not null and dormant_since is null
    union all
    select 'outbox', channel, count(*)::text from notifications where status = 'pending' group by channel
    union all
    select 'outbox', 'signal', count(*)::text from workflow_signals where status = 'pending'
    union all
    select 'releases', null, count(*)::text from status_change_events where type = 'resource.release' and acknowledged_at is null`);
  const out: OperationalSnapshot = { subscriptionsByStatus: {}, settlementLagSeconds: 0, outboxBacklogByKind: {}, unacknowledgedReleases: 0 };
  for (const r of rows) {
    if (r.part === 'subscriptions' && r.key) out.subscriptionsByStatus[r.key] = Number(r.n);
    else if (r.part === 'lag') out.settlementLagSeconds = Math.max(0, Number(r.n));
    else if (r.part === 'outbox' && r.key) out.outboxBacklogByKind[r.key] = Number(r.n);
    else if (r.part === 'releases') out.unacknowledgedReleases = Number(r.n);
  }
  return out;
}
