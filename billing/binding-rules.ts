import { isProtected, SubscriptionStatus } from './renewal-schedule';

// SPEC §6 (R-Q1…R-Q3) as plain functions: may this quota be bound to this server, and which
// quota does a newly registered server get automatically. No I/O: the caller reads servers,
// subscriptions, live binding counts and the catalog's `server_kinds`, and passes them in.

export type ServerKind = 'host' | 'container';
export type AgentStatus = 'online' | 'offline';

/** What the rules need to know about a server. */
export interface BindingServer {
  id: string;
  accountId: string;
  region: string;
  kind: ServerKind;
  agent: AgentStatus;
  /** The subscription of the server's live (active or suspended) binding, or null. */
  boundTo: string | null;
}

/** What the rules need to know about a quota (one yearly/monthly subscription of q quotas). */
export interface BindingQuota {
  id: string;
  accountId: string;
  product: string;
  edition: string;
  billingMode: 'yearly_monthly' | 'pay_per_use';
  status: SubscriptionStatus;
  region: string;
  quantity: number;
  /** The catalog edition's `server_kinds`: which kinds of server it can protect. */
  serverKinds: readonly ServerKind[];
  /** R-S12: an upgrade under way, and the kinds its new edition protects (see protectableKinds) */
  upgrading?: { edition: string; serverKinds: readonly ServerKind[] };
  /**
   * R-Q4: the subscription's bindings are held suspended (frozen/isolated) or deleted (released,
   * unsubscribed). Set from the moment the workflow unbinds, which can precede the read model's
   * status change by one activity; a quota in that state takes no new binding.
   */
  bindingsHeld?: boolean;
}

/** A quota offered to automatic binding: the quota, its live bindings and its expiry. */
export interface QuotaCandidate extends BindingQuota {
  /** Live (non-deleted) bindings, suspended ones included: they come back on restore (R-Q4). */
  bound: number;
  /** Epoch ms; breaks ties between quotas of the same edition. */
  expiresAt: number;
}

export type BindingRefusalCode =
  | 'BINDING.ACCOUNT_MISMATCH'
  | 'BINDING.NOT_PROTECTED'
  | 'BINDING.BILLING_MODE'
  | 'BINDING.SERVER_KIND'
  | 'BINDING.REGION_MISMATCH'
  | 'BINDING.AGENT_OFFLINE'
  | 'BINDING.ALREADY_BOUND'
  | 'BINDING.QUOTA_FULL';

export interface BindingRefusal {
  code: BindingRefusalCode;
  message: string;
}

/**
 * Refusals that no change of state can cure (the pair simply does not fit), as opposed to
 * conflicts with the current state (agent offline, quota full, server taken, quota lapsed).
 * The API answers the first kind 422 and the second 409.
 */
export const PERMANENT_REFUSALS: ReadonlySet<BindingRefusalCode> = new Set([
  'BINDING.ACCOUNT_MISMATCH',
  'BINDING.BILLING_MODE',
  'BINDING.SERVER_KIND',
  'BINDING.REGION_MISMATCH',
]);

/** Catalog `server_kinds`: can an edition offering these kinds protect a server of this kind (R-Q1)? */
export function canProtect(serverKinds: readonly string[], kind: string): boolean {
  return serverKinds.includes(kind);
}

/**
 * R-S12 with R-Q1: the kinds of server a new binding may have. While an upgrade is under way, a
 * bind must suit both editions, so that no server the new edition can't protect slips in between
 * the upgrade's check and the new edition being recorded.
 */
export function protectableKinds(quota: Pick<BindingQuota, 'serverKinds' | 'upgrading'>): readonly ServerKind[] {
  const upgrading = quota.upgrading;
  return upgrading ? quota.serverKinds.filter((k) => canProtect(upgrading.serverKinds, k)) : quota.serverKinds;
}

/**
 * R-S12 with R-Q1: an upgrade must leave every server bound to the subscription (suspended
 * bindings included: they come back on renewal, R-Q4) protectable by the new edition. Returns
 * the refusal naming the servers that would not be, or null.
 */
export function upgradeBindingRefusal(
  target: { product: string; edition: string; serverKinds: readonly string[] },
  bound: readonly { serverId: string; kind: string }[],
): { code: 'STATE.BOUND_SERVER_KIND'; message: string } | null {
  const unfit = bound.filter((b) => !canProtect(target.serverKinds, b.kind));
  if (unfit.length === 0) return null;
  return {
    code: 'STATE.BOUND_SERVER_KIND',
    message: `${target.product}/${target.edition} protects ${target.serverKinds.join(' and ')} servers only; unbind ${unfit.map((u) => `${u.serverId} (${u.kind})`).join(', ')} first`,
  };
}

/**
 * R-Q1 / R-Q3 / R-Q4: why `quota` cannot be bound to `server` now, or null when it can.
 * `boundCount` is the quota's live bindings (suspended ones included). The order puts what can
 * never work first (wrong account, mode, kind, region), then what the current state forbids, so
 * the customer hears the reason that matters most.
 */
