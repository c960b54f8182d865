import type { Db } from '../common/db';
import type { CardGateway, GatewayCharge, GatewayChargeRequest } from './card-gateway';
import { PaymentError, TransientGatewayError } from './errors';
import { newId } from './ids';

// R-P6 sandbox card gateway: deterministic outcomes per token, configurable latency and
// transient failures, idempotent on the request's key. Given a database it behaves like a
// provider outside our processes (issue #13): every charge it made is in
// `sandbox_gateway_charges` and what it answers a key's first tries in
// `sandbox_gateway_requests`, so every process, and one restarted after a crash, asks it about a
// key and gets the same answer. Without one (unit tests) it keeps the same in memory.

interface TokenBehaviour {
  last4: string;
  brand: string;
  decline?: { code: string; message: string };
  /** Fails transiently this many times per idempotency key, then behaves normally. */
  transientFailures?: number;
}

export const SANDBOX_TOKENS: Readonly<Record<string, TokenBehaviour>> = {
  tok_visa: { last4: '4242', brand: 'visa' },
  tok_mastercard: { last4: '4444', brand: 'mastercard' },
  tok_chargeDeclined: { last4: '0002', brand: 'visa', decline: { code: 'card_declined', message: 'The card was declined.' } },
  tok_insufficientFunds: { last4: '9995', brand: 'visa', decline: { code: 'insufficient_funds', message: 'The card has insufficient funds.' } },
  tok_transient: { last4: '0341', brand: 'visa', transientFailures: 2 },
};

export interface SandboxChargeRecord {
  chargeId: string;
  idempotencyKey: string;
  token: string;
  amount: string;
  currency: string;
  status: 'succeeded' | 'declined';
  declineCode?: string;
  declineMessage?: string;
  refunded: string;
}

