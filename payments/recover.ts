import type { CapturePhase } from './capture';
import { chargePath, countCharge } from './charge-metrics';
import type { EngineContext } from './context';
import type { OrderRow } from './types';

// R-P4 "times out": pending charges whose locks outlived their deadline, settled from what the
// gateway says about their key.

export function recoverPhase(ctx: EngineContext, phases: { applyGatewayOutcome: CapturePhase['applyGatewayOutcome'] }) {
  const { db, clock, gateway } = ctx;
  const { applyGatewayOutcome } = phases;
  const onError = ctx.hooks.onRecoveryError;

  /**
   * R-P4 "times out": settles pending charges whose hold has run out by asking the gateway about
   * their key — charged → capture, declined or never processed → release. A charge in flight
   * keeps renewing its hold (capture.ts whileHeld), so only an order whose process died is stale.
   * Each order is settled on its own: one that fails (the gateway unreachable, a bad row) is
   * counted and left for the next round, and never stops the others (issue #13).
   */
  async function recoverStalePayments(opts: { limit?: number } = {}): Promise<{ captured: number; released: number; errors: number }> {
    const stale: OrderRow[] = await db('orders').where({ status: 'pending' }).andWhere('hold_expires_at', '<=', clock.now()).orderBy('hold_expires_at').limit(opts.limit ?? 100);
    const counts = { captured: 0, released: 0, errors: 0 };
    for (const o of stale) {
      try {
        const result = await gateway.getCharge(`charge:${o.idempotency_key}`);
        const after = await applyGatewayOutcome(o.id, result);
        // A charge whose process died is decided here; its retried activity then replays it.
        countCharge(after, chargePath(o));
        if (after.status === 'paid') counts.captured += 1;
        else if (after.status === 'failed') counts.released += 1;
      } catch (err) {
        counts.errors += 1;
        onError?.(o.id, err);
      }
    }
    return counts;
  }

  return { recoverStalePayments };
}

export type RecoverPhase = ReturnType<typeof recoverPhase>;
