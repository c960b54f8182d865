import Decimal from 'decimal.js';
import { checkCurrency } from './validation';
import type { EngineContext } from './context';
import type { ReservePhase } from './reserve';
import { fmt } from './rows';
import type { ChargeInput } from './types';

// R-I5: what a charge would take, asked without moving money: the discount chosen (R-P2), the
// coupon (R-P3), cash, credit and card (R-P1). It plans with the charge's own function
// (reserve.ts plan) on the same data, reading instead of locking, so a quote followed at once by
// the charge gives the same split.

export type QuoteInput = Omit<ChargeInput, 'idempotencyKey'>;

export interface QuoteDto {
  list_amount: string;
  discount: null | { id: string; kind: string; percent_off: string; amount: string; reason: string | null };
  due: string;
  coupon_id: string | null;
  coupon: string;
  cash: string;
  credit: string;
  card: string;
  /** false when coupon, balance and card together cannot pay (the charge would be refused, R-P4) */
  payable: boolean;
  /** what is missing when not payable */
  shortfall: string;
}

export function quotePhase(ctx: EngineContext, phases: Pick<ReservePhase, 'validateCharge' | 'chargeContext' | 'plan'>) {
  const { db, clock } = ctx;
  const { validateCharge, chargeContext, plan } = phases;

  async function quote(input: QuoteInput): Promise<QuoteDto> {
    const req = validateCharge({ ...input, idempotencyKey: 'quote' });
    return db.transaction(async (trx) => {
      const now = req.at ?? clock.now();
      const bal = await chargeContext(trx, { accountId: req.accountId, key: null }, now, false);
      checkCurrency(req.currency, bal.currency);
      const { discount, reason, coupon, split } = await plan(trx, req, now, bal, false);
      const payable = split.status !== 'insufficient';
      return {
        list_amount: split.listAmount,
        discount: discount ? { id: discount.id, kind: discount.kind, percent_off: fmt(discount.percent_off), amount: fmt(split.discountAmount), reason } : null,
        due: split.due,
        coupon_id: coupon && new Decimal(split.coupon).greaterThan(0) ? coupon.id : null,
        coupon: split.coupon,
        cash: split.cash,
        credit: split.credit,
        card: split.card,
        payable,
        shortfall: payable ? '0.00' : fmt(split.shortfall),
      };
    });
  }

  return { quote };
}