export interface SandboxGatewayOptions {
  /** Simulated processing time per call, fixed or uniformly random in [min, max]. */
  latencyMs?: number | { min: number; max: number };
  /** Probability a call fails transiently *before* the charge is processed. */
  transientFailureRate?: number;
  /** Probability the charge is processed but the answer is lost (the R-P5 danger case). */
  lostResponseRate?: number;
  /** Random source for latency and failures; inject a seeded one for reproducible tests. */
  random?: () => number;
  /** Persist charges so a restarted process still finds them by key. */
  db?: Db;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SandboxCardGateway implements CardGateway {
  /** Every charge the gateway processed (succeeded or declined), in order. */
  readonly charges: SandboxChargeRecord[] = [];
  /** Number of charge() calls, including failed and replayed ones. */
  calls = 0;
  private readonly byKey = new Map<string, SandboxChargeRecord>();
  private readonly inFlight = new Map<string, Promise<GatewayCharge>>();
  private readonly transientSeen = new Map<string, number>();
  private readonly random: () => number;

  constructor(private readonly opts: SandboxGatewayOptions = {}) {
    this.random = opts.random ?? Math.random;
  }

  /** Succeeded charges only. */
  get succeeded(): SandboxChargeRecord[] {
    return this.charges.filter((c) => c.status === 'succeeded');
  }

  async charge(req: GatewayChargeRequest): Promise<GatewayCharge> {
    this.calls += 1;
    // Concurrent calls with one key share the first call's outcome (never two charges).
    const running = this.inFlight.get(req.idempotencyKey);
    if (running) return running;
    const p = this.process(req).finally(() => this.inFlight.delete(req.idempotencyKey));
    this.inFlight.set(req.idempotencyKey, p);
    return p;
  }

  async getCharge(idempotencyKey: string): Promise<GatewayCharge | null> {
    const rec = await this.find(idempotencyKey);
    return rec ? toResult(rec) : null;
  }

  async refund(req: { chargeId: string; amount: string; idempotencyKey: string }): Promise<{ refundId: string; status: 'succeeded' }> {
    const rec = this.charges.find((c) => c.chargeId === req.chargeId);
    if (!rec) throw new PaymentError('ORDER.NOT_FOUND', `no sandbox charge ${req.chargeId}`);
    return { refundId: newId('rfd'), status: 'succeeded' };
  }

  async describeCard(token: string): Promise<{ last4?: string; brand?: string } | null> {
    const b = SANDBOX_TOKENS[token];
    return b ? { last4: b.last4, brand: b.brand } : null;
  }

  private async process(req: GatewayChargeRequest): Promise<GatewayCharge> {
    await this.delay();
    const existing = await this.find(req.idempotencyKey);
    if (existing) {
      if (existing.amount !== req.amount || existing.token !== req.token) {
        throw new PaymentError('IDEMPOTENCY.MISMATCH', `gateway key ${req.idempotencyKey} was used for another charge`);
      }
      return toResult(existing);
    }
    const behaviour = SANDBOX_TOKENS[req.token];
    if (behaviour?.transientFailures) {
      const seen = await this.countTransient(req.idempotencyKey, behaviour.transientFailures);
      if (seen !== null) throw new TransientGatewayError(`sandbox: transient failure ${seen} of ${behaviour.transientFailures} for ${req.idempotencyKey}`);
    }
    if (this.random() < (this.opts.transientFailureRate ?? 0)) {
      throw new TransientGatewayError('sandbox: gateway unavailable');
    }
    const decline = behaviour ? behaviour.decline : { code: 'invalid_token', message: `Unknown card token.` };
    const rec = await this.store({
      chargeId: newId('chg'),
      idempotencyKey: req.idempotencyKey,
      token: req.token,
      amount: req.amount,
      currency: req.currency,
      status: decline ? 'declined' : 'succeeded',
      declineCode: decline?.code,
      declineMessage: decline?.message,
      refunded: '0.00',
    });
    if (this.random() < (this.opts.lostResponseRate ?? 0)) {
      throw new TransientGatewayError('sandbox: charge processed but the response was lost');
    }
    return toResult(rec);
  }

  /**
   * tok_transient: the first `limit` requests under a key fail. Counted by the provider (in its
   * table when it has one), so every process, and a restarted one, sees the same count. Returns
   * this request's failure number, or null once the key is past its failures.
   */
  private async countTransient(key: string, limit: number): Promise<number | null> {
    if (!this.opts.db) {
      const seen = this.transientSeen.get(key) ?? 0;
      if (seen >= limit) return null;
      this.transientSeen.set(key, seen + 1);
      return seen + 1;
    }
    const { rows } = await this.opts.db.raw(
      `insert into sandbox_gateway_requests (idempotency_key, transient_failures) values (?, 1)
       on conflict (idempotency_key) do update set transient_failures = sandbox_gateway_requests.transient_failures + 1
         where sandbox_gateway_requests.transient_failures < ?
       returning transient_failures`,
      [key, limit],
    );
    return rows.length > 0 ? Number(rows[0].transient_failures) : null;
  }

  private async delay(): Promise<void> {
    const l = this.opts.latencyMs;
    if (!l) return;
    const ms = typeof l === 'number' ? l : l.min + this.random() * (l.max - l.min);
    if (ms > 0) await sleep(ms);
  }

  private async find(key: string): Promise<SandboxChargeRecord | null> {
    const mem = this.byKey.get(key);
    if (mem || !this.opts.db) return mem ?? null;
    const row = await this.opts.db('sandbox_gateway_charges').where({ idempotency_key: key }).first();
    if (!row) return null;
    const rec = fromRow(row);
    this.remember(rec);
    return rec;
  }

  private async store(rec: SandboxChargeRecord): Promise<SandboxChargeRecord> {
    if (this.opts.db) {
      await this.opts.db('sandbox_gateway_charges')
        .insert({
          id: rec.chargeId,
          idempotency_key: rec.idempotencyKey,
          token: rec.token,
          amount: rec.amount,
          currency: rec.currency,
          status: rec.status,
          decline_code: rec.declineCode ?? null,
          decline_message: rec.declineMessage ?? null,
        })
        .onConflict('idempotency_key')
        .ignore();
      // Another process may have won the race for this key: its record is the outcome.
      const row = await this.opts.db('sandbox_gateway_charges').where({ idempotency_key: rec.idempotencyKey }).first();
      rec = fromRow(row);
    }
    this.remember(rec);
    return rec;
  }

  private remember(rec: SandboxChargeRecord): void {
    if (this.byKey.has(rec.idempotencyKey)) return;
    this.byKey.set(rec.idempotencyKey, rec);
    this.charges.push(rec);
  }
}

function toResult(rec: SandboxChargeRecord): GatewayCharge {
  return rec.status === 'succeeded'
    ? { status: 'succeeded', chargeId: rec.chargeId, amount: rec.amount, currency: rec.currency }
    : { status: 'declined', chargeId: rec.chargeId, code: rec.declineCode ?? 'card_declined', message: rec.declineMessage ?? 'declined' };
}

function fromRow(row: Record<string, unknown>): SandboxChargeRecord {
  return {
    chargeId: String(row.id),
    idempotencyKey: String(row.idempotency_key),
    token: String(row.token),
    amount: String(row.amount),
    currency: String(row.currency),
    status: row.status === 'succeeded' ? 'succeeded' : 'declined',
    declineCode: (row.decline_code as string | null) ?? undefined,
    declineMessage: (row.decline_message as string | null) ?? undefined,
    refunded: String(row.refunded),
  };
}

export function createSandboxGateway(opts: SandboxGatewayOptions = {}): SandboxCardGateway {
  return new SandboxCardGateway(opts);
}

/**
 * The gateway named by `CARD_GATEWAY` (only `sandbox` today), tuned by
 * `SANDBOX_GATEWAY_LATENCY_MS`, `SANDBOX_GATEWAY_TRANSIENT_RATE` and
 * `SANDBOX_GATEWAY_LOST_RESPONSE_RATE`. Pass `db` to persist sandbox charges across restarts.
 */
export function gatewayFromEnv(env: NodeJS.ProcessEnv = process.env, deps: { db?: Db } = {}): CardGateway {
  const kind = env.CARD_GATEWAY ?? 'sandbox';
  if (kind !== 'sandbox') throw new Error(`CARD_GATEWAY=${kind}: only "sandbox" is available`);
  const num = (name: string, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return 0;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min || v > max) throw new Error(`${name} must be a number in [${min}, ${max}] (got ${JSON.stringify(raw)})`);
    return v;
  };
  return new SandboxCardGateway({
    db: deps.db,
    latencyMs: num('SANDBOX_GATEWAY_LATENCY_MS', 0, 60000),
    transientFailureRate: num('SANDBOX_GATEWAY_TRANSIENT_RATE', 0, 1),
    lostResponseRate: num('SANDBOX_GATEWAY_LOST_RESPONSE_RATE', 0, 1),
  });
}
