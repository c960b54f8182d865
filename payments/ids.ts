import { newId as opaqueId } from '../common/ids';

/** What the payment engine names: ledger transactions, orders, coupons, discounts, locks, refunds, credit lines, cards. */
export type IdPrefix = 'txn' | 'ord' | 'cpn' | 'dsc' | 'chg' | 'lck' | 'rfd' | 'crl' | 'card';

/** A fresh opaque id with one of the engine's prefixes (`ord_7k3m…`), the same form as every other id. */
export function newId(prefix: IdPrefix): string {
  return opaqueId(prefix);
}
