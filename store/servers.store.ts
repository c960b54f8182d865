import type { Knex } from 'knex';
import { recordPowerChange } from './usage.store';
import {
  AgentStatus,
  AUTO_BIND_PRODUCT,
  BindingQuota,
  BindingRefusal,
  bindingRefusal,
  BindingServer,
  chooseQuotaForServer,
  QuotaCandidate,
  ServerKind,
} from '../billing/binding-rules';
import type { SubscriptionStatus } from '../billing/renewal-schedule';
import { type Catalog, findEdition } from '../catalog/catalog';
import { recordStatusChanges } from './status-changes.store';
import { newId } from '../common/ids';

// Servers and bindings in Postgres, in one place (SPEC §6). They are not workflow-owned state:
// the API registers servers and binds quotas directly; the subscription workflow's activities
// suspend, restore and delete bindings (R-Q4) through the functions at the end of this file.
//
// Locking protocol, shared by both halves:
// - whoever changes a quota's bindings locks its `subscriptions` row FOR UPDATE first, then the
//   server row; so two binds to one quota are serialized and its count never passes its
//   quantity (R-Q3), and no two lockers wait on each other in opposite order;
// - a bind re-reads, after taking the lock, the quota's status and its binding hold
//   (`subscription_binding_holds`): the workflow writes the hold when it unbinds, before it
//   records frozen/released, so a bind can never leave a live binding on a lapsed quota (R-Q4).

export type Power = 'running' | 'stopped';

export interface ServerRow {
  id: string;
  account_id: string;
  region: string;
  kind: ServerKind;
  agent: AgentStatus;
  power: Power;
  created_at: Date;
  updated_at: Date;
  /** created_at to the microsecond, for keyset pagination (a JS Date keeps only milliseconds). */
  cursor_at: string;
}

/** A live binding with the quota it uses. `suspended_at` set = protection stopped (R-Q4). */
export interface BindingRow {
  id: string;
  subscription_id: string;
  server_id: string;
  account_id: string;
  product: string;
  edition: string;
  region: string;
  created_at: Date;
  suspended_at: Date | null;
  cursor_at: string;
}

export type ServerWithBinding = ServerRow & { binding: BindingRow | null };

type Conn = Knex | Knex.Transaction;

const PROTECTED: SubscriptionStatus[] = ['trial', 'active', 'grace'];
const TERMINAL: SubscriptionStatus[] = ['released', 'unsubscribed'];

// Keyset cursors carry the full timestamptz: a cursor cut to milliseconds would skip rows
// created in the same millisecond.
const cursorAt = (db: Conn, column: string) => db.raw(`to_char(?? at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at`, [column]);

const bindingColumns = [
  'b.id', 'b.subscription_id', 'b.server_id', 'b.created_at', 'b.suspended_at',
  's.account_id', 's.product', 's.edition', 's.region',
];

function liveBindings(db: Conn) {
  return db({ b: 'bindings' }).join({ s: 'subscriptions' }, 's.id', 'b.subscription_id').whereNull('b.deleted_at').select([...bindingColumns, cursorAt(db, 'b.created_at')]);
}

const serverRows = (db: Conn) => db('servers').select('servers.*', cursorAt(db, 'servers.created_at'));

// ---------------------------------------------------------------------------------------------
// Reads

export async function getServer(db: Conn, id: string): Promise<ServerWithBinding | undefined> {
  const server: ServerRow | undefined = await serverRows(db).where({ id }).first();
  if (!server) return undefined;
  const binding: BindingRow | undefined = await liveBindings(db).where('b.server_id', id).first();
  return { ...server, binding: binding ?? null };
}

