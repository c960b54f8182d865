import { capturePhase } from './capture';
import { chargePath, countCharge } from './charge-metrics';
import { quotePhase } from './quote';
import { fundingPhase } from './funding';
import type { BalanceCheck } from './ledger';
import { ensureAccountFinance, verifyBalances } from './ledger';
import { readsPhase } from './reads';
import { recoverPhase } from './recover';
import { refundPhase } from './refund';
import { releasePhase } from './release';
import { reservePhase } from './reserve';
import { DEFAULT_LOCK_TTL_MS, isUniqueViolation, toChargeResult } from './rows';
import type { ChargeInput, ChargeResult, OrderRow, PaymentEngineDeps } from './types';

export * from './types';

// The payment-collection engine (SPEC §4), assembled from its phases. Every method that moves
// money is idempotent on its key (R-P5) and writes one balanced ledger transaction (R-M3) in the
// same DB transaction that updates the cached balances. A charge is two-phase (R-P4): reserve
// (lock the amounts: reserve.ts) → card gateway outside any DB transaction → capture or release
// (capture.ts, release.ts); recover.ts settles charges whose process died in between; quote.ts
// answers what a charge would take without taking it (R-I5).
export function createPaymentEngine(deps: PaymentEngineDeps) {
  const ctx = { db: deps.db, gateway: deps.gateway, clock: deps.clock ?? { now: () => new Date() }, lockTtlMs: deps.lockTtlMs ?? DEFAULT_LOCK_TTL_MS, hooks: deps.hooks ?? {} };
  const { release } = releasePhase(ctx);
  const { capture, settleCard, applyGatewayOutcome } = capturePhase(ctx, { release });
  const reserving = reservePhase(ctx, { capture });
  const { validateCharge, reserve } = reserving;
  const reads = readsPhase(ctx);

  /** R-P1…R-P5: reserve, then the card (when a part goes to it), then capture or release. */
  async function charge(input: ChargeInput): Promise<ChargeResult> {
    const req = validateCharge(input);
    // Two tries: a concurrent first use of the same key on another account loses the unique race
    // and, on the second pass, finds the winner's order (→ replay or IDEMPOTENCY.MISMATCH).
    let reserved: { order: OrderRow; resumed: boolean; path?: string };
    try {
      reserved = await reserve(req);
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      reserved = await reserve(req);
    }
    const { order, resumed, path } = reserved;
    if (order.status !== 'pending') {
      // Decided in the reserve (paid without the card, or refused: not covered and no card),
      // unless it is an earlier charge replayed for its key, counted when it was decided.
      if (!resumed) countCharge(order, path ?? chargePath(order));
      return toChargeResult(order);
    }
    const planned = chargePath(order); // before a decline zeroes the parts
    const result = await settleCard(order, resumed);
    countCharge({ status: result.order.status, failure_code: result.status === 'failed' ? result.code : null }, planned);
    return result;
  }

  return {
    ensureAccountFinance: (accountId: string) => ensureAccountFinance(deps.db, accountId),
    ...fundingPhase(ctx, { readBalances: reads.readBalances }),
    charge,
    ...quotePhase(ctx, reserving),
    ...refundPhase(ctx),
    ...recoverPhase(ctx, { applyGatewayOutcome }),
    getBalances: reads.getBalances,
    getOrder: reads.getOrder,
    listLedger: reads.listLedger,
    listOrders: reads.listOrders,
    listCoupons: reads.listCoupons,
    listDiscounts: reads.listDiscounts,
    verifyBalances: (accountId: string): Promise<BalanceCheck> => verifyBalances(deps.db, accountId),
  };
}

export type PaymentEngine = ReturnType<typeof createPaymentEngine>;
