import { createPaymentEngine, PaymentEngine, PaymentEngineHooks } from '../../payments/payment-engine';
import { randomBytes } from 'node:crypto';
import { SandboxCardGateway, SandboxGatewayOptions } from '../../payments/sandbox-gateway';
import type { Db } from '../../common/db';
import { createTestDb } from '../support/db';

/** A clock tests move by hand. */
export class TestClock {
  constructor(private t = new Date('2024-03-01T02:00:00Z')) {}
  now = (): Date => new Date(this.t);
  set(iso: string | Date): void {
    this.t = new Date(iso);
  }
  advance(ms: number): void {
    this.t = new Date(this.t.getTime() + ms);
  }
}

export interface PaymentsWorld {
  db: Db;
  gateway: SandboxCardGateway;
  clock: TestClock;
  engine: PaymentEngine;
  /** Another engine on the same db and gateway, e.g. with crash hooks. */
  engineWith(opts: { hooks?: PaymentEngineHooks; lockTtlMs?: number }): PaymentEngine;
  drop(): Promise<void>;
}

export async function paymentsWorld(gatewayOpts: SandboxGatewayOptions = {}): Promise<PaymentsWorld> {
  const t = await createTestDb();
  const gateway = new SandboxCardGateway(gatewayOpts);
  const clock = new TestClock();
  const engineWith = (opts: { hooks?: PaymentEngineHooks; lockTtlMs?: number }) => createPaymentEngine({ db: t.db, gateway, clock, ...opts });
  return { db: t.db, gateway, clock, engine: engineWith({}), engineWith, drop: () => t.drop() };
}

/**
 * Test data builder ("mother"): `await anAccount(w).withCash('600.00').withCredit('400.00').withCard().create()`.
 */
export function anAccount(w: Pick<PaymentsWorld, 'db' | 'engine'>) {
  const spec = { cash: null as string | null, credit: null as string | null, card: null as string | null, coupons: [] as { amount: string; expiresAt: string; scope?: string }[], currency: 'USD' };
  const builder = {
    withCash(amount: string) {
      spec.cash = amount;
      return builder;
    },
    withCredit(limit: string) {
      spec.credit = limit;
      return builder;
    },
    withCard(token = 'tok_visa') {
      spec.card = token;
      return builder;
    },
    withCoupon(amount: string, expiresAt = '2030-01-01T00:00:00Z', scope?: string) {
      spec.coupons.push({ amount, expiresAt, scope });
      return builder;
    },
    inCurrency(currency: string) {
      spec.currency = currency;
      return builder;
    },
    async create(): Promise<string> {
      const id = `acc_${randomBytes(8).toString('hex')}`;
      await w.db('accounts').insert({ id, name: `Test ${id}`, currency: spec.currency });
      if (spec.cash) await w.engine.topUp({ accountId: id, amount: spec.cash, idempotencyKey: `seed-cash:${id}` });
      if (spec.credit) await w.engine.setCreditLimit({ accountId: id, limit: spec.credit });
      if (spec.card) await w.engine.bindCard({ accountId: id, token: spec.card });
      for (const c of spec.coupons) await w.engine.issueCoupon({ accountId: id, ...c });
      return id;
    },
  };
  return builder;
}

/** R-M3: ids of ledger transactions whose entries do not sum to zero (expected: none). */
export async function unbalancedTransactions(db: Db): Promise<string[]> {
  const rows = await db('ledger_entries').groupBy('transaction_id').havingRaw('sum(amount) <> 0').select('transaction_id');
  return rows.map((r: any) => r.transaction_id);
}

export const purpose = (resourceId = 'res_1', extra: Record<string, unknown> = {}) => ({ kind: 'subscription_purchase', resourceId, description: 'test charge', ...extra });

let seq = 0;
export const key = (label = 'k') => `${label}:${Date.now()}:${++seq}`;