/** A page of servers, newest first, with their live bindings; keyset on (created_at, id). */
export async function listServers(db: Knex, p: { accountId: string | null; limit: number; after: { createdAt: string; id: string } | null }): Promise<ServerWithBinding[]> {
  const q = serverRows(db).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(p.limit);
  if (p.accountId) q.where({ account_id: p.accountId });
  if (p.after) q.whereRaw('(created_at, id) < (?::timestamptz, ?)', [p.after.createdAt, p.after.id]);
  const servers: ServerRow[] = await q;
  if (servers.length === 0) return [];
  const bindings: BindingRow[] = await liveBindings(db).whereIn('b.server_id', servers.map((s) => s.id));
  const byServer = new Map(bindings.map((b) => [b.server_id, b]));
  return servers.map((s) => ({ ...s, binding: byServer.get(s.id) ?? null }));
}

export async function getLiveBinding(db: Conn, id: string): Promise<BindingRow | undefined> {
  return liveBindings(db).where('b.id', id).first();
}

/** The account's server row (without its binding), or undefined. */
export async function getAccountServer(db: Conn, accountId: string, serverId: string): Promise<Record<string, any> | undefined> {
  return db('servers').where({ id: serverId, account_id: accountId }).first();
}

/** The server's binding that protects it now (live and not suspended), or undefined. */
export async function protectingBinding(db: Conn, serverId: string): Promise<{ id: string } | undefined> {
  return db('bindings').where({ server_id: serverId }).whereNull('deleted_at').whereNull('suspended_at').first('id');
}

/** A page of a subscription's live bindings, oldest first; keyset on (created_at, id). */
export async function listSubscriptionBindings(db: Knex, p: { subscriptionId: string; limit: number; after: { createdAt: string; id: string } | null }): Promise<BindingRow[]> {
  const q = liveBindings(db).where('b.subscription_id', p.subscriptionId).orderBy([{ column: 'b.created_at', order: 'asc' }, { column: 'b.id', order: 'asc' }]).limit(p.limit);
  if (p.after) q.whereRaw('(b.created_at, b.id) > (?::timestamptz, ?)', [p.after.createdAt, p.after.id]);
  return q;
}

// ---------------------------------------------------------------------------------------------
// Servers

/**
 * R-Q1 / R-Q2: registers a server; when the account has auto-binding on, the server gets a quota
 * in the same transaction (R-Q2: no order, no charge). The power state is recorded for
 * pay-per-use billing (R-U1).
 */
export async function registerServer(db: Knex, catalog: Catalog, p: { accountId: string; region: string; kind: ServerKind; agent: AgentStatus; power: Power; at: Date }): Promise<ServerWithBinding> {
  return db.transaction(async (trx) => {
    const id = newId('srv');
    await trx('servers').insert({ id, account_id: p.accountId, region: p.region, kind: p.kind, agent: p.agent, power: p.power });
    const account = await trx('accounts').where({ id: p.accountId }).first('auto_binding');
    if (account?.auto_binding) await autoBind(trx, catalog, id);
    await recordPowerChange(trx, id, p.power, p.at); // R-U1: settlement needs every power state
    return (await getServer(trx, id)) as ServerWithBinding;
  });
}

/**
 * Agent and power changes. Returns the server before and after. A server whose agent comes
 * online for the first time and was never bound gets its automatic binding then (R-Q2 applied
 * when R-Q1 first allows it); later agent flaps never rebind a server the customer unbound.
 */
export async function updateServer(db: Knex, catalog: Catalog, id: string, patch: { agent?: AgentStatus; power?: Power; at: Date }): Promise<{ before: ServerRow; after: ServerWithBinding } | undefined> {
  const changed = await db.transaction(async (trx) => {
    const before: ServerRow | undefined = await trx('servers').where({ id }).forUpdate().first();
    if (!before) return undefined;
    const next = { agent: patch.agent ?? before.agent, power: patch.power ?? before.power };
    if (next.agent !== before.agent || next.power !== before.power) {
      await trx('servers').where({ id }).update({ ...next, updated_at: trx.fn.now() });
    }
    if (next.power !== before.power) await recordPowerChange(trx, id, next.power, patch.at); // R-U1
    return { before };
  });
  if (!changed) return undefined;
  const { before } = changed;
  if (before.agent === 'offline' && patch.agent === 'online') {
    // A separate transaction: autoBind locks quotas before the server (the shared lock order).
    await db.transaction(async (trx) => {
      const account = await trx('accounts').where({ id: before.account_id }).first('auto_binding');
      const everBound = await trx('bindings').where({ server_id: id }).first('id');
      if (account?.auto_binding && !everBound) await autoBind(trx, catalog, id);
    });
  }
  return { before, after: (await getServer(db, id)) as ServerWithBinding };
}

