import type { Knex } from 'knex';
import { addTerm, Term } from '../../billing/calendar';
import { packagePrice, ResetPolicy } from '../../billing/usage';
import { Catalog, packageMetrics } from '../../catalog/catalog';
import { derivedId } from '../../common/ids';
import type { BuyPackagesResult } from '../../workflows/account.messages';
import type { PaymentEngine } from '../../payments/payment-engine';
import { createSettlementActivities } from './settlement.activities';
import { ensureUsageAccount, freezeProtections, insertPackages, recordAccountState, RecordAccountStateInput, releaseProtections, restoreProtections } from '../../store/usage.store';

export interface BuyPackagesInput {
  accountId: string;
  purchaseId: string;
  metric: string;
  content: string;
  count: number;
  term: Term;
  reset: ResetPolicy;
  offsetMinutes: number;
  /** the workflow's clock (R-T3): purchase instant, package term start */
  at: number;
}

/** The account workflow's activities (pay-per-use settlement R-U1…R-U4, arrears R-U5). */
export function createUsageActivities(deps: { db: Knex; payments: PaymentEngine; catalog: Catalog }) {
  const { db } = deps;
  const packagesSold = packageMetrics(deps.catalog);

  return {
    /** Where settlement resumes: after the last settled hour, if an earlier run got that far. */
    async openUsageAccount(input: { accountId: string }): Promise<{ settledThrough: number | null }> {
      const row = await ensureUsageAccount(db, input.accountId);
      return { settledThrough: row.settled_through ? row.settled_through.getTime() : null };
    },

    ...createSettlementActivities(deps),

    /** R-U5 frozen: pay-per-use protections stop (not billed) at `at`. */
    async freezePayPerUse(input: { accountId: string; at: number }): Promise<number> {
      return freezeProtections(db, input.accountId, new Date(input.at));
    },
    /** R-U5: paid in full while frozen: protections bill again from `at`. */
    async restorePayPerUse(input: { accountId: string; at: number }): Promise<number> {
      return restoreProtections(db, input.accountId, new Date(input.at));
    },
    /** R-U5 released: protections are disabled at `at`. */
    async releasePayPerUse(input: { accountId: string; at: number }): Promise<number> {
      return releaseProtections(db, input.accountId, new Date(input.at));
    },

    /**
     * The account workflow's read model (usage_accounts) and its notifications (R-S10 outbox), in
     * one transaction; idempotent on seq: a retried or stale write changes nothing.
     */
    async recordAccountState(input: RecordAccountStateInput): Promise<void> {
      await recordAccountState(db, input);
    },

    /**
     * R-U4: charges a purchase of usage packages through R-P1 and creates them. Idempotent on the
     * purchase id: the charge key is derived from it (R-P5) and so are the package ids.
     */
    async buyUsagePackages(input: BuyPackagesInput): Promise<BuyPackagesResult> {
      const priced = packagesSold.get(input.metric); // R-U4: a service's metric or an edition's quota-hours
      if (!priced) return { ok: false, code: 'USAGE.UNKNOWN_METRIC', message: `no usage package is sold for the metric ${input.metric}`, packageIds: [] };
      const amount = packagePrice(priced.unitPrice, input.content, input.count, input.term, input.reset);
      let orderId: string | null = null;
      if (amount.greaterThan(0)) {
        const charged = await deps.payments.charge({
          accountId: input.accountId,
          listAmount: amount.toFixed(2),
          purpose: { kind: 'usage_package', resourceId: input.purchaseId, description: `${input.count} × ${input.content} ${input.metric}, ${input.term.count} ${input.term.unit}(s), reset ${input.reset}`, product: priced.product },
          idempotencyKey: `account:${input.accountId}:packages:${input.purchaseId}`,
          at: new Date(input.at),
        });
        if (charged.status === 'failed') return { ok: false, code: charged.code, message: charged.message, orderId: charged.order.id, amount: amount.toFixed(2), packageIds: [] };
        orderId = charged.order.id;
      }
      const expiresAt = new Date(addTerm(input.at, input.term, input.offsetMinutes)); // R-T2
      const rows = Array.from({ length: input.count }, (_, i) => ({
        id: derivedId('upk', `${input.purchaseId}:${i}`),
        account_id: input.accountId,
        purchase_id: input.purchaseId,
        metric: input.metric,
        content: input.content,
        reset: input.reset,
        term_unit: input.term.unit,
        term_count: input.term.count,
        purchased_at: new Date(input.at),
        expires_at: expiresAt,
        order_id: orderId,
      }));
      await insertPackages(db, rows);
      return { ok: true, orderId, amount: amount.toFixed(2), packageIds: rows.map((r) => r.id) };
    },
  };
}
