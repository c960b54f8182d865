import fc from 'fast-check';
import {
  upgradeBindingRefusal,
  AUTO_BIND_ORDER,
  BindingServer,
  bindingRefusal,
  chooseQuotaForServer,
  PERMANENT_REFUSALS,
  QuotaCandidate,
} from '../../billing/binding-rules';
import { defaultCatalog, findEdition } from '../../catalog/catalog';
import { at } from './helpers';

// Builders: a host in cn-hangzhou with an online agent, and a quota the catalog describes.
const aServer = (over: Partial<BindingServer> = {}): BindingServer => ({
  id: 'srv_1', accountId: 'acc_1', region: 'cn-hangzhou', kind: 'host', agent: 'online', boundTo: null, ...over,
});

let n = 0;
function aQuota(edition: string, over: Partial<QuotaCandidate> = {}): QuotaCandidate {
  const product = over.product ?? 'host-security';
  const e = findEdition(defaultCatalog, product, edition);
  if (!e) throw new Error(`no ${product}/${edition} in the catalog`);
  return {
    id: `sub_${String(++n).padStart(3, '0')}`,
    accountId: 'acc_1',
    product,
    edition,
    billingMode: 'yearly_monthly',
    status: 'active',
    region: 'cn-hangzhou',
    quantity: 1,
    serverKinds: e.server_kinds,
    bound: 0,
    expiresAt: at('2026-04-20T15:00'),
    ...over,
  };
}