export async function setAutoBinding(db: Knex, accountId: string, enabled: boolean): Promise<boolean> {
  const n = await db('accounts').where({ id: accountId }).update({ auto_binding: enabled });
  return n > 0;
}

// ---------------------------------------------------------------------------------------------
// Bindings

function toBindingServer(s: ServerRow, boundTo: string | null): BindingServer {
  return { id: s.id, accountId: s.account_id, region: s.region, kind: s.kind, agent: s.agent, boundTo };
}

function editionKinds(catalog: Catalog, product: string, edition: string): readonly ServerKind[] {
  return findEdition(catalog, product, edition)?.server_kinds ?? [];
}

function toQuota(catalog: Catalog, sub: Record<string, any>, held: boolean): BindingQuota {
  return {
    id: sub.id,
    accountId: sub.account_id,
    product: sub.product,
    edition: sub.edition,
    billingMode: sub.billing_mode,
    status: sub.status,
    region: sub.region,
    quantity: sub.quantity,
    // An edition the catalog no longer lists protects nothing new (BINDING.SERVER_KIND).
    serverKinds: editionKinds(catalog, sub.product, sub.edition),
    // R-S12: an upgrade under way (migration 006); binding-rules protectableKinds applies it.
    upgrading: sub.pending_edition ? { edition: sub.pending_edition, serverKinds: editionKinds(catalog, sub.product, sub.pending_edition) } : undefined,
    bindingsHeld: held,
  };
}

async function serverBoundTo(trx: Knex.Transaction, serverId: string): Promise<string | null> {
  const live = await trx('bindings').where({ server_id: serverId }).whereNull('deleted_at').first('subscription_id');
  return live?.subscription_id ?? null;
}

async function insertBinding(trx: Knex.Transaction, subscriptionId: string, serverId: string): Promise<BindingRow> {
  const id = newId('bnd');
  await trx('bindings').insert({ id, subscription_id: subscriptionId, server_id: serverId });
  const binding = (await getLiveBinding(trx, id)) as BindingRow;
  await bindingStatusChange(trx, 'resource.bind', id, subscriptionId, serverId);
  return binding;
}

/** R-I4 (issue #15): the protecting system hears that a quota now protects, or no longer protects, a server. */
async function bindingStatusChange(trx: Knex.Transaction, type: 'resource.bind' | 'resource.unbind', bindingId: string, subscriptionId: string, serverId: string): Promise<void> {
  const sub = await trx('subscriptions').where({ id: subscriptionId }).first('account_id', 'product', 'edition', 'region');
  const data = { binding_id: bindingId, subscription_id: subscriptionId, server_id: serverId, account_id: sub.account_id, product: sub.product, edition: sub.edition, region: sub.region };
  await recordStatusChanges(trx, [{ key: `${bindingId}:${type}`, type, accountId: sub.account_id, subscriptionId, data, at: new Date() }]);
}

/**
 * R-Q1 / R-Q3: binds a quota to a server, or says why not. The quota row is locked while its
 * live bindings are counted, so concurrent binds never exceed its quantity.
 */