export function bindingRefusal(server: BindingServer, quota: BindingQuota, boundCount: number): BindingRefusal | null {
  if (server.accountId !== quota.accountId) {
    return { code: 'BINDING.ACCOUNT_MISMATCH', message: `server ${server.id} and subscription ${quota.id} belong to different accounts` };
  }
  // R-U1: pay-per-use protection is switched on per server, it is not a quota to bind.
  if (quota.billingMode !== 'yearly_monthly') {
    return { code: 'BINDING.BILLING_MODE', message: `subscription ${quota.id} is pay-per-use; only yearly/monthly quotas are bound to servers` };
  }
  const kinds = protectableKinds(quota);
  if (!canProtect(kinds, server.kind)) {
    return {
      code: 'BINDING.SERVER_KIND',
      message: quota.upgrading
        ? `${quota.product}/${quota.edition} is being upgraded to ${quota.upgrading.edition}; together they protect ${kinds.join(' and ') || 'no'} servers, not a ${server.kind}`
        : `${quota.product}/${quota.edition} protects ${kinds.join(' and ')} servers, not a ${server.kind}`,
    };
  }
  // R-C2 / R-Q1: a quota is usable only in the region it was bought in.
  if (server.region !== quota.region) {
    return { code: 'BINDING.REGION_MISMATCH', message: `subscription ${quota.id} was bought for ${quota.region}; server ${server.id} is in ${server.region}` };
  }
  // R-Q4 / §5: protection holds in trial, active and grace only.
  if (!isProtected(quota.status) || quota.bindingsHeld) {
    return { code: 'BINDING.NOT_PROTECTED', message: `subscription ${quota.id} is ${quota.status}: it protects no server until it is renewed` };
  }
  // R-Q1: the agent does the protecting; an offline agent cannot take a quota.
  if (server.agent !== 'online') {
    return { code: 'BINDING.AGENT_OFFLINE', message: `the agent on server ${server.id} is offline; bring it online before binding a quota` };
  }
  // R-Q1: a quota protects one server, and a server is protected by one quota.
  if (server.boundTo !== null) {
    const same = server.boundTo === quota.id;
    return {
      code: 'BINDING.ALREADY_BOUND',
      message: same
        ? `server ${server.id} is already bound to subscription ${quota.id}`
        : `server ${server.id} is already bound to subscription ${server.boundTo}; unbind it first`,
    };
  }
  // R-Q3: the number of bound servers never exceeds the quantity bought.
  if (boundCount >= quota.quantity) {
    return { code: 'BINDING.QUOTA_FULL', message: `all ${quota.quantity} quota(s) of subscription ${quota.id} are bound` };
  }
  return null;
}

/** R-Q2: only host-security quotas take part in automatic binding (the SPEC's order names its editions). */
export const AUTO_BIND_PRODUCT = 'host-security';

/**
 * R-Q2: the edition order of automatic binding, best first.
 * `wtp` is not in the SPEC's list; it "includes premium protection", so for hosts it is treated
 * as the highest host edition and placed first: a customer who bought wtp quotas bought them to
 * protect hosts, and the premium quotas remain for servers that come later. The catalog's
 * `server_kinds` keeps it away from container nodes (wtp protects hosts only).
 */
export const AUTO_BIND_ORDER: Readonly<Record<ServerKind, readonly string[]>> = {
  host: ['wtp', 'premium', 'enterprise', 'professional', 'basic'],
  container: ['container', 'premium', 'enterprise', 'professional', 'basic'],
};

/**
 * R-Q2: the quota a newly registered server gets, or null. A candidate qualifies when
 * `bindingRefusal` has nothing against it (same account and region, protected status, the
 * edition protects this kind of server, agent online, free capacity R-Q3) and it is a yearly/
 * monthly host-security quota in the order above; pay-per-use is never bound automatically.
 * Among qualifying quotas: the best edition; within an edition the one that expires last (it
 * protects the server longest, and a quota already in grace comes after an active one); then
 * the smaller id, so the choice is deterministic.
 */
export function chooseQuotaForServer<C extends QuotaCandidate>(server: BindingServer, candidates: readonly C[]): C | null {
  const order = AUTO_BIND_ORDER[server.kind];
  let best: { c: C; rank: number } | null = null;
  for (const c of candidates) {
    if (c.product !== AUTO_BIND_PRODUCT || c.billingMode !== 'yearly_monthly') continue;
    const rank = order.indexOf(c.edition);
    if (rank < 0) continue;
    if (bindingRefusal(server, c, c.bound) !== null) continue;
    if (best === null || isBetter(c, rank, best.c, best.rank)) best = { c, rank };
  }
  return best?.c ?? null;
}

function isBetter(a: QuotaCandidate, aRank: number, b: QuotaCandidate, bRank: number): boolean {
  if (aRank !== bRank) return aRank < bRank;
  if (a.expiresAt !== b.expiresAt) return a.expiresAt > b.expiresAt;
  return a.id < b.id;
}
