import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { type Catalog, findEdition, findProduct } from '../../catalog/catalog';
import { ApiError } from '../errors';
import { at } from './instants';
import { money } from './money';

extendZodWithOpenApi(z);

// The payment engine's objects as the API answers them (SPEC §4, API.md's Order), and what
// coupons and discounts apply to.

/** `product` or `product/edition` (or a per-use service); null/absent = the whole catalog. */
export const scopeField = z.string().regex(/^[a-z0-9-]{1,64}(\/[a-z0-9-]{1,64})?$/, '"product" or "product/edition", e.g. "host-security/premium"').optional();

/** A scope that names nothing in the catalog would make a coupon or discount that never applies. */
export function checkScope(catalog: Catalog, scope: string | undefined): void {
  if (scope === undefined) return;
  const [product, edition] = scope.split('/');
  const known = edition === undefined
    ? Boolean(findProduct(catalog, product)) || catalog.services.some((s) => s.service === product)
    : Boolean(findEdition(catalog, product, edition));
  if (!known) throw new ApiError(400, 'VALIDATION.SCOPE', `scope ${scope} names no product, edition or service of the catalog`, { field: 'scope' });
}

export const couponSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  amount: money,
  balance: money,
  locked: money,
  available: money,
  scope: z.string().nullable(),
  expires_at: at,
  status: z.enum(['active', 'used_up', 'expired']),
  created_at: at,
}).openapi('Coupon');

export const discountSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  kind: z.enum(['commercial', 'partner', 'promotional']),
  percent_off: money.openapi({ example: '10.00' }),
  scope: z.string().nullable(),
  effective_at: at,
  expires_at: at,
  status: z.enum(['scheduled', 'active', 'expired']),
  created_at: at,
}).openapi('Discount');

export const orderSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  subscription_id: z.string().nullable(),
  resource_id: z.string(),
  kind: z.string(),
  product: z.string().nullable(),
  description: z.string().nullable(),
  currency: z.string(),
  list_amount: money,
  discount: z.object({ id: z.string(), kind: z.enum(['commercial', 'partner', 'promotional']), percent_off: money, amount: money, reason: z.string().nullable() }).nullable(),
  due: money,
  coupon_id: z.string().nullable(),
  coupon: money,
  cash: money,
  credit: money,
  card: money,
  refunded: money,
  status: z.enum(['pending', 'paid', 'failed', 'partially_refunded', 'refunded']),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  idempotency_key: z.string(),
  ledger_transaction_id: z.string().nullable(),
  created_at: at,
  completed_at: at.nullable(),
}).openapi('Order');