describe('R-Q2 chooseQuotaForServer: automatic binding order', () => {
  it('R-Q2: a host gets premium before enterprise, whatever order the quotas come in', () => {
    const enterprise = aQuota('enterprise');
    const premium = aQuota('premium');
    expect(chooseQuotaForServer(aServer(), [enterprise, premium])).toBe(premium);
    expect(chooseQuotaForServer(aServer(), [premium, enterprise])).toBe(premium);
  });

  it('R-Q2: hosts follow premium, enterprise, professional, basic', () => {
    const quotas = ['basic', 'professional', 'enterprise', 'premium'].map((e) => aQuota(e));
    const picked: string[] = [];
    let left = quotas;
    for (;;) {
      const c = chooseQuotaForServer(aServer(), left);
      if (!c) break;
      picked.push(c.edition);
      left = left.filter((q) => q !== c);
    }
    expect(picked).toEqual(['premium', 'enterprise', 'professional', 'basic']);
  });

  it('R-Q2: a container node gets the container edition first, then premium, enterprise, professional, basic', () => {
    const node = aServer({ kind: 'container' });
    const quotas = ['basic', 'premium', 'professional', 'container', 'enterprise'].map((e) => aQuota(e));
    expect(chooseQuotaForServer(node, quotas)?.edition).toBe('container');
    expect(chooseQuotaForServer(node, quotas.filter((q) => q.edition !== 'container'))?.edition).toBe('premium');
    expect(AUTO_BIND_ORDER.container).toEqual(['container', 'premium', 'enterprise', 'professional', 'basic']);
  });

  it('R-Q2 (wtp, our choice): a host takes wtp first, since it includes premium protection; a container node never gets wtp', () => {
    const wtp = aQuota('wtp');
    const premium = aQuota('premium');
    expect(chooseQuotaForServer(aServer(), [premium, wtp])).toBe(wtp);
    expect(chooseQuotaForServer(aServer({ kind: 'container' }), [wtp])).toBeNull(); // catalog: wtp protects hosts only
  });

  it('R-Q2: the container edition is never given to a host (catalog server_kinds)', () => {
    expect(chooseQuotaForServer(aServer({ kind: 'host' }), [aQuota('container')])).toBeNull();
  });

  it('R-Q3: full quotas are skipped, the next edition in order is used', () => {
    const premium = aQuota('premium', { quantity: 2, bound: 2 });
    const enterprise = aQuota('enterprise', { quantity: 2, bound: 1 });
    expect(chooseQuotaForServer(aServer(), [premium, enterprise])).toBe(enterprise);
    expect(chooseQuotaForServer(aServer(), [premium])).toBeNull();
  });

  it('R-C2: quotas of another region are skipped', () => {
    const premiumShanghai = aQuota('premium', { region: 'cn-shanghai' });
    const basic = aQuota('basic');
    expect(chooseQuotaForServer(aServer(), [premiumShanghai, basic])).toBe(basic);
    expect(chooseQuotaForServer(aServer(), [premiumShanghai])).toBeNull();
  });

  it('§5: only trial, active and grace quotas protect; frozen, isolated, released, unsubscribed are skipped', () => {
    for (const status of ['frozen', 'isolated', 'released', 'unsubscribed'] as const) {
      expect(chooseQuotaForServer(aServer(), [aQuota('premium', { status })])).toBeNull();
    }
    for (const status of ['trial', 'active', 'grace'] as const) {
      expect(chooseQuotaForServer(aServer(), [aQuota('basic', { status })])?.status).toBe(status);
    }
    // R-Q4: held bindings (the workflow has already unbound) count as not protected.
    expect(chooseQuotaForServer(aServer(), [aQuota('premium', { bindingsHeld: true })])).toBeNull();
  });

  it('R-Q2: pay-per-use is never bound automatically', () => {
    expect(chooseQuotaForServer(aServer(), [aQuota('premium', { billingMode: 'pay_per_use' })])).toBeNull();
  });

  it('R-Q2: only host-security quotas take part (workload-protection editions are not in the order)', () => {
    expect(chooseQuotaForServer(aServer(), [aQuota('pro', { product: 'workload-protection' }), aQuota('basic', { product: 'workload-protection' })])).toBeNull();
  });

  it('R-Q1: no automatic binding for a server whose agent is offline, or that is already bound, or of another account', () => {
    expect(chooseQuotaForServer(aServer({ agent: 'offline' }), [aQuota('premium')])).toBeNull();
    expect(chooseQuotaForServer(aServer({ boundTo: 'sub_other' }), [aQuota('premium')])).toBeNull();
    expect(chooseQuotaForServer(aServer({ accountId: 'acc_2' }), [aQuota('premium')])).toBeNull();
  });

  it('within one edition: the quota that expires last, then the smaller id', () => {
    const soon = aQuota('premium', { id: 'sub_a', expiresAt: at('2026-04-01T00:00') });
    const later = aQuota('premium', { id: 'sub_b', expiresAt: at('2026-09-01T00:00') });
    expect(chooseQuotaForServer(aServer(), [soon, later])).toBe(later);
    const twin = aQuota('premium', { id: 'sub_0', expiresAt: later.expiresAt });
    expect(chooseQuotaForServer(aServer(), [later, twin])).toBe(twin);
    // A grace quota (expired) comes after an active one of the same edition.
    const grace = aQuota('premium', { id: 'sub_g', status: 'grace', expiresAt: at('2026-03-01T00:00') });
    expect(chooseQuotaForServer(aServer(), [grace, soon])).toBe(soon);
  });

  it('no candidates → null', () => {
    expect(chooseQuotaForServer(aServer(), [])).toBeNull();
  });

  it('R-Q2 / R-Q3 property: the pick is always bindable and no bindable quota has a better edition', () => {
    const editions = ['basic', 'professional', 'enterprise', 'premium', 'wtp', 'container'];
    const arb = fc.record({
      kind: fc.constantFrom<'host' | 'container'>('host', 'container'),
      quotas: fc.array(
        fc.record({
          edition: fc.constantFrom(...editions),
          region: fc.constantFrom('cn-hangzhou', 'cn-shanghai'),
          status: fc.constantFrom('trial', 'active', 'grace', 'frozen', 'released') as fc.Arbitrary<QuotaCandidate['status']>,
          quantity: fc.integer({ min: 1, max: 3 }),
          bound: fc.integer({ min: 0, max: 3 }),
        }),
        { maxLength: 8 },
      ),
    });
    fc.assert(fc.property(arb, ({ kind, quotas }) => {
      const server = aServer({ kind });
      const cs = quotas.map((q) => aQuota(q.edition, { ...q, bound: Math.min(q.bound, q.quantity) }));
      const pick = chooseQuotaForServer(server, cs);
      const bindable = cs.filter((c) => bindingRefusal(server, c, c.bound) === null && AUTO_BIND_ORDER[kind].includes(c.edition));
      if (bindable.length === 0) return pick === null;
      if (pick === null) return false;
      const rank = (c: QuotaCandidate) => AUTO_BIND_ORDER[kind].indexOf(c.edition);
      return bindable.includes(pick) && pick.bound < pick.quantity && bindable.every((c) => rank(c) >= rank(pick));
    }));
  });
});

