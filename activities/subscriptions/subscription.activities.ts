import type { Knex } from 'knex';
import { faultPoint } from '../../common/faults';
import { canUpgrade, CoveragePart, refundForOrder, termPrice, TermWindow, upgradeChargeOverTerms, usedValue } from '../../billing/subscription-rules';
import { upgradeBindingRefusal } from '../../billing/binding-rules';
import { addMonthsClamped } from '../../billing/calendar';
import { Catalog, findEdition } from '../../catalog/catalog';
import type { PurchaseOutcome, Term } from '../../workflows/subscription.types';
import type { PaymentEngine } from '../../payments/payment-engine';
import { deleteBindings, releaseUpgrade, reserveUpgrade, restoreBindings, suspendBindings } from '../../store/servers.store';
import { accountOfSubscription, claimTrial, recordSubscriptionState, RecordStateInput } from '../../store/subscriptions.store';

export interface ChargeTermInput {
  subscriptionId: string;
  accountId: string;
  product: string;
  edition: string;
  quantity: number;
  term: Term;
  reason: 'purchase' | 'renewal' | 'manual_renewal';
  /** R-P5: a business key computed by the workflow (`<subscription>:term:<n>:attempt:<k>`). */
  idempotencyKey: string;
  /** workflow time of the charge (R-T3): validity of coupons and discounts is judged at it */
  at: number;
  /** R-P2: a promotional discount granted to the account, named by the customer for this order */
  discountId?: string;
}

export type ChargeOutcome = PurchaseOutcome & { amount?: string };

/** An upgrade's outcome: the order's share of each term it paid the difference for (R-S11 refunds it). */
export type UpgradeOutcome = ChargeOutcome & { parts?: CoveragePart[] };

export interface RenewTermInput {
  charge: ChargeTermInput;
  restoreBindings: boolean;
  /** what the read model becomes if the charge succeeds (the order id is filled in here) */
  renewed: RecordStateInput;
  /** … and if it fails (the refusal's code and message are added to the details) */
  failed: RecordStateInput;
}

export interface UpgradeInput {
  subscriptionId: string;
  accountId: string;
  product: string;
  fromEdition: string;
  toEdition: string;
  quantity: number;
  /** every paid term not yet over (R-S12); absent from histories before issue #11: the latest term */
  terms?: TermWindow[];
  termStartedAt: number;
  termMonths: number;
  offsetMinutes: number;
  at: number;
  idempotencyKey: string;
}

export interface RefundInput {
  subscriptionId: string;
  orderId: string | null;
  /** every order whose service is not used up, with its share of the terms (a term order's list comes from the order) */
  coverage?: { orderId: string; parts: (Omit<CoveragePart, 'list'> & { list?: string })[] }[];
  termStartedAt: number;
  termMonths: number;
  offsetMinutes: number;
  at: number;
  idempotencyKey: string;
}

const termOf = (months: number): Term => (months % 12 === 0 ? { unit: 'year', count: months / 12 } : { unit: 'month', count: months });

