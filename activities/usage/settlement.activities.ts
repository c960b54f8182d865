import type { Knex } from 'knex';
import { sumMoney } from '../../billing/money';
import type { Catalog } from '../../catalog/catalog';
import type { PaymentEngine } from '../../payments/payment-engine';
import {
  BillRow,
  CollectOutcome,
  createBillWriter,
  liftRest,
  loadBill,
  markBillUnpaid,
  recordCollection,
  resumeFromRest,
  SettleHourInput,
  SettleHourResult,
  unpaidBills,
} from '../../store/settlement.store';

/**
 * The account workflow's settlement (R-U2, R-U5): the hour's bill written once (store/), then
 * collected through the payment engine (payments/) without coupons, under the workflow's
 * business key, so settling or collecting an hour again never pays twice (R-P5).
 */
export function createSettlementActivities(deps: { db: Knex; payments: PaymentEngine; catalog: Catalog }) {
  const { db } = deps;
  const bills = createBillWriter(deps);

  /** R-U2: collects a bill without coupons (balance, then card); never pays twice (R-P5). */
  async function collectBill(billId: string, idempotencyKey: string, at: number): Promise<CollectOutcome> {
    const bill = await loadBill(db, billId);
    if (bill.status === 'paid' || bill.status === 'unpaid') return { status: bill.status, orderId: bill.order_id };
    const result = await deps.payments.charge({
      accountId: bill.account_id,
      listAmount: bill.total,
      purpose: { kind: 'usage_settlement', resourceId: `pay-per-use:${bill.account_id}`, description: `pay-per-use, hour of ${bill.hour_start.toISOString()}` },
      idempotencyKey,
      useCoupons: false,
      at: new Date(at),
    });
    if (result.status === 'paid') {
      await recordCollection(db, [billId], at, { status: 'paid', orderId: result.order.id });
      return { status: 'paid', orderId: result.order.id };
    }
    await recordCollection(db, [billId], at, { status: 'failed', orderId: result.order.id, code: result.code, message: result.message });
    return { status: 'failed', orderId: result.order.id, code: result.code, message: result.message };
  }

  /** R-U2 / R-U5: collects a written bill once; in arrears it is owed (`unpaid`), not charged. */
  async function collectOnce(bill: BillRow, input: SettleHourInput): Promise<SettleHourResult> {
    if (bill.status === 'paid' || bill.status === 'unpaid') return { billId: bill.id, total: bill.total, status: bill.status, orderId: bill.order_id };
    if (!input.collect) {
      await markBillUnpaid(db, bill.id);
      return { billId: bill.id, total: bill.total, status: 'unpaid', orderId: null };
    }
    return { billId: bill.id, total: bill.total, ...(await collectBill(bill.id, input.idempotencyKey, input.at)) };
  }

  return {
    /** R-U2: bills one finished hour and collects it; idempotent on (account, hour) and the key. */
    async settleUsageHour(input: SettleHourInput): Promise<SettleHourResult> {
      const { bill, resting } = await bills.writeBill(input);
      if (!bill) return { billId: null, total: '0.00', resting };
      const settled = await collectOnce(bill, input);
      if (!resting || settled.status !== 'failed') return { ...settled, resting };
      // A bill that failed puts the account in arrears (R-U5), which never rests: lift the mark
      // the bill's transaction set, so the database agrees with the workflow.
      await liftRest(db, input.accountId);
      return { ...settled, resting: false };
    },

    /** R-U2: woken from rest: the hour settlement resumes at (hours without facts are skipped). */
    async resumeUsageSettlement(input: { accountId: string; at: number; offsetMinutes: number }): Promise<{ nextHour: number }> {
      return resumeFromRest(db, input);
    },

    /**
     * R-U5: pays the whole outstanding amount (the given failed bills) in one charge: all of it
     * or nothing (R-P4). Retried with the same key it finds them paid and charges nothing.
     */
    async collectOutstandingBills(input: { accountId: string; billIds: string[]; idempotencyKey: string; at: number }): Promise<{ status: 'paid' | 'failed'; orderId: string | null; code?: string; message?: string; amount: string }> {
      const unpaid = await unpaidBills(db, input.accountId, input.billIds);
      if (unpaid.length === 0) return { status: 'paid', orderId: null, amount: '0.00' };
      const amount = sumMoney(unpaid.map((b) => b.total)).toFixed(2);
      const result = await deps.payments.charge({
        accountId: input.accountId,
        listAmount: amount,
        purpose: { kind: 'usage_arrears', resourceId: `pay-per-use:${input.accountId}`, description: `outstanding pay-per-use bills (${unpaid.length})` },
        idempotencyKey: input.idempotencyKey,
        useCoupons: false, // R-U2: settlement money, collected like the bills themselves
        at: new Date(input.at),
      });
      if (result.status === 'failed') return { status: 'failed', orderId: result.order.id, code: result.code, message: result.message, amount };
      await recordCollection(db, unpaid.map((b) => b.id), input.at, { status: 'paid', orderId: result.order.id });
      return { status: 'paid', orderId: result.order.id, amount };
    },
  };
}
