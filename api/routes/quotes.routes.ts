import { z } from 'zod';
import { canUpgrade, termPrice, upgradeChargeOverTerms } from '../../billing/subscription-rules';
import { findEdition, findProduct, offersMode } from '../../catalog/catalog';
import type { QuoteDto } from '../../payments/quote';
import { upgradableTermsQuery } from '../../workflows/subscription.messages';
import type { ApiDeps } from '../app';
import type { Principal } from '../auth';
import { ApiError } from '../errors';
import { ownedAccount, ownedSubscription } from '../ownership';
import { checkPromotion } from '../promotions';
import { defineRoute, RouteContext, RouteDef } from '../http';
import { resourceId, termSchema } from '../schemas';
import { viaUpdate } from '../workflow-errors';

// API.md v1.1 / R-I5: POST /v1/quotes — the exact split a purchase, renewal or upgrade would make
// now (discount chosen, coupon, cash, credit, card, due), moving no money and locking nothing.
// The list amount comes from the same pure rules the workflow's activities price with
// (termPrice, upgradeChargeOverTerms over the workflow's own paid terms), and the split from the
// payment engine's quote, which plans with the charge's own function: so the quote and the
// charge that follows at once agree.

const money = z.string().openapi({ example: '1700.00' });
const quoteSchema = z.object({
  kind: z.enum(['purchase', 'renewal', 'upgrade']),
  list_amount: money,
  discount: z.object({ id: z.string(), kind: z.string(), percent_off: money, amount: money, reason: z.string().nullable() }).nullable(),
  due: money,
  coupon: money,
  cash: money,
  credit: money,
  card: money,
  payable: z.boolean().openapi({ description: 'false when coupon, balance and card cannot cover it (the action would answer 402)' }),
  shortfall: money,
}).openapi('Quote');

const purchaseQuote = z.strictObject({
  kind: z.literal('purchase'),
  account_id: z.string().min(1).max(64),
  product: z.string().min(1).max(64),
  edition: z.string().min(1).max(64),
  region: z.string().min(1).max(64),
  quantity: z.number().int().min(1).max(10_000),
  term: termSchema.optional(),
  auto_renew: z.boolean().optional(),
  deduction_day: z.string().max(10).optional(),
  trial: z.boolean().optional(),
  discount_id: resourceId.optional(),
});
const renewalQuote = z.strictObject({ kind: z.literal('renewal'), subscription_id: resourceId, term: termSchema, auto_renew: z.boolean().optional(), discount_id: resourceId.optional() });
const upgradeQuote = z.strictObject({ kind: z.literal('upgrade'), subscription_id: resourceId, edition: z.string().min(1).max(64) });
const quoteBody = z.discriminatedUnion('kind', [purchaseQuote, renewalQuote, upgradeQuote]);
type QuoteBody = z.infer<typeof quoteBody>;

interface Priced { accountId: string; listAmount: string; kind: string; resourceId: string; product: string; promotionId: string | null }