export async function bindQuota(db: Knex, catalog: Catalog, p: { subscriptionId: string; serverId: string }): Promise<{ binding: BindingRow } | { refusal: BindingRefusal } | { missing: 'subscription' | 'server' }> {
  return db.transaction(async (trx) => {
    const sub = await trx('subscriptions').where({ id: p.subscriptionId }).forUpdate().first();
    if (!sub) return { missing: 'subscription' as const };
    const server: ServerRow | undefined = await trx('servers').where({ id: p.serverId }).forUpdate().first();
    if (!server) return { missing: 'server' as const };
    const held = await trx('subscription_binding_holds').where({ subscription_id: sub.id }).first('state');
    const [{ n }] = await trx('bindings').where({ subscription_id: sub.id }).whereNull('deleted_at').count({ n: '*' });
    const refusal = bindingRefusal(toBindingServer(server, await serverBoundTo(trx, server.id)), toQuota(catalog, sub, !!held), Number(n));
    if (refusal) return { refusal };
    return { binding: await insertBinding(trx, sub.id, server.id) };
  });
}

/**
 * R-Q2: gives the server the best available quota of its account, if any. Runs inside the
 * caller's transaction. Every candidate quota is locked (in id order, so concurrent
 * registrations do not deadlock) before the counts are read, then the server (shared order).
 */
async function autoBind(trx: Knex.Transaction, catalog: Catalog, serverId: string): Promise<BindingRow | null> {
  const server: ServerRow = await trx('servers').where({ id: serverId }).first();
  // Released/unsubscribed never come back, so filtering them before the lock is safe; the
  // status of the rest is read with the lock (FOR UPDATE returns the latest version).
  const subs: Record<string, any>[] = await trx('subscriptions')
    .where({ account_id: server.account_id, region: server.region, product: AUTO_BIND_PRODUCT, billing_mode: 'yearly_monthly' })
    .whereNotIn('status', TERMINAL)
    .orderBy('id')
    .forUpdate();
  const live = subs.filter((s) => PROTECTED.includes(s.status));
  if (live.length === 0) return null;
  const ids = live.map((s) => s.id);
  const locked: ServerRow = await trx('servers').where({ id: serverId }).forUpdate().first();
  const [holds, counts] = await Promise.all([
    trx('subscription_binding_holds').whereIn('subscription_id', ids).pluck('subscription_id') as Promise<string[]>,
    trx('bindings').whereIn('subscription_id', ids).whereNull('deleted_at').groupBy('subscription_id').select('subscription_id').count({ n: '*' }) as Promise<{ subscription_id: string; n: string | number }[]>,
  ]);
  const held = new Set(holds);
  const bound = new Map(counts.map((c) => [c.subscription_id, Number(c.n)]));
  const candidates: QuotaCandidate[] = live.map((s) => ({
    ...toQuota(catalog, s, held.has(s.id)),
    bound: bound.get(s.id) ?? 0,
    expiresAt: new Date(s.expires_at).getTime(),
  }));
  const choice = chooseQuotaForServer(toBindingServer(locked, await serverBoundTo(trx, serverId)), candidates);
  return choice ? insertBinding(trx, choice.id, serverId) : null;
}

/**
 * Unbinds (R-Q1): the binding is deleted and the server is free again. Works on a suspended
 * binding too, so a customer can move a server off a frozen quota. Returns false when there is
 * no such live binding.
 */
export async function unbind(db: Knex, bindingId: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    const b = await trx('bindings').where({ id: bindingId }).whereNull('deleted_at').first('subscription_id', 'server_id');
    if (!b) return false;
    await trx('subscriptions').where({ id: b.subscription_id }).forUpdate().first('id'); // shared lock order
    const n = await trx('bindings').where({ id: bindingId }).whereNull('deleted_at').update({ deleted_at: trx.fn.now() });
    if (n > 0) await bindingStatusChange(trx, 'resource.unbind', bindingId, b.subscription_id, b.server_id);
    return n > 0;
  });
}

// ---------------------------------------------------------------------------------------------
// What the subscription workflow does to bindings (its activities call these)

// R-Q4: frozen/isolated unbind but remember (suspended_at); a renewal restores; released or
// unsubscribed deletes (deleted_at). Each is idempotent: repeating it changes nothing more.
//
// The API binds quotas to servers concurrently with these (bindQuota above). Both
// sides lock the subscription's read-model row first, and these functions also write the
// subscription's binding hold (`subscription_binding_holds`, migration 003) in the same
// transaction. The workflow calls them *before* it records the new status, so without the hold a
// bind arriving in between would see the old, protected status and leave a live binding on a
// frozen or released quota; with it, the bind either sees the hold (refused) or commits first
// and is unbound here with the others.

