import type { Client } from '@temporalio/client';
import Decimal from 'decimal.js';
import fc from 'fast-check';
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { defaultCatalog, findEdition } from '../../catalog/catalog';
import { getStateQuery } from '../../workflows/subscription.messages';

// The money model (issue #11): random sequences of ordinary requests, sent over HTTP to the real
// API, worker, Postgres and Temporal, checked after every step against what must always hold:
// the ledger balances, no money without service, no service without money, refunds within what
// was paid, every answer a 2xx or a 4xx with a stable code, the workflow agreeing with the read
// model. The same commands run on the time-skipping server (npm test, npm run test:model) and on
// the dev server with the worker and API as separate processes (test/devserver).

export type Scope = 'customer' | 'operator';

export interface Reply {
  status: number;
  body: any;
}

/** The system under test, however it is deployed. */
export interface Real {
  send(method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, opts: { key: string; body?: unknown; idem?: string }): Promise<Reply>;
  db: Knex;
  temporal: Client;
  operatorKey: string;
  /** the clock of the system (the time-skipping server's, or the host's) */
  now(): Promise<number>;
  /** moves time on (time-skipping only); absent on a real server */
  advance?(ms: number): Promise<void>;
  /** the account workflows and subscriptions a run started, ended when the run is done */
  cleanup?(accountIds: string[]): Promise<void>;
}

interface Account { id: string; key: string }
interface Sub { id: string; account: number; product: string; manualRenewals: number }
interface Sent { method: 'post' | 'put'; path: string; body: unknown; account: number; status: number; body0: any }

export interface Model {
  accounts: Account[];
  subs: Sub[];
  discounts: { id: string; account: number; kind: string }[];
  /** every keyed request and its first answer, for replays from the other scope */
  sent: Map<string, Sent>;
  steps: number;
  /** replies by status, for the run's summary */
  statuses: Map<number, number>;
  nextKey: number;
}

const TERMS = [{ unit: 'month', count: 1 }, { unit: 'month', count: 3 }, { unit: 'year', count: 1 }, { unit: 'month', count: 12 }] as const;
const EDITIONS: [string, string][] = [
  ['host-security', 'basic'], ['host-security', 'professional'], ['host-security', 'enterprise'], ['host-security', 'premium'], ['host-security', 'wtp'],
  ['host-security', 'container'], ['workload-protection', 'basic'], ['workload-protection', 'pro'], ['workload-protection', 'ultimate'],
];
const PAID = ['paid', 'partially_refunded', 'refunded'];
const CODE = /^[A-Z_]+(\.[A-Z_]+)*$/;
const DAY = 86_400_000;

export class Violation extends Error {}
const fail = (what: string, details?: unknown): never => {
  throw new Violation(`${what}${details === undefined ? '' : `: ${JSON.stringify(details)}`}`);
};

/** Sends a request and checks the answer is a 2xx, or a 4xx with a stable code; never a 5xx. */
async function call(model: Model, real: Real, scope: Scope, account: number, method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, body?: unknown, idem?: string): Promise<Reply> {
  const key = scope === 'operator' ? real.operatorKey : model.accounts[account].key;
  const reply = await real.send(method, path, { key, body, idem });
  model.statuses.set(reply.status, (model.statuses.get(reply.status) ?? 0) + 1);
  if (reply.status >= 500) fail(`${method.toUpperCase()} ${path} answered ${reply.status}`, reply.body);
  if (reply.status >= 400 && !CODE.test(reply.body?.error?.code ?? '')) fail(`${method.toUpperCase()} ${path} answered ${reply.status} without a stable code`, reply.body);
  return reply;
}

/** A keyed money request: remembered, so a later step can send it again from the other scope. */
async function keyed(model: Model, real: Real, scope: Scope, account: number, path: string, body: unknown, method: 'post' | 'put' = 'post'): Promise<Reply> {
  const idem = `${model.accounts[0].id}-k${model.nextKey++}`; // unique across runs: the operator's keys are one scope
  const reply = await call(model, real, scope, account, method, path, body, idem);
  model.sent.set(idem, { method, path, body, account, status: reply.status, body0: reply.body });
  return reply;
}

const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length];

