import type { CapturePhase } from './capture';
import type { EngineContext } from './context';
import type { OrderRow } from './types';

// R-P4 "times out": pending charges whose locks outlived their deadline, settled from what the
// gateway says about their key.

export function recoverPhase(ctx: EngineContext, phases: { applyGatewayOutcome: CapturePhase['applyGatewayOutcome'] }) {
  const { db, clock, gateway } = ctx;
  const { applyGatewayOutcome } = phases;

  /**
   * R-P4 "times out": settles pending charges older than the lock TTL by asking the gateway about
   * their key — charged → capture, declined or never processed → release. Run periodically.
   * The TTL must exceed the gateway's own timeout, so no call is still in flight when released.
   */
  async function recoverStalePayments(opts: { limit?: number } = {}): Promise<{ captured: number; released: number }> {
    const stale: OrderRow[] = await db('orders').where({ status: 'pending' }).andWhere('hold_expires_at', '<=', clock.now()).orderBy('hold_expires_at').limit(opts.limit ?? 100);
    let captured = 0;
    let released = 0;
    for (const o of stale) {
      const result = await gateway.getCharge(`charge:${o.idempotency_key}`);
      const after = await applyGatewayOutcome(o.id, result);
      if (after.status === 'paid') captured += 1;
      else if (after.status === 'failed') released += 1;
    }
    return { captured, released };
  }

  return { recoverStalePayments };
}

export type RecoverPhase = ReturnType<typeof recoverPhase>;
