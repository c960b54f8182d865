import type { Knex } from 'knex';
import { promotionRefusal } from '../billing/payments';
import { getAccountDiscount } from '../store/accounts.store';
import { ApiError } from './errors';

/**
 * R-P2: a promotional discount named by a purchase, a renewal or their quote must be the
 * account's, promotional, and valid now for what is bought. Checked before any money moves; the
 * quote and the action refuse with the same code.
 */
export async function checkPromotion(db: Knex, accountId: string, discountId: string | undefined, scope: string, at: Date): Promise<void> {
  if (discountId === undefined) return;
  const d = await getAccountDiscount(db, accountId, discountId);
  const refusal = promotionRefusal(d ? { id: d.id, kind: d.kind, percentOff: d.percent_off, effectiveAt: new Date(d.effective_at), expiresAt: new Date(d.expires_at), scope: d.scope } : null, at, scope);
  if (refusal) throw new ApiError(422, refusal.code, refusal.message, { field: 'discount_id', discount_id: discountId });
}