export function createSubscriptionActivities(deps: { db: Knex; payments: PaymentEngine; catalog: Catalog }) {
  async function charge(p: { accountId: string; subscriptionId: string; product: string; listAmount: string; kind: string; description: string; idempotencyKey: string; at: number; discountId?: string }): Promise<ChargeOutcome> {
    const result = await deps.payments.charge({
      promotionId: p.discountId ?? null,
      accountId: p.accountId,
      listAmount: p.listAmount,
      // `product/edition` lets scoped coupons and discounts apply (R-P2, R-P3).
      purpose: { kind: p.kind, subscriptionId: p.subscriptionId, resourceId: p.subscriptionId, description: p.description, product: p.product },
      idempotencyKey: p.idempotencyKey,
      useCoupons: true,
      at: new Date(p.at),
    });
    if (result.status === 'paid') {
      faultPoint('charge.after-capture'); // issue #13: the charge is captured, the workflow has not recorded it
      return { ok: true, orderId: result.order.id, amount: result.order.due };
    }
    return { ok: false, orderId: result.order?.id ?? null, code: result.code, message: result.message };
  }

  /**
   * R-S1 / R-S4 / R-S5: charges a term's list price through the payment engine (R-P1). The
   * workflow's business key makes it idempotent (R-P5): a retried activity, or the whole
   * workflow replayed after a crash, never pays twice.
   */
  async function chargeSubscriptionTerm(input: ChargeTermInput): Promise<ChargeOutcome> {
    const edition = findEdition(deps.catalog, input.product, input.edition);
    if (!edition) return { ok: false, orderId: null, code: 'CATALOG.UNKNOWN_EDITION', message: `${input.product}/${input.edition} is not in the catalog` };
    const list = termPrice({ monthly: edition.monthly, yearly: edition.yearly }, input.quantity, input.term);
    return charge({
      accountId: input.accountId,
      subscriptionId: input.subscriptionId,
      product: `${input.product}/${input.edition}`,
      listAmount: list.toFixed(2),
      kind: input.reason === 'purchase' ? 'subscription_purchase' : 'subscription_renewal',
      description: `${input.product}/${input.edition} × ${input.quantity}, ${input.term.count} ${input.term.unit}(s)`,
      idempotencyKey: input.idempotencyKey,
      at: input.at,
      discountId: input.discountId,
    });
  }

  return {
    chargeSubscriptionTerm,

    /**
     * R-S3 / R-S4 / R-S6: one auto-renew attempt as one local activity — the charge, then the
     * read model for whichever outcome the workflow stated (R-Q4 bindings restored first on a
     * renewal out of frozen/isolated). Both steps are idempotent (the charge on its business key,
     * the read model on seq), so a retry after a crash between them finishes the same way.
     */
    async renewTerm(input: RenewTermInput): Promise<ChargeOutcome> {
      const outcome = await chargeSubscriptionTerm(input.charge);
      if (outcome.ok) {
        if (input.restoreBindings) await restoreBindings(deps.db, input.renewed.state.subscriptionId);
        await recordSubscriptionState(deps.db, {
          ...input.renewed,
          state: { ...input.renewed.state, termOrderId: outcome.orderId },
          details: { ...input.renewed.details, order_id: outcome.orderId, amount: outcome.amount },
        });
      } else {
        await recordSubscriptionState(deps.db, { ...input.failed, details: { ...input.failed.details, code: outcome.code, message: outcome.message } });
      }
      return outcome;
    },

    /** R-S12: the pro-rata price difference on every paid term still ahead (issue #11: not only the latest). */
    async chargeUpgrade(input: UpgradeInput): Promise<UpgradeOutcome> {
      const from = findEdition(deps.catalog, input.product, input.fromEdition);
      const to = findEdition(deps.catalog, input.product, input.toEdition);
      if (!from || !to) return { ok: false, orderId: null, code: 'CATALOG.UNKNOWN_EDITION', message: `${input.product}/${input.toEdition} is not in the catalog` };
      if (!canUpgrade(input.product, input.fromEdition, input.toEdition, deps.catalog)) {
        return { ok: false, orderId: null, code: 'SUBSCRIPTION.DOWNGRADE_REFUSED', message: `${input.product} cannot go from ${input.fromEdition} to ${input.toEdition}: only upgrades to a higher edition are allowed` };
      }
      // R-S12 / R-Q1: every bound server must stay protectable by the new edition, and no bind
      // may slip in before the new edition is recorded (reserveUpgrade).
      const unfit = await reserveUpgrade(deps.db, input.subscriptionId, input.toEdition, (bound) => upgradeBindingRefusal({ product: input.product, edition: input.toEdition, serverKinds: to.server_kinds }, bound));
      if (unfit) return { ok: false, orderId: null, ...unfit };
      const terms = input.terms ?? [{ startsAt: input.termStartedAt, endsAt: addMonthsClamped(input.termStartedAt, input.termMonths, input.offsetMinutes), term: termOf(input.termMonths) }];
      const quote = upgradeChargeOverTerms({
        oldPrices: { monthly: from.monthly, yearly: from.yearly },
        newPrices: { monthly: to.monthly, yearly: to.yearly },
        quantity: input.quantity,
        terms,
        at: input.at,
        offsetMinutes: input.offsetMinutes,
      });
      if (quote.amount.isZero()) return { ok: true, orderId: null, amount: '0.00', parts: [] };
      const outcome = await charge({
        accountId: input.accountId,
        subscriptionId: input.subscriptionId,
        product: `${input.product}/${input.toEdition}`,
        listAmount: quote.amount.toFixed(2),
        kind: 'subscription_upgrade',
        description: `upgrade ${input.product} ${input.fromEdition} → ${input.toEdition}`,
        idempotencyKey: input.idempotencyKey,
        at: input.at,
      });
      if (!outcome.ok) await releaseUpgrade(deps.db, input.subscriptionId, input.toEdition);
      return outcome.ok ? { ...outcome, parts: quote.parts } : outcome;
    },

    /**
     * R-S11: for every order whose service is not used up (each paid term still running or ahead,
     * each upgrade), paid − list value used, at most the customer's own money less what was
     * refunded before (an operator's refund), rounded down; to cash, coupon money never. All the
     * orders in one transaction under one key (refundOrders), so a retry never pays twice.
     */
    async refundSubscription(input: RefundInput): Promise<{ refund: string }> {
      const coverage = input.coverage ?? (input.orderId ? [{ orderId: input.orderId, parts: [{ termStartsAt: input.termStartedAt, termMonths: input.termMonths, from: input.termStartedAt }] }] : []);
      if (coverage.length === 0) return { refund: '0.00' };
      const accountId = await accountOfSubscription(deps.db, input.subscriptionId, coverage[0].orderId);
      if (!accountId) return { refund: '0.00' };
      const { total } = await deps.payments.refundOrders({
        accountId,
        orderIds: coverage.map((c) => c.orderId),
        idempotencyKey: input.idempotencyKey,
        reason: `unsubscribe ${input.subscriptionId} (R-S11)`,
        amounts: (orders) => Object.fromEntries(orders.map((o) => {
          const parts = coverage.filter((c) => c.orderId === o.id).flatMap((c) => c.parts).map((p) => ({ ...p, list: p.list ?? o.list_amount }));
          return [o.id, refundForOrder({ paid: o.due, couponPaid: o.coupon, refunded: o.refunded, used: usedValue(parts, input.at, input.offsetMinutes) })];
        })),
      });
      return { refund: total };
    },

    /**
     * R-S2: the first trial of an account wins, and only an account that never bought
     * host-security/basic may have one (issue #11). The same subscription asking again is fine.
     */
    async claimTrial(input: { accountId: string; subscriptionId: string }): Promise<{ ok: boolean; reason?: 'used' | 'bought' }> {
      return claimTrial(deps.db, input.accountId, input.subscriptionId);
    },

    async recordSubscriptionState(input: RecordStateInput): Promise<void> {
      await recordSubscriptionState(deps.db, input);
    },

    /** R-Q4 / R-S7 / R-S9: protection stops, bindings are remembered. */
    async suspendBindings(input: { subscriptionId: string }): Promise<number> {
      return suspendBindings(deps.db, input.subscriptionId);
    },
    /** R-Q4: a renewal restores the remembered bindings. */
    async restoreBindings(input: { subscriptionId: string }): Promise<number> {
      return restoreBindings(deps.db, input.subscriptionId);
    },
    /** R-Q4 / R-S8 / R-S11: released or unsubscribed deletes them. */
    async deleteBindings(input: { subscriptionId: string }): Promise<number> {
      return deleteBindings(deps.db, input.subscriptionId);
    },
  };
}
