import type { ReadsPhase } from './reads';
import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import { DISCOUNT_KINDS, DiscountKind } from '../billing/payments';
import { PaymentError } from './errors';
import { newId } from './ids';
import { ensureAccountFinance, LEDGER, LedgerTransactionDto, loadTransactions, lockBalances, writeTransaction } from './ledger';
import { checkCurrency, idempotencyMismatch, optionalText, parseInstant, parseMoney, parsePercent, requestHash, requireText } from './validation';
import type { EngineContext } from './context';
import { toCardDto, toCouponDto, toDiscountDto } from './rows';
import type { BalancesDto, CardDto, CouponDto, DiscountDto } from './types';

// Money in and the sources of payment: top-ups, the credit line, the card, coupons, discounts.

export function fundingPhase(ctx: EngineContext, phases: { readBalances: ReadsPhase['readBalances'] }) {
  const { db, clock, gateway } = ctx;
  const { readBalances } = phases;

  /**
   * Cash in. Where SPEC is silent we follow common billing-centre practice: a top-up first repays
   * credit already used, the rest becomes cash.
   */
  async function topUp(input: {
    accountId: string;
    amount: string | Decimal;
    idempotencyKey: string;
    currency?: string;
    /** more writes that must commit with the money, and only then (the workflow signal outbox) */
    alsoWrite?: (trx: Knex.Transaction) => Promise<void>;
  }): Promise<{ transactionId: string; transaction: LedgerTransactionDto; balances: BalancesDto }> {
    const accountId = requireText(input?.accountId, 'account_id');
    const amount = parseMoney(input.amount, 'amount');
    const key = requireText(input.idempotencyKey, 'idempotency_key');
    const hash = requestHash({ op: 'topup', accountId, amount: amount.toFixed(2) });
    return db.transaction(async (trx) => {
      const bal = await lockBalances(trx, accountId);
      checkCurrency(input.currency, bal.currency);
      const ledgerKey = `topup:${key}`;
      let tx = await trx('ledger_transactions').where({ idempotency_key: ledgerKey }).first();
      if (tx) {
        if (tx.request_hash !== hash) throw idempotencyMismatch(key);
      } else {
        const now = clock.now();
        const repay = Decimal.min(amount, bal.credit_used);
        const cash = amount.minus(repay);
        const id = await writeTransaction(trx, {
          accountId,
          idempotencyKey: ledgerKey,
          requestHash: hash,
          kind: 'topup',
          createdAt: now,
          description: repay.greaterThan(0) ? `top-up; ${repay.toFixed(2)} repays credit used` : 'top-up',
          entries: [
            { ledgerAccount: LEDGER.topupClearing, amount: amount.negated() },
            { ledgerAccount: LEDGER.credit, amount: repay },
            { ledgerAccount: LEDGER.cash, amount: cash },
          ],
        });
        await trx('account_balances')
          .where({ account_id: accountId })
          .update({ cash: trx.raw('cash + ?', [cash.toFixed(2)]), credit_used: trx.raw('credit_used - ?', [repay.toFixed(2)]), updated_at: now });
        tx = await trx('ledger_transactions').where({ id }).first();
        await input.alsoWrite?.(trx);
      }
      const [dto] = await loadTransactions(trx, [tx]);
      return { transactionId: dto.id, transaction: dto, balances: await readBalances(trx, accountId) };
    });
  }

  async function setCreditLimit(input: { accountId: string; limit: string | Decimal; idempotencyKey?: string | null }): Promise<BalancesDto> {
    const accountId = requireText(input?.accountId, 'account_id');
    const limit = parseMoney(input.limit, 'limit', { allowZero: true });
    const key = optionalText(input.idempotencyKey, 'idempotency_key');
    return db.transaction(async (trx) => {
      const bal = await lockBalances(trx, accountId);
      if (key) {
        const prior = await trx('credit_lines').where({ idempotency_key: key }).first();
        if (prior) {
          if (prior.account_id !== accountId || !new Decimal(prior.credit_limit).equals(limit)) throw idempotencyMismatch(key);
          return readBalances(trx, accountId);
        }
      }
      const committed = new Decimal(bal.credit_used).plus(bal.credit_locked);
      if (limit.lessThan(committed)) {
        throw new PaymentError('CREDIT.LIMIT_BELOW_USED', `the credit limit cannot go below the ${committed.toFixed(2)} already used or locked`, { used: committed.toFixed(2) });
      }
      const now = clock.now();
      await trx('account_balances').where({ account_id: accountId }).update({ credit_limit: limit.toFixed(2), updated_at: now });
      await trx('credit_lines').insert({ id: newId('crl'), account_id: accountId, credit_limit: limit.toFixed(2), idempotency_key: key, created_at: now });
      return readBalances(trx, accountId);
    });
  }

  async function bindCard(input: { accountId: string; token: string }): Promise<CardDto> {
    const accountId = requireText(input?.accountId, 'account_id');
    const token = input?.token;
    if (typeof token !== 'string' || !/^tok_[A-Za-z0-9_]{1,64}$/.test(token)) {
      throw new PaymentError('VALIDATION.TOKEN', 'token must be a card token such as "tok_visa"', { field: 'token' });
    }
    const info = gateway.describeCard ? await gateway.describeCard(token) : {};
    if (info === null) throw new PaymentError('VALIDATION.TOKEN', `the card gateway does not know token ${token}`, { field: 'token' });
    return db.transaction(async (trx) => {
      await lockBalances(trx, accountId);
      const current = await trx('cards').where({ account_id: accountId, status: 'bound' }).first();
      if (current?.token === token) return toCardDto(current);
      const now = clock.now();
      if (current) await trx('cards').where({ id: current.id }).update({ status: 'unbound', unbound_at: now });
      const row = { id: newId('card'), account_id: accountId, token, token_hint: `${token.slice(0, 4)}…${token.slice(-4)}`, last4: info.last4 ?? null, status: 'bound', bound_at: now };
      await trx('cards').insert(row);
      return toCardDto({ ...row, brand: info.brand });
    });
  }

  async function unbindCard(accountId: string): Promise<{ card: null }> {
    requireText(accountId, 'account_id');
    await db.transaction(async (trx) => {
      await lockBalances(trx, accountId);
      await trx('cards').where({ account_id: accountId, status: 'bound' }).update({ status: 'unbound', unbound_at: clock.now() });
    });
    return { card: null };
  }

  async function issueCoupon(input: { accountId: string; amount: string | Decimal; expiresAt: Date | string; scope?: string | null; idempotencyKey?: string | null }): Promise<CouponDto> {
    const accountId = requireText(input?.accountId, 'account_id');
    const amount = parseMoney(input.amount, 'amount');
    const expiresAt = parseInstant(input.expiresAt, 'expires_at');
    const scope = optionalText(input.scope, 'scope');
    const key = optionalText(input.idempotencyKey, 'idempotency_key');
    const now = clock.now();
    if (expiresAt.getTime() <= now.getTime()) throw new PaymentError('VALIDATION.DATE', 'expires_at must be in the future', { field: 'expires_at' });
    return db.transaction(async (trx) => {
      await lockBalances(trx, accountId);
      if (key) {
        const prior = await trx('coupons').where({ idempotency_key: key }).first();
        if (prior) {
          const same = prior.account_id === accountId && new Decimal(prior.amount).equals(amount) && new Date(prior.expires_at).getTime() === expiresAt.getTime() && (prior.scope ?? null) === scope;
          if (!same) throw idempotencyMismatch(key);
          return toCouponDto(prior, now);
        }
      }
      const row = { id: newId('cpn'), account_id: accountId, amount: amount.toFixed(2), balance: amount.toFixed(2), locked: '0.00', scope, expires_at: expiresAt, idempotency_key: key, created_at: now };
      await trx('coupons').insert(row);
      // R-M3: the coupon's value enters the ledger as its own ledger account.
      await writeTransaction(trx, {
        accountId,
        idempotencyKey: `coupon:${row.id}`,
        kind: 'coupon_issue',
        createdAt: now,
        description: `coupon ${row.id}`,
        entries: [
          { ledgerAccount: LEDGER.coupon(row.id), amount },
          { ledgerAccount: LEDGER.couponIssuance, amount: amount.negated() },
        ],
      });
      return toCouponDto(row, now);
    });
  }

  async function issueDiscount(input: {
    accountId: string;
    kind: DiscountKind;
    percentOff: string | Decimal;
    effectiveAt: Date | string;
    expiresAt: Date | string;
    scope?: string | null;
    idempotencyKey?: string | null;
  }): Promise<DiscountDto> {
    const accountId = requireText(input?.accountId, 'account_id');
    if (!DISCOUNT_KINDS.includes(input.kind)) throw new PaymentError('VALIDATION.FIELD', `kind must be one of ${DISCOUNT_KINDS.join(', ')}`, { field: 'kind' });
    const percent = parsePercent(input.percentOff);
    const effectiveAt = parseInstant(input.effectiveAt, 'effective_at');
    const expiresAt = parseInstant(input.expiresAt, 'expires_at');
    if (expiresAt.getTime() <= effectiveAt.getTime()) throw new PaymentError('VALIDATION.DATE', 'expires_at must be after effective_at', { field: 'expires_at' });
    const scope = optionalText(input.scope, 'scope');
    const key = optionalText(input.idempotencyKey, 'idempotency_key');
    return db.transaction(async (trx) => {
      await ensureAccountFinance(trx, accountId);
      const now = clock.now();
      if (key) {
        const prior = await trx('discounts').where({ idempotency_key: key }).first();
        if (prior) {
          if (prior.account_id !== accountId || prior.kind !== input.kind || !new Decimal(prior.percent_off).equals(percent)) throw idempotencyMismatch(key);
          return toDiscountDto(prior, now);
        }
      }
      const row = { id: newId('dsc'), account_id: accountId, kind: input.kind, percent_off: percent.toFixed(2), scope, effective_at: effectiveAt, expires_at: expiresAt, idempotency_key: key, created_at: now };
      await trx('discounts').insert(row);
      return toDiscountDto(row, now);
    });
  }

  return { topUp, setCreditLimit, bindCard, unbindCard, issueCoupon, issueDiscount };
}

export type FundingPhase = ReturnType<typeof fundingPhase>;