/** A step that does not finish (a request, a time skip, the checks) is a violation, not a hung test. */
async function withinTime<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Violation(`step did not finish in ${ms / 1000} s: ${what}`)), ms); });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Cmd = fc.AsyncCommand<Model, Real, false>;

/** A command; `run` does the request and what the model learns from it. */
function command(name: string, args: unknown, run: (m: Model, r: Real) => Promise<void>): Cmd {
  // A month skipped runs every timer of it for real: with a tok_transient card each deduction
  // attempt retries its charge with real backoff (about 3 s), so a skip may take minutes on a
  // busy machine. Anything else is one request and its checks.
  const limitMs = name === 'advance' ? 600_000 : 120_000;
  return {
    check: () => true,
    async run(m, r) {
      m.steps += 1;
      await withinTime(`${name} ${JSON.stringify(args)}`, limitMs, async () => {
        await run(m, r);
        await settle(m, r);
        await checkInvariants(m, r);
      });
    },
    toString: () => `${name}(${JSON.stringify(args)})`,
  };
}

async function purchase(m: Model, r: Real, p: { account: number; edition: number; term: number; quantity: number; autoRenew: boolean; trial: boolean; dayOffset: number | null; discount: number | null; scope: Scope }): Promise<void> {
  const [product, edition] = pick(EDITIONS, p.edition);
  const today = DateTime.fromMillis(await r.now(), { zone: 'UTC+8' });
  const body: Record<string, unknown> = {
    account_id: m.accounts[p.account].id, product, edition, region: 'cn-hangzhou', quantity: p.quantity,
    ...(p.trial ? { trial: true } : { term: pick(TERMS, p.term) }),
    auto_renew: p.autoRenew,
  };
  if (p.dayOffset !== null) body.deduction_day = p.dayOffset === 99 ? '2026-02-30' : today.plus({ days: p.dayOffset }).toISODate();
  const promos = m.discounts.filter((d) => d.account === p.account);
  if (p.discount !== null && promos.length > 0 && !p.trial) body.discount_id = pick(promos, p.discount).id;
  const reply = await keyed(m, r, p.scope, p.account, '/v1/subscriptions', body);
  if (reply.status === 201) m.subs.push({ id: reply.body.id, account: p.account, product, manualRenewals: 0 });
  else if (![400, 402, 422].includes(reply.status)) fail('a purchase answered neither 201 nor a refusal', reply);
}

const scopeArb = fc.constantFrom<Scope>('customer', 'operator');
const purchaseArb = fc.record({
  account: fc.nat(1), edition: fc.nat(20), term: fc.nat(3), quantity: fc.integer({ min: 1, max: 3 }), autoRenew: fc.boolean(), trial: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
  dayOffset: fc.option(fc.constantFrom(-1, 0, 1, 3, 10, 40, 99), { freq: 4 }), discount: fc.option(fc.nat(5), { freq: 2 }), scope: scopeArb,
}).map((p) => command('purchase', p, (m, r) => purchase(m, r, p)));

/** A subscription command; with none bought yet it buys one instead, so every step does something. */
function onSub(name: string, args: { sub: number }, run: (m: Model, r: Real, s: Sub) => Promise<void>): Cmd {
  return command(name, args, async (m, r) => {
    if (m.subs.length === 0) return purchase(m, r, { account: 0, edition: 2, term: 0, quantity: 1, autoRenew: true, trial: false, dayOffset: null, discount: null, scope: 'customer' });
    return run(m, r, pick(m.subs, args.sub));
  });
}

const renewArb = fc.record({ sub: fc.nat(9), term: fc.nat(3), autoRenew: fc.option(fc.boolean()), discount: fc.option(fc.nat(5), { freq: 3 }), scope: scopeArb });
const upgradeArb = fc.record({ sub: fc.nat(9), edition: fc.nat(20), scope: scopeArb });

async function renewStep(m: Model, r: Real, s: Sub, a: { term: number; autoRenew: boolean | null; discount: number | null; scope: Scope }): Promise<void> {
  const promos = m.discounts.filter((d) => d.account === s.account);
  const body: Record<string, unknown> = { term: pick(TERMS, a.term), ...(a.autoRenew === null ? {} : { auto_renew: a.autoRenew }) };
  if (a.discount !== null && promos.length > 0) body.discount_id = pick(promos, a.discount).id;
  const reply = await keyed(m, r, a.scope, s.account, `/v1/subscriptions/${s.id}/renewals`, body);
  if (reply.status === 201) s.manualRenewals += 1;
  else if (![402, 409, 422].includes(reply.status)) fail('a renewal answered neither 201 nor a refusal', reply);
}

