import { deleteBindings, restoreBindings, suspendBindings } from '../../store/servers.store';
import { createApiWorld, ApiWorld } from '../support/api';
import { defaultCatalog } from '../../catalog/catalog';

// SPEC §6 over HTTP: servers (R-Q1), bindings (R-Q1, R-Q3), automatic binding (R-Q2) and what
// the subscription lifecycle does to bindings (R-Q4), against the real worker, the
// time-skipping Temporal server and Postgres. The lifecycle test advances virtual time, so it
// runs last.

const ms = (iso: string) => new Date(iso).getTime();
const month = { unit: 'month' as const, count: 1 };

describe('API: servers and bindings (R-Q1…R-Q4)', () => {
  let w: ApiWorld;
  let n = 0;
  beforeAll(async () => { w = await createApiWorld(); });
  afterAll(async () => { await w?.close(); });

  type Customer = { id: string; key: string };

  async function buy(c: Customer, edition: string, opts: { quantity?: number; region?: string } = {}) {
    const res = await w.as(c.key).post('/v1/subscriptions', {
      account_id: c.id, product: 'host-security', edition, region: opts.region ?? 'cn-hangzhou', quantity: opts.quantity ?? 1, term: month,
    }, `buy-${c.id}-${++n}`);
    expect(res.status).toBe(201);
    return res.body as { id: string; edition: string; expires_at: string; forecast: { grace_ends_at: string; frozen_ends_at: string } };
  }

  async function register(c: Customer, body: { region?: string; kind?: 'host' | 'container'; agent?: 'online' | 'offline'; power?: 'running' | 'stopped' } = {}) {
    const res = await w.as(c.key).post('/v1/servers', { account_id: c.id, region: 'cn-hangzhou', kind: 'host', agent: 'online', ...body }, `srv-${c.id}-${++n}`);
    expect(res.status).toBe(201);
    return res.body;
  }

  const bind = (c: Customer, subscriptionId: string, serverId: string, key = `bind-${++n}`) =>
    w.as(c.key).post('/v1/bindings', { subscription_id: subscriptionId, server_id: serverId }, key);
  const bindingsOf = async (c: Customer, subscriptionId: string) => {
    const res = await w.as(c.key).get(`/v1/subscriptions/${subscriptionId}/bindings`);
    expect(res.status).toBe(200);
    return res.body.data as { id: string; server_id: string; status: string; edition: string }[];
  };
  const server = async (c: Customer, id: string) => (await w.as(c.key).get(`/v1/servers/${id}`)).body;

  /** The workflow's unbind activity runs just after its state changes: wait for it (real time). */
  async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const v = await read();
      if (ok(v)) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  describe('R-Q1: manual binding', () => {
    let c: Customer;
    let sub: { id: string };
    beforeAll(async () => {
      c = await w.newCustomer({ cash: '1000.00' });
      sub = await buy(c, 'enterprise');
    });

    it('registers a server: 201 with no binding (auto-binding is off by default)', async () => {
      const s = await register(c, { power: 'stopped' });
      expect(s).toMatchObject({ account_id: c.id, region: 'cn-hangzhou', kind: 'host', agent: 'online', power: 'stopped', binding: null, protected: false });
      expect(s.id).toMatch(/^srv_/);
      expect(s.created_at).toMatch(/\+08:00$/); // R-T1
      expect(await server(c, s.id)).toEqual(s);

      // R-U1: every power state is recorded for pay-per-use settlement (registration included).
      const started = await w.as(c.key).patch(`/v1/servers/${s.id}`, { power: 'running' });
      expect(started.status).toBe(200);
      expect(started.body).toMatchObject({ id: s.id, power: 'running', agent: 'online' });
      await w.as(c.key).patch(`/v1/servers/${s.id}`, { agent: 'offline' }); // no power change, no event
      expect(await w.db('server_power_events').where({ server_id: s.id }).orderBy('id').pluck('power')).toEqual(['stopped', 'running']);
      expect((await server(c, s.id)).agent).toBe('offline');
    });

    it('R-Q1: an offline agent is refused with BINDING.AGENT_OFFLINE and nothing is bound', async () => {
      const s = await register(c, { agent: 'offline' });
      const res = await bind(c, sub.id, s.id);
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'BINDING.AGENT_OFFLINE', details: { subscription_id: sub.id, server_id: s.id } });
      expect(res.body.error.message).toMatch(/offline/);
      expect(await bindingsOf(c, sub.id)).toEqual([]);
      expect((await server(c, s.id)).binding).toBeNull();

      // Once the agent is online the same pair binds.
      const patched = await w.as(c.key).patch(`/v1/servers/${s.id}`, { agent: 'online' });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ agent: 'online', binding: null }); // auto-binding is off
      const ok = await bind(c, sub.id, s.id);
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({ subscription_id: sub.id, server_id: s.id, edition: 'enterprise', region: 'cn-hangzhou', status: 'active' });
      expect(await w.as(c.key).delete(`/v1/bindings/${ok.body.id}`).then((r) => r.status)).toBe(204);
    });

    it('R-Q1 / R-C2: a server in another region is refused with BINDING.REGION_MISMATCH (422)', async () => {
      const s = await register(c, { region: 'cn-shanghai' });
      const res = await bind(c, sub.id, s.id);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('BINDING.REGION_MISMATCH');
      expect(await bindingsOf(c, sub.id)).toEqual([]);
    });

    it('R-Q1 / R-Q3: binds one server; a second server on a quantity-1 quota is refused with BINDING.QUOTA_FULL; unbinding frees it', async () => {
      const a = await register(c);
      const b = await register(c);
      const first = await bind(c, sub.id, a.id, 'bind-a');
      expect(first.status).toBe(201);
      expect(first.body.id).toMatch(/^bnd_/);
      expect(await server(c, a.id)).toMatchObject({ protected: true, binding: { id: first.body.id, status: 'active', subscription_id: sub.id } });

      // The same Idempotency-Key answers the first response again, and binds nothing more.
      const again = await bind(c, sub.id, a.id, 'bind-a');
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);

      const full = await bind(c, sub.id, b.id);
      expect(full.status).toBe(409);
      expect(full.body.error.code).toBe('BINDING.QUOTA_FULL');
      const twice = await bind(c, sub.id, a.id);
      expect(twice.status).toBe(409);
      expect(twice.body.error.code).toBe('BINDING.ALREADY_BOUND');
      expect((await bindingsOf(c, sub.id)).map((x) => x.server_id)).toEqual([a.id]);

      expect((await w.as(c.key).delete(`/v1/bindings/${first.body.id}`)).status).toBe(204);
      expect((await w.as(c.key).delete(`/v1/bindings/${first.body.id}`)).status).toBe(404);
      expect(await server(c, a.id)).toMatchObject({ protected: false, binding: null });
      const moved = await bind(c, sub.id, b.id);
      expect(moved.status).toBe(201);
      expect((await bindingsOf(c, sub.id)).map((x) => x.server_id)).toEqual([b.id]);
      expect((await w.as(c.key).delete(`/v1/bindings/${moved.body.id}`)).status).toBe(204);
    });

    it('catalog server_kinds: a host cannot take the container edition (BINDING.SERVER_KIND, 422)', async () => {
      const containerSub = await buy(c, 'container');
      const host = await register(c);
      const res = await bind(c, containerSub.id, host.id);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('BINDING.SERVER_KIND');
    });

    it('R-Q3: concurrent binds never exceed the quantity', async () => {
      const two = await buy(c, 'professional', { quantity: 2 });
      const servers = await Promise.all(Array.from({ length: 6 }, () => register(c)));
      const results = await Promise.all(servers.map((s) => bind(c, two.id, s.id)));
      expect(results.filter((r) => r.status === 201)).toHaveLength(2);
      expect(results.filter((r) => r.status === 409).map((r) => r.body.error.code)).toEqual(Array(4).fill('BINDING.QUOTA_FULL'));
      const listed = await bindingsOf(c, two.id);
      expect(listed).toHaveLength(2);
      // Paged one at a time: the same two, oldest first, then no cursor.
      const p1 = await w.as(c.key).get(`/v1/subscriptions/${two.id}/bindings?limit=1`);
      const p2 = await w.as(c.key).get(`/v1/subscriptions/${two.id}/bindings?limit=1&cursor=${p1.body.next_cursor}`);
      expect([...p1.body.data, ...p2.body.data].map((b: { id: string }) => b.id)).toEqual(listed.map((b) => b.id));
      expect(p2.body.next_cursor).toBeNull();
    });

    it('rejects bad input: unknown fields, wrong enums, unknown region, unknown ids', async () => {
      const unknownField = await w.as(c.key).post('/v1/servers', { account_id: c.id, region: 'cn-hangzhou', kind: 'host', agent: 'online', name: 'x' });
      expect(unknownField.status).toBe(400);
      expect(unknownField.body.error.code).toBe('VALIDATION.BODY');
      const badKind = await w.as(c.key).post('/v1/servers', { account_id: c.id, region: 'cn-hangzhou', kind: 'vm', agent: 'online' });
      expect(badKind.status).toBe(400);
      const badRegion = await w.as(c.key).post('/v1/servers', { account_id: c.id, region: 'mars-1', kind: 'host', agent: 'online' });
      expect(badRegion.status).toBe(422);
      expect(badRegion.body.error.code).toBe('CATALOG.UNKNOWN_REGION');
      const emptyPatch = await w.as(c.key).patch('/v1/servers/srv_nothing', {});
      expect(emptyPatch.status).toBe(400);
      const extraBind = await w.as(c.key).post('/v1/bindings', { subscription_id: sub.id, server_id: 'srv_x', force: true });
      expect(extraBind.status).toBe(400);
      const noServer = await bind(c, sub.id, 'srv_doesnotexist');
      expect(noServer.status).toBe(404);
      expect((await w.as(c.key).get('/v1/servers/srv_doesnotexist')).status).toBe(404);
    });

    it('lists servers with pagination (a customer key sees its own only)', async () => {
      const first = await w.as(c.key).get('/v1/servers?limit=3');
      expect(first.status).toBe(200);
      expect(first.body.data).toHaveLength(3);
      expect(first.body.next_cursor).toEqual(expect.any(String));
      const all: { id: string; account_id: string }[] = [...first.body.data];
      let cursor: string | null = first.body.next_cursor;
      while (cursor) {
        const page = await w.as(c.key).get(`/v1/servers?limit=3&cursor=${cursor}`);
        all.push(...page.body.data);
        cursor = page.body.next_cursor;
      }
      expect(new Set(all.map((s) => s.id)).size).toBe(all.length);
      expect(all.every((s) => s.account_id === c.id)).toBe(true);
      const viaOperator = await w.op().get(`/v1/servers?account_id=${c.id}&limit=200`);
      expect(viaOperator.body.data.map((s: { id: string }) => s.id).sort()).toEqual(all.map((s) => s.id).sort());
      const forged = await w.as(c.key).get(`/v1/servers?cursor=${Buffer.from('["yesterday","x"]').toString('base64url')}`);
      expect(forged.status).toBe(400);
      expect(forged.body.error.code).toBe('VALIDATION.CURSOR');
    });

    it('POST /v1/servers honours Idempotency-Key: one server for two identical requests', async () => {
      const body = { account_id: c.id, region: 'cn-beijing', kind: 'container', agent: 'offline' };
      const one = await w.as(c.key).post('/v1/servers', body, 'register-once');
      const two = await w.as(c.key).post('/v1/servers', body, 'register-once');
      expect(one.status).toBe(201);
      expect(two.body).toEqual(one.body);
      const list = await w.as(c.key).get('/v1/servers?limit=200');
      expect(list.body.data.filter((s: { region: string }) => s.region === 'cn-beijing')).toHaveLength(1);
    });
  });

  describe('R-Q2: automatic binding', () => {
    it('R-Q2: a new host gets premium before enterprise, then enterprise once premium is full; a container node gets the container edition first', async () => {
      const c = await w.newCustomer({ cash: '1000.00' });
      const enterprise = await buy(c, 'enterprise');
      const premium = await buy(c, 'premium');
      const container = await buy(c, 'container');
      await buy(c, 'premium', { region: 'cn-shanghai' }); // R-C2: another region never binds here

      const before = await register(c);
      expect(before.binding).toBeNull(); // auto-binding off: nothing happens

      const on = await w.as(c.key).put(`/v1/accounts/${c.id}/auto-binding`, { enabled: true });
      expect(on.status).toBe(200);
      expect(on.body).toMatchObject({ id: c.id, auto_binding: true });
      const cashBefore = on.body.cash;

      const host1 = await register(c);
      expect(host1).toMatchObject({ protected: true, binding: { subscription_id: premium.id, edition: 'premium', status: 'active' } });
      const host2 = await register(c);
      expect(host2.binding).toMatchObject({ subscription_id: enterprise.id, edition: 'enterprise' });
      const node = await register(c, { kind: 'container' });
      expect(node.binding).toMatchObject({ subscription_id: container.id, edition: 'container' });

      // All matching quotas are full now: the next host stays unbound.
      const host3 = await register(c);
      expect(host3.binding).toBeNull();
      // R-Q1: an offline agent takes no quota; it gets one when it first comes online.
      await w.as(c.key).delete(`/v1/bindings/${host2.binding.id}`);
      const offline = await register(c, { agent: 'offline' });
      expect(offline.binding).toBeNull();
      const online = await w.as(c.key).patch(`/v1/servers/${offline.id}`, { agent: 'online' });
      expect(online.body.binding).toMatchObject({ subscription_id: enterprise.id });

      // R-Q2: no order and no charge.
      const account = await w.as(c.key).get(`/v1/accounts/${c.id}`);
      expect(account.body.cash).toBe(cashBefore);
      // The server registered before auto-binding was switched on is left alone.
      expect((await server(c, before.id)).binding).toBeNull();

      const off = await w.as(c.key).put(`/v1/accounts/${c.id}/auto-binding`, { enabled: false });
      expect(off.body.auto_binding).toBe(false);
    });

    it('R-Q2: a container node falls back to premium when there is no container quota', async () => {
      const c = await w.newCustomer({ cash: '1000.00' });
      const premium = await buy(c, 'premium');
      await buy(c, 'enterprise');
      await w.as(c.key).put(`/v1/accounts/${c.id}/auto-binding`, { enabled: true });
      const node = await register(c, { kind: 'container' });
      expect(node.binding).toMatchObject({ subscription_id: premium.id, edition: 'premium' });
    });
  });

  describe('R-S12 / R-Q1: an upgrade keeps every bound server protectable', () => {
    it('premium → wtp with a container node bound: 409 STATE.BOUND_SERVER_KIND, nothing charged, edition and binding kept; with hosts only it upgrades', async () => {
      const c = await w.newCustomer({ cash: '1000.00' });
      const sub = await buy(c, 'premium');
      const node = await register(c, { kind: 'container' });
      expect((await bind(c, sub.id, node.id)).status).toBe(201);
      const cashBefore = (await w.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash;

      const refused = await w.as(c.key).post(`/v1/subscriptions/${sub.id}/upgrade`, { edition: 'wtp' }, `up-${c.id}-1`);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ code: 'STATE.BOUND_SERVER_KIND' });
      expect(refused.body.error.message).toBe(`host-security/wtp protects host servers only; unbind ${node.id} (container) first`);
      expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe(cashBefore);
      expect(await w.db('orders').where({ account_id: c.id, kind: 'subscription_upgrade' })).toHaveLength(0);
      expect((await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body.edition).toBe('premium');
      expect((await bindingsOf(c, sub.id)).map((b) => [b.server_id, b.status])).toEqual([[node.id, 'active']]);

      // The refusal is the upgrade activity's own check, before it charges (called directly here too).
      const { createActivities } = await import('../../activities');
      const acts = createActivities({ db: w.db, payments: w.payments, catalog: defaultCatalog });
      const direct = await acts.chargeUpgrade({
        subscriptionId: sub.id, accountId: c.id, product: 'host-security', fromEdition: 'premium', toEdition: 'wtp', quantity: 1,
        termStartedAt: Date.now() - 86_400_000, termMonths: 1, offsetMinutes: 480, at: Date.now(), idempotencyKey: `direct-${c.id}`,
      });
      expect(direct).toMatchObject({ ok: false, code: 'STATE.BOUND_SERVER_KIND' });
      expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body.cash).toBe(cashBefore);

      // Unbound, the same upgrade goes through and charges.
      const binding = (await bindingsOf(c, sub.id))[0];
      expect((await w.as(c.key).delete(`/v1/bindings/${binding.id}`)).status).toBe(204);
      const host = await register(c, { kind: 'host' });
      expect((await bind(c, sub.id, host.id)).status).toBe(201);
      const upgraded = await w.as(c.key).post(`/v1/subscriptions/${sub.id}/upgrade`, { edition: 'wtp' }, `up-${c.id}-2`);
      expect(upgraded.status).toBe(200);
      expect(upgraded.body.subscription.edition).toBe('wtp');
      expect(Number(upgraded.body.charged)).toBeGreaterThan(0);
    });

    it('no bind slips in between the upgrade\'s check and the new edition: while it is under way a bind must suit both editions; a failed charge lifts that', async () => {
      const { reserveUpgrade } = await import('../../store/servers.store');
      const c = await w.newCustomer({ cash: '1000.00' });
      const sub = await buy(c, 'premium');
      // The upgrade activity's first step (check + reservation, one transaction), as if its
      // charge were still running when the bind arrives.
      expect(await reserveUpgrade(w.db, sub.id, 'wtp', () => null)).toBeNull();
      const node = await register(c, { kind: 'container' });
      const refused = await bind(c, sub.id, node.id);
      expect(refused.status).toBe(422);
      expect(refused.body.error).toMatchObject({ code: 'BINDING.SERVER_KIND', message: `host-security/premium is being upgraded to wtp; together they protect host servers, not a container` });
      const host = await register(c, { kind: 'host' });
      expect((await bind(c, sub.id, host.id)).status).toBe(201); // suits both

      const upgraded = await w.as(c.key).post(`/v1/subscriptions/${sub.id}/upgrade`, { edition: 'wtp' }, `up-${c.id}-race`);
      expect(upgraded.status).toBe(200);
      expect((await w.db('subscriptions').where({ id: sub.id }).first()).pending_edition).toBeNull(); // recorded: the edition alone answers
      expect((await bind(c, sub.id, node.id)).body.error.message).toBe('host-security/wtp protects host servers, not a container');

      // A charge that fails releases the reservation: premium takes a container node again.
      const poor = await w.newCustomer({ cash: '40.00' });
      const other = await buy(poor, 'premium'); // one month of premium: 40.00, nothing left
      const failed = await w.as(poor.key).post(`/v1/subscriptions/${other.id}/upgrade`, { edition: 'wtp' }, `up-${poor.id}-race`);
      expect(failed.status).toBe(402);
      expect((await w.db('subscriptions').where({ id: other.id }).first()).pending_edition).toBeNull();
      const node2 = await register(poor, { kind: 'container' });
      expect((await bind(poor, other.id, node2.id)).status).toBe(201);
    });
  });

  describe('R-Q4: binding against a lapsing quota', () => {
    it('R-Q4: once the workflow has unbound (before it records frozen or released) a bind is refused', async () => {
      const c = await w.newCustomer({ cash: '1000.00' });
      const sub = await buy(c, 'enterprise', { quantity: 3 });
      const [s1, s2, s3] = [await register(c), await register(c), await register(c)];
      expect((await bind(c, sub.id, s1.id)).status).toBe(201);

      // The workflow's freeze step: unbind first, status second. In between, the read model still
      // says active, yet the quota must take no new server.
      await suspendBindings(w.db, sub.id);
      expect((await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('active');
      const refused = await bind(c, sub.id, s2.id);
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('BINDING.NOT_PROTECTED');
      expect((await bindingsOf(c, sub.id)).map((b) => b.status)).toEqual(['suspended']);

      await restoreBindings(w.db, sub.id);
      expect((await bind(c, sub.id, s2.id)).status).toBe(201);
      expect((await bindingsOf(c, sub.id)).map((b) => b.status)).toEqual(['active', 'active']);

      // Released: deleted for good; a late, retried suspend does not turn that back.
      await deleteBindings(w.db, sub.id);
      await suspendBindings(w.db, sub.id);
      await restoreBindings(w.db, sub.id);
      expect(await bindingsOf(c, sub.id)).toEqual([]);
      expect((await bind(c, sub.id, s3.id)).body.error.code).toBe('BINDING.NOT_PROTECTED');
    });
  });

  describe('tenant isolation', () => {
    it("another tenant's key gets 404 for servers, bindings, subscriptions and auto-binding, and changes nothing", async () => {
      const c = await w.newCustomer({ cash: '1000.00' });
      const other = await w.newCustomer({ cash: '1000.00' });
      const sub = await buy(c, 'enterprise', { quantity: 2 });
      const s = await register(c);
      const b = await bind(c, sub.id, s.id);
      expect(b.status).toBe(201);
      const theirs = await register(other);
      const free = await register(c);
      const snapshot = await server(c, s.id);

      const o = w.as(other.key);
      const expect404 = async (p: Promise<{ status: number; body: { error?: { code: string } } }>) => {
        const res = await p;
        expect(res.status).toBe(404);
        expect(res.body.error?.code).toBe('NOT_FOUND');
      };
      await expect404(o.get(`/v1/servers/${s.id}`));
      await expect404(o.patch(`/v1/servers/${s.id}`, { agent: 'offline' }));
      await expect404(o.get(`/v1/servers?account_id=${c.id}`));
      await expect404(o.post('/v1/servers', { account_id: c.id, region: 'cn-hangzhou', kind: 'host', agent: 'online' }, 'steal-1'));
      await expect404(o.post('/v1/bindings', { subscription_id: sub.id, server_id: theirs.id }, 'steal-2'));
      await expect404(o.post('/v1/bindings', { subscription_id: sub.id, server_id: free.id }, 'steal-3'));
      await expect404(o.get(`/v1/bindings/${b.body.id}`));
      await expect404(o.delete(`/v1/bindings/${b.body.id}`));
      await expect404(o.get(`/v1/subscriptions/${sub.id}/bindings`));
      await expect404(o.put(`/v1/accounts/${c.id}/auto-binding`, { enabled: true }));

      // Nothing changed for the owner.
      expect(await server(c, s.id)).toEqual(snapshot);
      expect((await bindingsOf(c, sub.id)).map((x) => x.id)).toEqual([b.body.id]);
      expect((await server(c, free.id)).binding).toBeNull();
      expect((await server(other, theirs.id)).binding).toBeNull();
      expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body.auto_binding).toBe(false);
      expect((await w.as(c.key).get('/v1/servers?limit=200')).body.data).toHaveLength(2);
      // The other tenant's list shows only its own server.
      expect((await o.get('/v1/servers')).body.data.map((x: { id: string }) => x.id)).toEqual([theirs.id]);

      // An operator may not bind one account's quota to another account's server.
      const cross = await w.op().post('/v1/bindings', { subscription_id: sub.id, server_id: theirs.id }, 'op-cross');
      expect(cross.status).toBe(422);
      expect(cross.body.error.code).toBe('BINDING.ACCOUNT_MISMATCH');
    });
  });

  describe('R-Q4: the lifecycle through time skipping (advances virtual time: keep last)', () => {
    it('R-Q4: frozen suspends the binding (server unprotected), a manual renewal restores the same binding, released deletes it', async () => {
      const c = await w.newCustomer({ cash: '1000.00' });
      const sub = await buy(c, 'enterprise');
      const s = await register(c);
      const spare = await register(c);
      const bound = await bind(c, sub.id, s.id);
      expect(bound.status).toBe(201);
      const bindingId: string = bound.body.id;

      const advanceTo = async (at: number) => w.env.sleep(at - (await w.env.currentTimeMs()));
      const status = async () => (await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body.status;
      const binding = async () => (await w.as(c.key).get(`/v1/bindings/${bindingId}`)).body;

      // Grace (R-S6): protection continues.
      await advanceTo(ms(sub.expires_at) + 1000);
      expect(await status()).toBe('grace');
      expect(await binding()).toMatchObject({ status: 'active' });
      expect((await server(c, s.id)).protected).toBe(true);

      // Frozen (R-S7 / R-Q4): unbound but remembered.
      await advanceTo(ms(sub.forecast.grace_ends_at) + 1000);
      expect(await status()).toBe('frozen');
      await eventually(binding, (b) => b.status === 'suspended', 'the binding to be suspended');
      expect(await server(c, s.id)).toMatchObject({ protected: false, binding: { id: bindingId, status: 'suspended' } });
      expect((await bindingsOf(c, sub.id)).map((x) => [x.id, x.status])).toEqual([[bindingId, 'suspended']]);
      // A frozen quota takes no new server.
      const refused = await bind(c, sub.id, spare.id);
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('BINDING.NOT_PROTECTED');

      // Manual renewal (R-S5): active again, the same binding restored.
      const renewed = await w.as(c.key).post(`/v1/subscriptions/${sub.id}/renewals`, { term: month }, `renew-${sub.id}`);
      expect(renewed.status).toBe(201);
      expect(renewed.body.status).toBe('active');
      await eventually(binding, (b) => b.status === 'active', 'the binding to be restored');
      expect(await server(c, s.id)).toMatchObject({ protected: true, binding: { id: bindingId, status: 'active', subscription_id: sub.id } });

      // Let it lapse to released (R-S8 / R-Q4): the binding is deleted, the server is free.
      const after = (await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body;
      await advanceTo(ms(after.forecast.frozen_ends_at) + 1000);
      await w.env.client.workflow.getHandle(`subscription-${sub.id}`).result();
      expect(await status()).toBe('released');
      expect((await w.as(c.key).get(`/v1/bindings/${bindingId}`)).status).toBe(404);
      expect(await bindingsOf(c, sub.id)).toEqual([]);
      expect(await server(c, s.id)).toMatchObject({ protected: false, binding: null });
      const gone = await bind(c, sub.id, spare.id);
      expect(gone.status).toBe(409);
      expect(gone.body.error.code).toBe('BINDING.NOT_PROTECTED');

      // The freed server can take another quota.
      const next = await buy(c, 'basic');
      expect((await bind(c, next.id, s.id)).status).toBe(201);
    });
  });
});