describe('R-Q1 bindingRefusal', () => {
  const code = (s: BindingServer, q: QuotaCandidate, bound = q.bound) => bindingRefusal(s, q, bound)?.code ?? null;

  it('R-Q1: an online agent in the same region with a free quota may bind', () => {
    expect(bindingRefusal(aServer(), aQuota('enterprise'), 0)).toBeNull();
  });

  it('R-Q1: an offline agent is refused with BINDING.AGENT_OFFLINE', () => {
    const r = bindingRefusal(aServer({ agent: 'offline' }), aQuota('enterprise'), 0);
    expect(r).toEqual({ code: 'BINDING.AGENT_OFFLINE', message: expect.stringContaining('offline') });
  });

  it('R-Q1 / R-C2: another region is refused with BINDING.REGION_MISMATCH', () => {
    const r = bindingRefusal(aServer({ region: 'cn-beijing' }), aQuota('enterprise'), 0);
    expect(r?.code).toBe('BINDING.REGION_MISMATCH');
    expect(r?.message).toContain('cn-beijing');
  });

  it('R-Q3: a quota with all its quantity bound is refused with BINDING.QUOTA_FULL', () => {
    const q = aQuota('enterprise', { quantity: 2 });
    expect(code(aServer(), q, 1)).toBeNull();
    expect(code(aServer(), q, 2)).toBe('BINDING.QUOTA_FULL');
    expect(code(aServer(), q, 3)).toBe('BINDING.QUOTA_FULL');
  });

  it('§5 / R-Q4: a quota that is not protected is refused with BINDING.NOT_PROTECTED', () => {
    expect(code(aServer(), aQuota('enterprise', { status: 'frozen' }))).toBe('BINDING.NOT_PROTECTED');
    expect(code(aServer(), aQuota('enterprise', { status: 'released' }))).toBe('BINDING.NOT_PROTECTED');
    expect(code(aServer(), aQuota('enterprise', { bindingsHeld: true }))).toBe('BINDING.NOT_PROTECTED');
    expect(code(aServer(), aQuota('enterprise', { status: 'grace' }))).toBeNull();
  });

  it('catalog server_kinds: a host cannot take the container edition, a container node cannot take wtp', () => {
    expect(code(aServer({ kind: 'host' }), aQuota('container'))).toBe('BINDING.SERVER_KIND');
    expect(code(aServer({ kind: 'container' }), aQuota('wtp'))).toBe('BINDING.SERVER_KIND');
    expect(code(aServer({ kind: 'container' }), aQuota('premium'))).toBeNull();
  });

  it('R-Q1: a server already bound is refused with BINDING.ALREADY_BOUND (to this or another quota)', () => {
    const q = aQuota('enterprise', { quantity: 5 });
    expect(code(aServer({ boundTo: q.id }), q)).toBe('BINDING.ALREADY_BOUND');
    expect(bindingRefusal(aServer({ boundTo: 'sub_x' }), q, 0)?.message).toContain('sub_x');
  });

  it('a server and a quota of different accounts are refused; pay-per-use is not a quota to bind', () => {
    expect(code(aServer({ accountId: 'acc_2' }), aQuota('enterprise'))).toBe('BINDING.ACCOUNT_MISMATCH');
    expect(code(aServer(), aQuota('enterprise', { billingMode: 'pay_per_use' }))).toBe('BINDING.BILLING_MODE');
  });

  it('permanent misfits are reported before state conflicts (the reason that matters most)', () => {
    // Wrong region and offline and full: the region is what the customer must hear.
    const r = bindingRefusal(aServer({ region: 'cn-beijing', agent: 'offline' }), aQuota('enterprise'), 1);
    expect(r?.code).toBe('BINDING.REGION_MISMATCH');
    expect(PERMANENT_REFUSALS.has('BINDING.REGION_MISMATCH')).toBe(true);
    expect(PERMANENT_REFUSALS.has('BINDING.AGENT_OFFLINE')).toBe(false);
    expect(PERMANENT_REFUSALS.has('BINDING.QUOTA_FULL')).toBe(false);
  });
});

describe('R-S12 with R-Q1: an upgrade keeps bound servers protectable', () => {
  const wtp = { product: 'host-security', edition: 'wtp', serverKinds: findEdition(defaultCatalog, 'host-security', 'wtp')!.server_kinds };
  it('refuses wtp (hosts only) while a container node is bound, naming it', () => {
    expect(upgradeBindingRefusal(wtp, [{ serverId: 'srv_a', kind: 'host' }, { serverId: 'srv_b', kind: 'container' }])).toEqual({
      code: 'STATE.BOUND_SERVER_KIND',
      message: 'host-security/wtp protects host servers only; unbind srv_b (container) first',
    });
  });
  it('allows it with hosts only, or nothing bound', () => {
    expect(upgradeBindingRefusal(wtp, [{ serverId: 'srv_a', kind: 'host' }])).toBeNull();
    expect(upgradeBindingRefusal(wtp, [])).toBeNull();
  });
});