type Hold = 'suspended' | 'deleted';

async function lockSubscription(trx: Knex.Transaction, subscriptionId: string): Promise<void> {
  await trx('subscriptions').where({ id: subscriptionId }).forUpdate().first('id');
}

async function hold(trx: Knex.Transaction, subscriptionId: string, state: Hold): Promise<void> {
  const q = trx('subscription_binding_holds').insert({ subscription_id: subscriptionId, state, held_at: trx.fn.now() }).onConflict('subscription_id');
  // `deleted` is final: a late or retried suspend never turns it back into `suspended`.
  if (state === 'deleted') await q.merge({ state, held_at: trx.fn.now() });
  else await q.ignore();
}

export async function suspendBindings(db: Knex, subscriptionId: string): Promise<number> {
  return db.transaction(async (trx): Promise<number> => {
    await lockSubscription(trx, subscriptionId);
    await hold(trx, subscriptionId, 'suspended');
    const n: number = await trx('bindings').where({ subscription_id: subscriptionId }).whereNull('deleted_at').whereNull('suspended_at').update({ suspended_at: trx.fn.now() });
    return n;
  });
}

export async function restoreBindings(db: Knex, subscriptionId: string): Promise<number> {
  return db.transaction(async (trx): Promise<number> => {
    await lockSubscription(trx, subscriptionId);
    await trx('subscription_binding_holds').where({ subscription_id: subscriptionId, state: 'suspended' }).delete();
    const n: number = await trx('bindings').where({ subscription_id: subscriptionId }).whereNull('deleted_at').whereNotNull('suspended_at').update({ suspended_at: null });
    return n;
  });
}

export async function deleteBindings(db: Knex, subscriptionId: string): Promise<number> {
  return db.transaction(async (trx): Promise<number> => {
    await lockSubscription(trx, subscriptionId);
    await hold(trx, subscriptionId, 'deleted');
    const n: number = await trx('bindings').where({ subscription_id: subscriptionId }).whereNull('deleted_at').update({ deleted_at: trx.fn.now() });
    return n;
  });
}

/**
 * R-S12 / R-Q1: the upgrade's binding check and its reservation, atomic with binds: under the
 * subscription row's lock (binds take it too), `refusal` is asked about the servers bound now
 * (suspended bindings included, R-Q4); when it has none, `pending_edition` is set, so every later
 * bind must suit the new edition as well until the read model records it (migration 006).
 */
export async function reserveUpgrade<R>(db: Knex, subscriptionId: string, toEdition: string, refusal: (bound: { serverId: string; kind: string }[]) => R | null): Promise<R | null> {
  return db.transaction(async (trx) => {
    await lockSubscription(trx, subscriptionId);
    const refused = refusal(await boundServerKinds(trx, subscriptionId));
    if (refused) return refused;
    await trx('subscriptions').where({ id: subscriptionId }).update({ pending_edition: toEdition });
    return null;
  });
}

/** R-S12: the upgrade did not happen (its charge failed): binds answer to the edition alone again. */
export async function releaseUpgrade(db: Knex, subscriptionId: string, toEdition: string): Promise<void> {
  await db('subscriptions').where({ id: subscriptionId, pending_edition: toEdition }).update({ pending_edition: null });
}

/** The kinds of the servers bound to the subscription, suspended bindings included (R-Q4). */
export async function boundServerKinds(db: Knex | Knex.Transaction, subscriptionId: string): Promise<{ serverId: string; kind: string }[]> {
  return db('bindings as b')
    .join('servers as s', 's.id', 'b.server_id')
    .where('b.subscription_id', subscriptionId)
    .whereNull('b.deleted_at')
    .orderBy('b.server_id')
    .select({ serverId: 'b.server_id', kind: 's.kind' });
}
