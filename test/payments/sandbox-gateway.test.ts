import { TransientGatewayError } from '../../payments/errors';
import { gatewayFromEnv, SandboxCardGateway } from '../../payments/sandbox-gateway';
import { createTestDb } from '../support/db';

// R-P6: the sandbox gateway's deterministic behaviours and its idempotency on the key.
const req = (token: string, idempotencyKey: string, amount = '10.00') => ({ token, amount, currency: 'USD', idempotencyKey });

describe('sandbox card gateway (R-P6)', () => {
  it('tok_visa approves, once per key', async () => {
    const g = new SandboxCardGateway();
    const a = await g.charge(req('tok_visa', 'k1'));
    expect(a).toMatchObject({ status: 'succeeded', amount: '10.00', currency: 'USD' });
    expect(await g.charge(req('tok_visa', 'k1'))).toEqual(a);
    expect(await g.getCharge('k1')).toEqual(a);
    expect(await g.getCharge('k-unknown')).toBeNull();
    expect(g.charges).toHaveLength(1);
    await expect(g.charge(req('tok_visa', 'k1', '11.00'))).rejects.toMatchObject({ code: 'IDEMPOTENCY.MISMATCH' });
  });

  it('tok_chargeDeclined always declines (a result, not an error)', async () => {
    const g = new SandboxCardGateway();
    expect(await g.charge(req('tok_chargeDeclined', 'd1'))).toMatchObject({ status: 'declined', code: 'card_declined' });
    expect(await g.charge(req('tok_chargeDeclined', 'd2'))).toMatchObject({ status: 'declined' });
    expect(g.succeeded).toHaveLength(0);
  });

  it('tok_transient fails transiently twice per key, then approves', async () => {
    const g = new SandboxCardGateway();
    await expect(g.charge(req('tok_transient', 't1'))).rejects.toBeInstanceOf(TransientGatewayError);
    expect(await g.getCharge('t1')).toBeNull();
    await expect(g.charge(req('tok_transient', 't1'))).rejects.toBeInstanceOf(TransientGatewayError);
    expect(await g.charge(req('tok_transient', 't1'))).toMatchObject({ status: 'succeeded' });
    await expect(g.charge(req('tok_transient', 't2'))).rejects.toBeInstanceOf(TransientGatewayError);
  });

  it('concurrent calls with one key share one outcome', async () => {
    const g = new SandboxCardGateway({ latencyMs: 20 });
    const rs = await Promise.all([1, 2, 3].map(() => g.charge(req('tok_visa', 'c1'))));
    expect(new Set(rs.map((r) => (r.status === 'succeeded' ? r.chargeId : '')))).toHaveProperty('size', 1);
    expect(g.charges).toHaveLength(1);
  });

  it('with a db, a restarted gateway still finds charges by key', async () => {
    const t = await createTestDb();
    try {
      const before = new SandboxCardGateway({ db: t.db });
      const r = await before.charge(req('tok_visa', 'p1'));
      const after = new SandboxCardGateway({ db: t.db });
      expect(await after.getCharge('p1')).toEqual(r);
      expect(await after.charge(req('tok_visa', 'p1'))).toEqual(r);
      expect(await t.db('sandbox_gateway_charges').count({ n: '*' })).toEqual([{ n: 1 }]);
    } finally {
      await t.drop();
    }
  });

  it('gatewayFromEnv reads and checks its settings', async () => {
    expect(gatewayFromEnv({})).toBeInstanceOf(SandboxCardGateway);
    const g = gatewayFromEnv({ SANDBOX_GATEWAY_TRANSIENT_RATE: '1' });
    await expect(g.charge(req('tok_visa', 'e1'))).rejects.toBeInstanceOf(TransientGatewayError);
    expect(() => gatewayFromEnv({ SANDBOX_GATEWAY_TRANSIENT_RATE: '2' })).toThrow(/SANDBOX_GATEWAY_TRANSIENT_RATE/);
    expect(() => gatewayFromEnv({ CARD_GATEWAY: 'stripe' })).toThrow(/only "sandbox"/);
  });
});