export function quoteRoutes(deps: ApiDeps): RouteDef[] {
  const now = () => (deps.clock ? deps.clock.now() : new Date());

  function edition(product: string, name: string) {
    const e = findEdition(deps.catalog, product, name);
    if (!e) throw new ApiError(422, 'CATALOG.UNKNOWN_EDITION', `${product} has no edition ${name}`);
    return e;
  }

  /** R-S1: the term price of a new subscription (a trial is free). */
  async function pricePurchase(b: z.infer<typeof purchaseQuote>, principal: Principal | null): Promise<Priced> {
    await ownedAccount(deps.db, principal, b.account_id);
    if (!findProduct(deps.catalog, b.product)) throw new ApiError(422, 'CATALOG.UNKNOWN_PRODUCT', `no product ${b.product}`);
    const e = edition(b.product, b.edition);
    if (!offersMode(e, 'yearly_monthly')) throw new ApiError(422, 'CATALOG.MODE_NOT_OFFERED', `${b.product}/${b.edition} is not sold yearly/monthly`);
    if (!b.trial && !b.term) throw new ApiError(400, 'VALIDATION.BODY', 'body.term: required unless trial is true');
    const product = `${b.product}/${b.edition}`;
    await checkPromotion(deps.db, b.account_id, b.discount_id, product, now());
    const listAmount = b.trial ? '0.00' : termPrice({ monthly: e.monthly, yearly: e.yearly }, b.quantity, b.term!).toFixed(2);
    return { accountId: b.account_id, listAmount, kind: 'subscription_purchase', resourceId: 'quote', product, promotionId: b.discount_id ?? null };
  }

  /** R-S5: the term price at the subscription's edition and quantity. */
  async function priceRenewal(b: z.infer<typeof renewalQuote>, principal: Principal | null): Promise<Priced> {
    const row = await ownedSubscription(deps.db, principal, b.subscription_id);
    const e = edition(row.product, row.edition);
    const product = `${row.product}/${row.edition}`;
    await checkPromotion(deps.db, row.account_id, b.discount_id, product, now());
    return { accountId: row.account_id, listAmount: termPrice({ monthly: e.monthly, yearly: e.yearly }, row.quantity, b.term).toFixed(2), kind: 'subscription_renewal', resourceId: row.id, product, promotionId: b.discount_id ?? null };
  }

  /** R-S12: the difference on every paid term still ahead, from the workflow's own terms. */
  async function priceUpgrade(b: z.infer<typeof upgradeQuote>, principal: Principal | null): Promise<Priced> {
    const row = await ownedSubscription(deps.db, principal, b.subscription_id);
    const [from, to] = [edition(row.product, row.edition), edition(row.product, b.edition)];
    if (!canUpgrade(row.product, row.edition, b.edition, deps.catalog)) {
      throw new ApiError(422, 'SUBSCRIPTION.DOWNGRADE_REFUSED', `${row.product} cannot go from ${row.edition} to ${b.edition}: only upgrades to a higher edition are allowed`);
    }
    if (row.status !== 'active') throw new ApiError(409, 'STATE.NOT_ACTIVE', `only an active subscription can be upgraded (this one is ${row.status})`);
    const terms = await viaUpdate(deps.temporal, () => deps.temporal.workflow.getHandle(row.workflow_id).query(upgradableTermsQuery));
    const amount = upgradeChargeOverTerms({
      oldPrices: { monthly: from.monthly, yearly: from.yearly },
      newPrices: { monthly: to.monthly, yearly: to.yearly },
      quantity: row.quantity,
      terms,
      at: now().getTime(),
      offsetMinutes: deps.settings.offsetMinutes,
    }).amount;
    return { accountId: row.account_id, listAmount: amount.toFixed(2), kind: 'subscription_upgrade', resourceId: row.id, product: `${row.product}/${b.edition}`, promotionId: null };
  }

  async function quote({ body, principal }: RouteContext<unknown, unknown, QuoteBody>) {
    const priced = body.kind === 'purchase' ? await pricePurchase(body, principal)
      : body.kind === 'renewal' ? await priceRenewal(body, principal)
        : await priceUpgrade(body, principal);
    const q: QuoteDto = await deps.payments.quote({
      accountId: priced.accountId,
      listAmount: priced.listAmount,
      purpose: { kind: priced.kind, resourceId: priced.resourceId, product: priced.product },
      promotionId: priced.promotionId,
      at: now(),
    });
    const { coupon_id: _couponId, ...split } = q;
    void _couponId;
    return { status: 200, body: { kind: body.kind, ...split } };
  }

  return [
    defineRoute({
      method: 'post', path: '/v1/quotes', access: 'owner', tags: ['quotes'], body: quoteBody,
      summary: 'What a purchase, renewal or upgrade would take now (R-I5): discount chosen, coupon, cash, credit, card, due; moves no money, locks nothing',
      responses: { 200: { description: 'the split the action would make now', schema: quoteSchema }, 409: { description: 'not active (upgrade)' }, 422: { description: 'refused by a rule (catalog, downgrade, a discount that does not apply)' } },
      handler: quote,
    }),
  ];
}
