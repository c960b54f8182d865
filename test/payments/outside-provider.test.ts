import type { CardGateway } from '../../payments/card-gateway';
import { TransientGatewayError } from '../../payments/errors';
import { createPaymentEngine } from '../../payments/payment-engine';
import { SandboxCardGateway } from '../../payments/sandbox-gateway';
import { createServices } from '../../app/services';
import { loadConfig } from '../../common/config';
import { anAccount, key, paymentsWorld, PaymentsWorld, purpose } from './support';

// Issue #13: the sandbox gateway as a provider outside our processes. A process that dies is
// replaced by one with a gateway client of its own (a new SandboxCardGateway on the same
// database): it must find every charge the provider made, and the provider's own state.
describe('the card gateway outside our processes (R-P5, R-P6, issue #13)', () => {
  let w: PaymentsWorld;
  beforeAll(async () => { w = await paymentsWorld(); });
  afterAll(async () => { await w?.drop(); });
  const realClock = { now: () => new Date() };
  const gatewayCharges = (k: string) => w.db('sandbox_gateway_charges').where({ idempotency_key: `charge:${k}` });

  it('a process that dies after the gateway approved is replaced; the new one finds the charge: one card charge, one ledger transaction', async () => {
    const acc = await anAccount(w).withCash('10.00').withCard('tok_visa').create();
    const k = key('crash');
    const input = { accountId: acc, listAmount: '60.00', purpose: purpose(), idempotencyKey: k };
    const dying = createPaymentEngine({ db: w.db, gateway: new SandboxCardGateway({ db: w.db }), clock: realClock, hooks: { afterGatewayCharge: () => { throw new Error('SIGKILL'); } } });
    await expect(dying.charge(input)).rejects.toThrow('SIGKILL');
    expect(await gatewayCharges(k)).toHaveLength(1);

    const restarted = createPaymentEngine({ db: w.db, gateway: new SandboxCardGateway({ db: w.db }), clock: realClock });
    const r = await restarted.charge(input);
    expect(r.order).toMatchObject({ status: 'paid', cash: '10.00', card: '50.00' });
    expect(await gatewayCharges(k)).toHaveLength(1);
    expect(r.order.card_charge_id).toBe((await gatewayCharges(k))[0].id);
    expect(await w.db('ledger_transactions').where({ idempotency_key: `charge:${k}` })).toHaveLength(1);
    expect(await restarted.getBalances(acc)).toMatchObject({ cash: '0.00', locked: '0.00' });
  });

  it('every process builds its gateway from the environment with the database: the services the worker and API use keep their charges in Postgres', async () => {
    const services = createServices(loadConfig({}), w.db, { CARD_GATEWAY: 'sandbox' });
    const acc = await anAccount({ db: w.db, engine: services.payments }).withCard('tok_visa').create();
    const k = key('wired');
    const r = await services.payments.charge({ accountId: acc, listAmount: '7.00', purpose: purpose(), idempotencyKey: k });
    expect(r.order).toMatchObject({ status: 'paid', card: '7.00' });
    expect(await gatewayCharges(k)).toHaveLength(1);
    // Another process's services (the API's, a restarted worker's) see the same provider.
    const other = createServices(loadConfig({}), w.db, {});
    expect(await other.gateway.getCharge(`charge:${k}`)).toMatchObject({ status: 'succeeded', amount: '7.00' });
  });

  it('tok_transient fails twice per key at the provider, whichever process asks', async () => {
    const a = new SandboxCardGateway({ db: w.db });
    const b = new SandboxCardGateway({ db: w.db });
    const req = { token: 'tok_transient', amount: '5.00', currency: 'USD', idempotencyKey: key('transient') };
    await expect(a.charge(req)).rejects.toBeInstanceOf(TransientGatewayError);
    await expect(b.charge(req)).rejects.toBeInstanceOf(TransientGatewayError);
    const ok = await a.charge(req);
    expect(ok).toMatchObject({ status: 'succeeded' });
    expect(await b.charge(req)).toEqual(ok);
    expect(await b.getCharge(req.idempotencyKey)).toEqual(ok);
  });

  it('a charge in flight renews its hold: the stale-payment sweep leaves it alone, and it completes paid', async () => {
    const slow = new SandboxCardGateway({ db: w.db, latencyMs: 2_500 });
    const engine = createPaymentEngine({ db: w.db, gateway: slow, clock: realClock, lockTtlMs: 1_000 });
    const sweeper = createPaymentEngine({ db: w.db, gateway: new SandboxCardGateway({ db: w.db }), clock: realClock, lockTtlMs: 1_000 });
    const acc = await anAccount(w).withCash('3.00').withCard('tok_visa').create();
    const k = key('inflight');
    const charging = engine.charge({ accountId: acc, listAmount: '20.00', purpose: purpose(), idempotencyKey: k });
    await new Promise((r) => setTimeout(r, 1_600)); // past the first 1 s hold: renewed at 1 s
    const swept = await sweeper.recoverStalePayments();
    expect(swept).toEqual({ captured: 0, released: 0, errors: 0 });
    expect((await charging).order).toMatchObject({ status: 'paid', cash: '3.00', card: '17.00' });
    expect(await engine.getBalances(acc)).toMatchObject({ cash: '0.00', locked: '0.00' });
    expect(await gatewayCharges(k)).toHaveLength(1);
  });

  it('the sweep settles each stale order on its own: one it cannot settle never stops the others', async () => {
    const acc = await anAccount(w).withCash('1.00').withCard('tok_visa').create();
    const dying = (gateway: CardGateway) => createPaymentEngine({ db: w.db, gateway, clock: realClock, lockTtlMs: 1, hooks: { afterGatewayCharge: () => { throw new Error('SIGKILL'); } } });
    const provider = new SandboxCardGateway({ db: w.db });
    const [k1, k2] = [key('bad'), key('good')];
    await expect(dying(provider).charge({ accountId: acc, listAmount: '10.00', purpose: purpose('res_a'), idempotencyKey: k1 })).rejects.toThrow('SIGKILL');
    await expect(dying(provider).charge({ accountId: acc, listAmount: '10.00', purpose: purpose('res_b'), idempotencyKey: k2 })).rejects.toThrow('SIGKILL');
    await new Promise((r) => setTimeout(r, 20));
    // The provider cannot answer about the first key this round.
    const flaky: CardGateway = {
      charge: (req) => provider.charge(req),
      getCharge: async (k) => { if (k === `charge:${k1}`) throw new TransientGatewayError('provider timeout'); return provider.getCharge(k); },
    };
    const errors: string[] = [];
    const sweeper = createPaymentEngine({ db: w.db, gateway: flaky, clock: realClock, lockTtlMs: 1, hooks: { onRecoveryError: (orderId) => errors.push(orderId) } });
    const first = await sweeper.recoverStalePayments();
    expect(first).toMatchObject({ captured: 1, errors: 1 });
    expect(errors).toHaveLength(1);
    const next = createPaymentEngine({ db: w.db, gateway: provider, clock: realClock, lockTtlMs: 1 });
    expect(await next.recoverStalePayments()).toMatchObject({ captured: 1, errors: 0 });
    const orders = (await next.listOrders(acc)).data;
    expect(orders.map((o) => o.status)).toEqual(['paid', 'paid']);
    expect(await next.getBalances(acc)).toMatchObject({ cash: '0.00', locked: '0.00' });
  });
});