async function upgradeStep(m: Model, r: Real, s: Sub, a: { edition: number; scope: Scope }): Promise<void> {
  const editions = EDITIONS.filter(([p]) => p === s.product).map(([, e]) => e);
  const reply = await keyed(m, r, a.scope, s.account, `/v1/subscriptions/${s.id}/upgrade`, { edition: pick(editions, a.edition) });
  if (![200, 402, 409, 422].includes(reply.status)) fail('an upgrade answered neither 200 nor a refusal', reply);
}

async function unsubscribeStep(m: Model, r: Real, s: Sub, scope: Scope): Promise<void> {
  const reply = await keyed(m, r, scope, s.account, `/v1/subscriptions/${s.id}/unsubscribe`, undefined);
  if (![200, 409].includes(reply.status)) fail('an unsubscribe answered neither 200 nor 409', reply);
}

async function autoRenewStep(m: Model, r: Real, s: Sub, enabled: boolean, scope: Scope): Promise<void> {
  const reply = await call(m, r, scope, s.account, 'put', `/v1/subscriptions/${s.id}/auto-renew`, { enabled });
  if (![200, 409].includes(reply.status)) fail('auto-renew answered neither 200 nor 409', reply);
}

export function commandArbs(opts: { timeTravel: boolean }): fc.Arbitrary<Cmd>[] {
  const arbs: fc.Arbitrary<Cmd>[] = [
    purchaseArb,
    fc.record({ account: fc.nat(1), amount: fc.constantFrom('0.01', '10.00', '25.00', '100.00', '600.00'), scope: scopeArb }).map((a) =>
      command('topUp', a, async (m, r) => {
        const reply = await keyed(m, r, a.scope, a.account, `/v1/accounts/${m.accounts[a.account].id}/top-ups`, { amount: a.amount });
        if (reply.status !== 201) fail('a top-up was refused', reply);
      })),
    fc.record({ account: fc.nat(1), token: fc.constantFrom('tok_visa', 'tok_chargeDeclined', 'tok_transient', null) }).map((a) =>
      command('card', a, async (m, r) => {
        const path = `/v1/accounts/${m.accounts[a.account].id}/card`;
        const reply = a.token === null ? await call(m, r, 'customer', a.account, 'delete', path) : await call(m, r, 'customer', a.account, 'put', path, { token: a.token });
        if (reply.status >= 300) fail('binding a sandbox card was refused', reply);
      })),
    fc.record({ account: fc.nat(1), amount: fc.constantFrom('5.00', '30.00', '150.00'), scope: fc.constantFrom(null, 'host-security', 'workload-protection/pro') }).map((a) =>
      command('coupon', a, async (m, r) => {
        const now = await r.now();
        const reply = await keyed(m, r, 'operator', a.account, `/v1/accounts/${m.accounts[a.account].id}/coupons`, { amount: a.amount, expires_at: new Date(now + 60 * DAY).toISOString(), ...(a.scope ? { scope: a.scope } : {}) });
        if (reply.status !== 201) fail('a coupon was refused', reply);
      })),
    fc.record({ account: fc.nat(1), kind: fc.constantFrom('commercial', 'partner', 'promotional', 'promotional'), percent: fc.constantFrom('5', '10', '25', '30'), days: fc.constantFrom(2, 45, 400) }).map((a) =>
      command('discount', a, async (m, r) => {
        const now = await r.now();
        const reply = await keyed(m, r, 'operator', a.account, `/v1/accounts/${m.accounts[a.account].id}/discounts`, { kind: a.kind, percent_off: a.percent, effective_at: new Date(now - DAY).toISOString(), expires_at: new Date(now + a.days * DAY).toISOString() });
        if (reply.status !== 201) fail('a discount was refused', reply);
        m.discounts.push({ id: reply.body.id, account: a.account, kind: a.kind });
      })),
    renewArb.map((a) => onSub('renew', a, (m, r, s) => renewStep(m, r, s, a))),
    fc.record({ sub: fc.nat(9), enabled: fc.boolean(), scope: scopeArb }).map((a) => onSub('autoRenew', a, (m, r, s) => autoRenewStep(m, r, s, a.enabled, a.scope))),
    upgradeArb.map((a) => onSub('upgrade', a, (m, r, s) => upgradeStep(m, r, s, a))),
    fc.record({ sub: fc.nat(9), scope: scopeArb }).map((a) => onSub('unsubscribe', a, (m, r, s) => unsubscribeStep(m, r, s, a.scope))),
    // Two commands on one subscription at once (a double click on two buttons, two operators):
    // the second is validated before the first has run, so it must be checked again when its
    // turn comes. Found missing by hand (an upgrade queued behind an unsubscribe was charged).
    // Auto-renew on/off joins them: it waits for a charge in flight, and can meet a run an
    // unsubscribe has just closed.
    fc.record({ sub: fc.nat(9), first: fc.constantFrom('renew', 'upgrade', 'unsubscribe', 'autoRenew'), second: fc.constantFrom('renew', 'upgrade', 'unsubscribe', 'autoRenew'), renew: renewArb, upgrade: upgradeArb, enabled: fc.boolean(), scope: scopeArb }).map((a) =>
      onSub('together', a, async (m, r, s) => {
        const step = (kind: string) => (kind === 'renew' ? renewStep(m, r, s, a.renew) : kind === 'upgrade' ? upgradeStep(m, r, s, a.upgrade)
          : kind === 'autoRenew' ? autoRenewStep(m, r, s, a.enabled, a.scope) : unsubscribeStep(m, r, s, a.scope));
        await Promise.all([step(a.first), step(a.second)]);
      })),
    fc.record({ order: fc.nat(30), share: fc.constantFrom(0.1, 0.5, 1, 2) }).map((a) =>
      command('operatorRefund', a, async (m, r) => {
        const orders = await r.db('orders').whereIn('account_id', m.accounts.map((x) => x.id)).whereIn('status', ['paid', 'partially_refunded']).orderBy('created_at');
        if (orders.length === 0) return;
        const o = pick(orders, a.order);
        const own = new Decimal(o.cash).plus(o.credit).plus(o.card).minus(o.refunded);
        const amount = own.times(a.share).toDecimalPlaces(2, Decimal.ROUND_DOWN);
        if (amount.lte(0)) return;
        const account = m.accounts.findIndex((x) => x.id === o.account_id);
        const reply = await keyed(m, r, 'operator', account, `/v1/orders/${o.id}/refunds`, { amount: amount.toFixed(2) });
        const expected = amount.lte(own) ? 201 : 422;
        if (reply.status !== expected) fail(`a refund of ${amount.toFixed(2)} with ${own.toFixed(2)} refundable answered ${reply.status}`, reply.body);
      })),
    fc.record({ account: fc.nat(1), count: fc.integer({ min: 1, max: 3 }), scope: scopeArb }).map((a) =>
      command('packages', a, async (m, r) => {
        const reply = await keyed(m, r, a.scope, a.account, '/v1/usage-packages', { account_id: m.accounts[a.account].id, metric: 'image_scans', content: '100', count: a.count, term: { unit: 'month', count: 1 }, reset: 'none' });
        if (![201, 402].includes(reply.status)) fail('a package purchase answered neither 201 nor 402', reply);
      })),
    fc.record({ account: fc.nat(1), quantity: fc.constantFrom('1', '40', '250') }).map((a) =>
      command('usage', a, async (m, r) => {
        const now = await r.now();
        const rec = { id: `${m.accounts[0].id}-u${m.nextKey++}`, account_id: m.accounts[a.account].id, resource_id: 'img_model', metric: 'image_scans', quantity: a.quantity, period_start: new Date(now - 120_000).toISOString(), period_end: new Date(now - 60_000).toISOString() };
        const reply = await call(m, r, 'customer', a.account, 'post', '/v1/usage-records', { records: [rec] });
        if (reply.status !== 200) fail('a usage record answered other than 200', reply);
        const result = reply.body.results[0];
        if (result.status === 'accepted') return;
        // R-U5: an account whose arrears reached frozen has its pay-per-use resources stopped and
        // not billed, so usage after that is refused. Found by the long model run (seed 424242,
        // sequence 2162): the model had not expected it. Any other refusal is a violation.
        const arrears = await call(m, r, 'customer', a.account, 'get', `/v1/accounts/${m.accounts[a.account].id}/arrears`);
        const frozen = ['frozen', 'released'].includes(arrears.body?.arrears_status);
        if (!(frozen && result.error?.code === 'USAGE.ACCOUNT_FROZEN')) fail('a usage record was not accepted', { reply: reply.body, arrears: arrears.body });
      })),
    fc.record({ nth: fc.nat(40), sameScope: fc.boolean() }).map((a) =>
      command('replay', a, async (m, r) => {
        // The same key and body again, from the other key scope (or the same one): never a second
        // effect (the invariants count terms, orders and refunds), and a success answers the same.
        const keys = [...m.sent.keys()];
        if (keys.length === 0) return;
        const idem = pick(keys, a.nth);
        const first = m.sent.get(idem) as Sent;
        const operatorOnly = /\/(coupons|discounts|refunds)$/.test(first.path);
        const scope: Scope = operatorOnly ? 'operator' : a.sameScope ? 'customer' : 'operator';
        const reply = await call(m, r, scope, first.account, first.method, first.path, first.body, idem);
        // A key belongs to the account it acts on, whichever scope sends it: the first answer again.
        if (reply.status !== first.status || JSON.stringify(reply.body) !== JSON.stringify(first.body0)) {
          fail(`a replay of ${first.path} answered ${reply.status} where the first answered ${first.status}`, { first: first.body0, again: reply.body });
        }
      })),
  ];
  if (opts.timeTravel) {
    arbs.push(fc.constantFrom(3_600_000, 6 * 3_600_000, DAY, 3 * DAY, 10 * DAY, 31 * DAY).map((ms) =>
      command('advance', { hours: ms / 3_600_000 }, async (_m, r) => { await r.advance?.(ms); })));
  }
  return arbs;
}

/** Each run: two fresh accounts, one with a card; the invariants cover only them. */
export async function newRun(real: Real): Promise<{ model: Model; real: Real }> {
  const model: Model = { accounts: [], subs: [], discounts: [], sent: new Map(), steps: 0, statuses: new Map(), nextKey: 0 };
  for (let i = 0; i < 2; i += 1) {
    const res = await real.send('post', '/v1/accounts', { key: real.operatorKey, body: { name: `model ${i}`, customer_level: i === 0 ? 'standard' : 'key_account' } });
    if (res.status !== 201) fail('account creation failed', res);
    const a = { id: res.body.id, key: res.body.api_key };
    model.accounts.push(a);
    await real.send('post', `/v1/accounts/${a.id}/top-ups`, { key: a.key, body: { amount: '300.00' }, idem: `seed-${a.id}` });
  }
  await real.send('put', `/v1/accounts/${model.accounts[1].id}/card`, { key: model.accounts[1].key, body: { token: 'tok_visa' } });
  return { model, real };
}

/** Waits until nothing is in flight: no pending order, and every live workflow agrees with the read model. */
async function settle(m: Model, r: Real): Promise<void> {
  await waitAtRest(r.db, r.temporal, m.accounts.map((a) => a.id), 15_000);
}

/** The same for any accounts (the system tier waits so after a fault). */
export async function waitAtRest(db: Knex, temporal: Client, ids: string[], timeoutMs: number, opts: { queryFailureIsBusy?: boolean } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = await inFlight(db, temporal, ids, opts.queryFailureIsBusy ?? false);
    if (problem === null) return;
    if (Date.now() > deadline) fail(`not at rest ${timeoutMs / 1000} s after the step`, problem);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function inFlight(db: Knex, temporal: Client, ids: string[], queryFailureIsBusy: boolean): Promise<unknown> {
  const pending = await db('orders').whereIn('account_id', ids).where({ status: 'pending' }).count({ n: '*' });
  if (Number(pending[0].n) > 0) return { pendingOrders: Number(pending[0].n) };
  const rows = await db('subscriptions').whereIn('account_id', ids).whereNotIn('status', ['released', 'unsubscribed']);
  for (const row of rows) {
    // Where processes are killed (the system tier, issue #13), a workflow whose sticky worker
    // just died answers queries only once the server gives up on that worker (about 10 s): not
    // at rest yet, rather than a violation. Everywhere else a query must answer within 10 s.
    const v = await temporal.connection.withDeadline(Date.now() + 10_000, () => temporal.workflow.getHandle(row.workflow_id).query(getStateQuery))
      .catch((err) => (queryFailureIsBusy ? null : fail(`the workflow ${row.workflow_id} did not answer a query in 10 s`, String(err))));
    if (v === null) return { queryFailed: row.workflow_id };
    const same = v.status === row.status && v.edition === row.edition && v.expiresAt === new Date(row.expires_at).getTime() && v.autoRenew === row.auto_renew && v.termNumber === row.term_number;
    if (!same) return { workflow: { status: v.status, edition: v.edition, expiresAt: v.expiresAt, autoRenew: v.autoRenew, term: v.termNumber }, readModel: { status: row.status, edition: row.edition, expiresAt: row.expires_at, autoRenew: row.auto_renew, term: row.term_number } };
  }
  return null;
}

/**
 * The money invariants of a set of accounts, from Postgres alone (the money model checks them
 * after every step; the system tier's fault scenarios after every round): the ledger balanced and
 * equal to the balances, nothing locked at rest, each order's arithmetic, refunds within own
 * money, no paid order without service, no service without exactly one paid order priced from
 * the catalog, and no double charge at the card gateway.
 */
export async function checkMoneyInvariants(db: Knex, ids: string[]): Promise<void> {

  // The ledger: every transaction balanced, every cached balance its ledger sum, nothing locked at rest.
  const unbalanced = await db('ledger_entries as e').join('ledger_transactions as t', 't.id', 'e.transaction_id').whereIn('t.account_id', ids)
    .groupBy('e.transaction_id').havingRaw('sum(e.amount) <> 0').select('e.transaction_id');
  if (unbalanced.length) fail('unbalanced ledger transactions', unbalanced);
  const sums = await db('ledger_entries').whereIn('account_id', ids).whereIn('ledger_account', ['cash', 'credit']).groupBy('account_id', 'ledger_account').select('account_id', 'ledger_account').sum({ s: 'amount' });
  for (const b of await db('account_balances').whereIn('account_id', ids)) {
    const of = (acct: string) => new Decimal(sums.find((x: any) => x.account_id === b.account_id && x.ledger_account === acct)?.s ?? 0);
    if (!of('cash').equals(b.cash) || !of('credit').negated().equals(b.credit_used)) fail('a balance differs from its ledger', { balance: b, cash: of('cash'), credit: of('credit') });
    if (!new Decimal(b.cash_locked).isZero() || !new Decimal(b.credit_locked).isZero()) fail('money locked at rest', b);
    if (new Decimal(b.cash).isNegative()) fail('negative cash', b);
  }
  const held = await db('payment_locks').whereIn('account_id', ids).where({ status: 'held' });
  if (held.length) fail('payment locks held at rest', held);
  const lockedCoupons = await db('coupons').whereIn('account_id', ids).where('locked', '<>', 0);
  if (lockedCoupons.length) fail('coupon money locked at rest', lockedCoupons);

  const orders = await db('orders').whereIn('account_id', ids);
  const paid = orders.filter((o: any) => PAID.includes(o.status));
  const terms = await db('subscription_terms as t').join('subscriptions as s', 's.id', 't.subscription_id').whereIn('s.account_id', ids).select('t.*', 's.quantity', 's.account_id');
  const upgrades = await db('subscription_events as e').join('subscriptions as s', 's.id', 'e.subscription_id').whereIn('s.account_id', ids).where('e.type', 'upgraded').select('e.details');
  const packageOrders = new Set(await db('usage_packages').whereIn('account_id', ids).whereNotNull('order_id').pluck('order_id'));
  const billOrders = new Set(await db('bills').whereIn('account_id', ids).whereNotNull('order_id').pluck('order_id'));
  const termOrders = new Set(terms.map((t: any) => t.order_id).filter(Boolean));
  const upgradeOrders = new Set(upgrades.map((u: any) => u.details?.order_id).filter(Boolean));

  for (const o of orders) {
    // Each order's own arithmetic: due = list − discount, parts sum to due; refunds within own money.
    const d = (v: string) => new Decimal(v);
    if (o.status !== 'failed' && !d(o.list_amount).minus(o.discount_amount).equals(o.due)) fail('an order whose due is not list − discount', o);
    if (PAID.includes(o.status) && !d(o.coupon).plus(o.cash).plus(o.credit).plus(o.card).equals(o.due)) fail('an order whose parts do not sum to its due', o);
    if (d(o.refunded).gt(d(o.cash).plus(o.credit).plus(o.card))) fail('an order refunded more than the customer paid in cash, credit and card', o);
    if (o.status === 'failed' && !d(o.cash).plus(o.credit).plus(o.card).plus(o.coupon).isZero()) fail('a failed order that took money', o);
  }
  const refundSums: { order_id: string; s: string }[] = await db('refunds').whereIn('account_id', ids).groupBy('order_id').select('order_id').sum({ s: 'amount' }) as any;
  for (const x of refundSums) {
    const o = orders.find((y: any) => y.id === x.order_id);
    if (!o || !new Decimal(x.s).equals(o.refunded)) fail('refund rows do not add up to the order\'s refunded amount', { order: o?.id, refunds: x.s, refunded: o?.refunded });
  }

  // No money without service: every paid order pays for a term, an upgrade, packages or a bill.
  for (const o of paid) {
    const covered = o.kind === 'subscription_upgrade' ? upgradeOrders.has(o.id)
      : o.kind === 'usage_package' ? packageOrders.has(o.id)
        : o.kind === 'usage_settlement' || o.kind === 'usage_arrears' ? billOrders.has(o.id)
          : termOrders.has(o.id);
    if (!covered) {
      // What the subscription holds instead, so a failure in a long or faulted run can be read.
      const sub = o.subscription_id ? {
        terms: terms.filter((t: any) => t.subscription_id === o.subscription_id).sort((a: any, b: any) => a.term_number - b.term_number)
          .map((t: any) => `${t.term_number}:${t.kind}:${t.order_id}:seq${t.seq}`),
        events: (await db('subscription_events').where({ subscription_id: o.subscription_id }).orderBy('seq').select('seq', 'type', 'details'))
          .map((e: any) => `${e.seq}:${e.type}:${e.details?.order_id ?? ''}`),
        orders: paid.filter((x: any) => x.subscription_id === o.subscription_id).map((x: any) => `${x.id}:${x.idempotency_key.split(':').pop()}:${x.completed_at?.toISOString?.() ?? x.completed_at}`),
      } : null;
      fail('a paid order with no service', { subscription: sub, order: o });
    }
  }
  // Nothing happens to a subscription after it ended: no upgrade, renewal or refund paid for one
  // that no longer exists (two commands at once: the second was validated before the first ran).
  const ended = ['unsubscribed', 'released'];
  const timeline = await db('subscription_events as e').join('subscriptions as s', 's.id', 'e.subscription_id').whereIn('s.account_id', ids).orderBy(['e.subscription_id', 'e.seq']).select('e.subscription_id', 'e.seq', 'e.type', 'e.details');
  const endedAt = new Map<string, number>();
  for (const e of timeline) {
    const end = endedAt.get(e.subscription_id);
    if (end !== undefined && e.seq > end) fail('a subscription changed after it ended', { event: e, endedAtSeq: end });
    if (ended.includes(e.type) && end === undefined) endedAt.set(e.subscription_id, e.seq);
  }
  // No service without money: every term but a trial is paid by exactly one paid order of its own, priced from the catalog.
  const seen = new Set<string>();
  for (const t of terms) {
    if (t.kind === 'trial') {
      if (t.order_id !== null) fail('a trial term with an order', t);
      continue;
    }
    const o = paid.find((x: any) => x.id === t.order_id);
    if (!o || o.subscription_id !== t.subscription_id) fail('a term not paid by a paid order of its subscription', t);
    if (seen.has(t.order_id)) fail('two terms paid by one order', t);
    seen.add(t.order_id);
    const months = Math.round(DateTime.fromJSDate(new Date(t.ends_at)).diff(DateTime.fromJSDate(new Date(t.starts_at)), 'months').months);
    const orderEdition = (o.product as string).split('/')[1];
    const e = findEdition(defaultCatalog, (o.product as string).split('/')[0], orderEdition);
    const prices = [e?.monthly ? new Decimal(e.monthly).times(months) : null, e?.yearly && months % 12 === 0 ? new Decimal(e.yearly).times(months / 12) : null]
      .filter((x): x is Decimal => x !== null).map((x) => x.times(t.quantity).toFixed(2));
    if (!prices.includes(new Decimal(o.list_amount).toFixed(2))) fail('a term order whose list price is not the catalog price of its term', { term: t, list: o.list_amount, expected: prices });
  }

  // The gateway: one succeeded card charge per order at most, and each one belongs to a paid order
  // that recorded it (never a charge the ledger does not know, never two for one order).
  const cardOrders = orders.filter((o: any) => o.card_charge_id !== null);
  const charges = await db('sandbox_gateway_charges').whereIn('idempotency_key', orders.map((o: any) => `charge:${o.idempotency_key}`)).where({ status: 'succeeded' });
  for (const c of charges) {
    const o = orders.find((x: any) => `charge:${x.idempotency_key}` === c.idempotency_key);
    if (!o || !PAID.includes(o.status) || o.card_charge_id !== c.id) fail('a card charge at the gateway that no paid order recorded', { charge: c, order: o });
  }
  if (new Set(cardOrders.map((o: any) => o.card_charge_id)).size !== cardOrders.length) fail('two orders recorded one card charge', cardOrders);
}

/** Everything that must hold after every step, for the run's accounts. */
export async function checkInvariants(m: Model, r: Real): Promise<void> {
  const ids = m.accounts.map((a) => a.id);
  await checkMoneyInvariants(r.db, ids);
  const db = r.db;
  const terms = await db('subscription_terms as t').join('subscriptions as s', 's.id', 't.subscription_id').whereIn('s.account_id', ids).select('t.*');

  // The model: what it saw succeed is there, once; nothing else is.
  const subs = await db('subscriptions').whereIn('account_id', ids);
  if (subs.length !== m.subs.length) fail('subscriptions in the read model differ from the purchases that answered 201', { readModel: subs.map((s: any) => s.id), model: m.subs.map((s) => s.id) });
  for (const s of m.subs) {
    const manual = terms.filter((t: any) => t.subscription_id === s.id && t.kind === 'manual_renewal').length;
    if (manual !== s.manualRenewals) fail('manual renewal terms differ from the renewals that answered 201 once', { subscription: s.id, terms: manual, model: s.manualRenewals });
  }
  // The list and the item answer the same subscription.
  for (const [i, a] of m.accounts.entries()) {
    const list = await call(m, r, 'customer', i, 'get', `/v1/subscriptions?account_id=${a.id}&limit=200`);
    for (const item of list.body.data) {
      const one = await call(m, r, 'customer', i, 'get', `/v1/subscriptions/${item.id}`);
      if (JSON.stringify(one.body) !== JSON.stringify(item)) fail('the list and the item disagree', { list: item, item: one.body });
    }
  }
}

/** The property: any sequence of at least `minSteps` commands keeps every invariant. */
export function moneyProperty(setup: () => Promise<Real>, opts: { timeTravel: boolean; minSteps: number; maxSteps: number; onRun?: (m: Model) => void }) {
  const arbs = commandArbs({ timeTravel: opts.timeTravel });
  const sequence = fc.tuple(fc.array(purchaseArb, { minLength: 1, maxLength: 3 }), fc.array(fc.oneof(...arbs), { minLength: opts.minSteps - 1, maxLength: opts.maxSteps - 1 }))
    .map(([first, rest]) => [...first, ...rest]);
  return fc.asyncProperty(sequence, async (cmds) => {
    const real = await setup();
    const run = await newRun(real);
    try {
      await fc.asyncModelRun(() => run, cmds);
      opts.onRun?.(run.model);
    } finally {
      await real.cleanup?.(run.model.accounts.map((a) => a.id));
    }
  });
}
