import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Account, type Bill, type Order } from '../api';
import { ErrorMessage, Loading, LoadMore, Section, StatusBadge, TableWrap } from '../components/common';
import { Dialog, MoneyDialog } from '../components/dialog';
import { isPositiveMoney, localDate, localTime, money } from '../format';
import { useAsync, usePaged } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';
import { useApp } from '../session';

const SECTIONS: [string, MessageKey][] = [
  ['balances', 'money.balances'],
  ['top-up', 'topUp.title'],
  ['card', 'card.title'],
  ['coupons', 'coupons.title'],
  ['discounts', 'discounts.title'],
  ['orders', 'orders.title'],
  ['bills', 'bills.title'],
  ['packages', 'packages.title'],
  ['account', 'account.title'],
];

export function MoneyPage({ section }: { section?: string }) {
  const { t } = useI18n();
  const { client, accountId } = useApp();
  const account = useAsync(() => api.account(client, accountId), [accountId]);
  const [version, setVersion] = useState(0); // bumped after a money action: lists reload
  const changed = (a?: Account) => { if (a) account.set(a); else account.reload(); setVersion((v) => v + 1); };

  useEffect(() => {
    if (!section) return;
    const el = document.getElementById(`${section}-heading`);
    if (el) { el.setAttribute('tabindex', '-1'); el.focus(); el.scrollIntoView({ block: 'start' }); }
  }, [section, account.data !== undefined]);

  return (
    <>
      <h1 tabIndex={-1}>{t('money.title')}</h1>
      <nav aria-label={t('money.sections')} class="toc">
        <ul>{SECTIONS.map(([id, label]) => <li key={id}><a href={`#/money/${id}`}>{t(label)}</a></li>)}</ul>
      </nav>
      <ErrorMessage error={account.error} />
      {!account.data && account.loading && <Loading />}
      {account.data && (
        <div class="grid">
          <Balances a={account.data} />
          <TopUp a={account.data} onDone={changed} />
          <Card a={account.data} onDone={() => changed()} />
          <Coupons version={version} />
          <Discounts version={version} />
          <Orders version={version} />
          <Bills version={version} />
          <Packages version={version} />
          <AccountPanel a={account.data} onDone={changed} />
        </div>
      )}
    </>
  );
}

function Balances({ a }: { a: Account }) {
  const { t } = useI18n();
  const c = a.currency;
  return (
    <Section id="balances" title={t('money.balances')}>
      <dl class="facts">
        <div class="fact"><dt>{t('money.cash')}</dt><dd data-testid="cash">{money(a.cash, c)}</dd></div>
        <div class="fact"><dt>{t('money.creditLimit')}</dt><dd data-testid="credit-limit">{money(a.credit_limit, c)}</dd></div>
        <div class="fact"><dt>{t('money.creditUsed')}</dt><dd data-testid="credit-used">{money(a.credit_used, c)}</dd></div>
        <div class="fact"><dt>{t('money.locked')}</dt><dd data-testid="locked">{money(a.locked, c)}</dd></div>
        <div class="fact"><dt>{t('money.card')}</dt><dd data-testid="card">{a.card ? `${a.card.brand ?? a.card.token_hint}${a.card.last4 ? ` ${t('money.cardHint', { last4: a.card.last4 })}` : ''}` : t('money.noCard')}</dd></div>
      </dl>
      <ArrearsLine />
    </Section>
  );
}

function ArrearsLine() {
  const { t } = useI18n();
  const { client, accountId, currency } = useApp();
  const arrears = useAsync(() => api.arrears(client, accountId), [accountId]);
  if (!arrears.data) return <ErrorMessage error={arrears.error} />;
  const s = arrears.data.arrears_status;
  return (
    <p data-testid="arrears">
      <strong>{t('arrears.title')}:</strong>{' '}
      {s === 'none' ? t('arrears.none') : t('arrears.state', { status: t(`arrearsStatus.${s}` as MessageKey), amount: money(arrears.data.outstanding, currency) })}
    </p>
  );
}

function TopUp({ a, onDone }: { a: Account; onDone(a: Account): void }) {
  const { t } = useI18n();
  const { client, accountId, announce } = useApp();
  const [amount, setAmount] = useState('');
  const [invalid, setInvalid] = useState(false);
  const [open, setOpen] = useState(false);
  const value = amount.trim();
  return (
    <Section id="top-up" title={t('topUp.title')}>
      <form class="form inline" noValidate onSubmit={(e) => { e.preventDefault(); const ok = isPositiveMoney(value); setInvalid(!ok); if (ok) setOpen(true); }}>
        <div class="field">
          <label for="top-up-amount">{t('topUp.amount')} ({a.currency})</label>
          <input id="top-up-amount" type="text" inputMode="decimal" autoComplete="off" value={amount} aria-invalid={invalid} aria-describedby="top-up-problem"
            onInput={(e) => setAmount((e.currentTarget as HTMLInputElement).value)} />
          <p id="top-up-problem" class="field-error">{invalid ? t('topUp.invalid') : ''}</p>
        </div>
        <button type="submit" class="primary">{t('topUp.button')}</button>
      </form>
      <MoneyDialog
        open={open}
        title={t('topUp.dialogTitle', { amount: money(value, a.currency) })}
        onClose={() => setOpen(false)}
        confirmLabel={t('topUp.confirm')}
        perform={(key) => api.topUp(client, accountId, value, key)}
        onDone={(r) => { setOpen(false); setAmount(''); onDone(r.account); announce(t('topUp.done', { amount: money(value, a.currency), cash: money(r.account.cash, a.currency) })); }}
      >
        <p>{t('topUp.body', { amount: money(value, a.currency) })}</p>
      </MoneyDialog>
    </Section>
  );
}

function Card({ a, onDone }: { a: Account; onDone(): void }) {
  const { t } = useI18n();
  const { client, accountId, announce } = useApp();
  const [token, setToken] = useState('tok_visa');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  async function run(fn: () => Promise<unknown>, done: MessageKey) {
    setBusy(true);
    setError(null);
    try {
      await fn();
      onDone();
      announce(t(done));
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Section id="card" title={t('card.title')}>
      <form class="form inline" onSubmit={(e) => { e.preventDefault(); void run(() => api.bindCard(client, accountId, token.trim()), 'card.bound'); }}>
        <div class="field">
          <label for="card-token">{t('card.token')}</label>
          <input id="card-token" type="text" autoComplete="off" spellcheck={false} value={token} aria-describedby="card-token-hint" onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)} />
          <p id="card-token-hint" class="hint">{t('card.tokenHint')}</p>
        </div>
        <button type="submit" class="primary" disabled={busy}>{t('card.bind')}</button>
        {a.card && <button type="button" class="secondary" disabled={busy} onClick={() => void run(() => api.unbindCard(client, accountId), 'card.unbound')}>{t('card.unbind')}</button>}
      </form>
      <ErrorMessage error={error} />
    </Section>
  );
}

function Coupons({ version }: { version: number }) {
  const { t } = useI18n();
  const { client, accountId, currency } = useApp();
  const list = usePaged((cursor) => api.coupons(client, accountId, cursor), [accountId, version]);
  return (
    <Section id="coupons" title={t('coupons.title')}>
      <ListState list={list} />
      {list.data && list.data.length > 0 && (
        <TableWrap label={t('coupons.title')}>
          <table class="data" data-testid="coupons">
            <caption class="sr-only">{t('coupons.title')}</caption>
            <thead><tr>
              <th scope="col" class="num">{t('coupon.amount')}</th><th scope="col" class="num">{t('coupon.available')}</th>
              <th scope="col">{t('coupon.scope')}</th><th scope="col">{t('coupon.expires')}</th><th scope="col">{t('coupon.status')}</th>
            </tr></thead>
            <tbody>
              {list.data.map((c) => (
                <tr key={c.id}>
                  <td class="num">{money(c.amount, currency)}</td><td class="num">{money(c.available, currency)}</td>
                  <td>{c.scope ?? t('scope.all')}</td><td>{localTime(c.expires_at)}</td>
                  <td><StatusBadge status={c.status === 'active' ? 'active' : 'released'} label={t(`couponStatus.${c.status}` as MessageKey)} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loadingMore} onClick={list.loadMore} />
    </Section>
  );
}

function Discounts({ version }: { version: number }) {
  const { t } = useI18n();
  const { client, accountId } = useApp();
  const list = usePaged((cursor) => api.discounts(client, accountId, cursor), [accountId, version]);
  return (
    <Section id="discounts" title={t('discounts.title')}>
      <ListState list={list} />
      {list.data && list.data.length > 0 && (
        <TableWrap label={t('discounts.title')}>
          <table class="data" data-testid="discounts">
            <caption class="sr-only">{t('discounts.title')}</caption>
            <thead><tr>
              <th scope="col">{t('discountCol.kind')}</th><th scope="col" class="num">{t('discountCol.percent')}</th><th scope="col">{t('coupon.scope')}</th>
              <th scope="col">{t('discountCol.from')}</th><th scope="col">{t('discountCol.until')}</th><th scope="col">{t('coupon.status')}</th>
            </tr></thead>
            <tbody>
              {list.data.map((d) => (
                <tr key={d.id}>
                  <td>{t(`discount.${d.kind}` as MessageKey)}</td><td class="num">{d.percent_off}%</td><td>{d.scope ?? t('scope.all')}</td>
                  <td>{localDate(d.effective_at)}</td><td>{localDate(d.expires_at)}</td>
                  <td><StatusBadge status={d.status === 'active' ? 'active' : d.status === 'scheduled' ? 'trial' : 'released'} label={t(`discountStatus.${d.status}` as MessageKey)} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loadingMore} onClick={list.loadMore} />
    </Section>
  );
}

/** "Coupon 10.00 · Cash 12.50": the R-P1 parts of an order that are not zero. */
function PaidWith({ o, currency }: { o: Order; currency: string }) {
  const { t } = useI18n();
  const parts: [MessageKey, string][] = [['quote.coupon', o.coupon], ['quote.cash', o.cash], ['quote.credit', o.credit], ['quote.card', o.card]];
  const used = parts.filter(([, v]) => !/^0(\.0+)?$/.test(v));
  if (!used.length) return <>—</>;
  return <>{used.map(([k, v], i) => <span key={k}>{i > 0 && ' · '}<span class="nowrap">{`${t(k)} ${money(v, currency)}`}</span></span>)}</>;
}

function Orders({ version }: { version: number }) {
  const { t } = useI18n();
  const { client, accountId, currency } = useApp();
  const list = usePaged((cursor) => api.orders(client, accountId, cursor), [accountId, version]);
  return (
    <Section id="orders" title={t('orders.title')}>
      <ListState list={list} />
      {list.data && list.data.length > 0 && (
        <TableWrap label={t('orders.title')}>
          <table class="data" data-testid="orders">
            <caption class="sr-only">{t('orders.title')}</caption>
            <thead><tr>
              <th scope="col">{t('order.date')}</th><th scope="col">{t('order.what')}</th><th scope="col" class="num">{t('order.list')}</th>
              <th scope="col" class="num">{t('quote.discount')}</th><th scope="col" class="num">{t('order.due')}</th><th scope="col">{t('order.split')}</th>
              <th scope="col" class="num">{t('order.refunded')}</th><th scope="col">{t('order.status')}</th>
            </tr></thead>
            <tbody>
              {list.data.map((o) => (
                <tr key={o.id} data-order={o.id}>
                  <td>{localTime(o.created_at)}</td>
                  <td>{o.description ?? o.kind}{o.failure && <span class="muted small"> — {o.failure.message}</span>}</td>
                  <td class="num">{money(o.list_amount, currency)}</td>
                  <td class="num">{o.discount ? `${o.discount.percent_off}% (−${money(o.discount.amount, currency)})` : '—'}</td>
                  <td class="num">{money(o.due, currency)}</td>
                  <td data-testid="order-split"><PaidWith o={o} currency={currency} /></td>
                  <td class="num">{/^0(\.0+)?$/.test(o.refunded) ? '—' : money(o.refunded, currency)}</td>
                  <td><StatusBadge status={o.status === 'paid' ? 'active' : o.status === 'failed' ? 'frozen' : 'grace'} label={t(`orderStatus.${o.status}` as MessageKey)} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loadingMore} onClick={list.loadMore} />
    </Section>
  );
}

function Bills({ version }: { version: number }) {
  const { t } = useI18n();
  const { client, accountId, currency } = useApp();
  const list = usePaged((cursor) => api.bills(client, accountId, cursor), [accountId, version]);
  const [shown, setShown] = useState<Bill | null>(null);
  const detail = useAsync(async () => (shown ? api.bill(client, accountId, shown.id) : null), [shown?.id]);
  const hour = (b: Bill) => `${localTime(b.hour_start)}–${localTime(b.hour_end).slice(11)}`;
  return (
    <Section id="bills" title={t('bills.title')}>
      <ListState list={list} />
      {list.data && list.data.length > 0 && (
        <TableWrap label={t('bills.title')}>
          <table class="data" data-testid="bills">
            <caption class="sr-only">{t('bills.title')}</caption>
            <thead><tr><th scope="col">{t('bill.hour')}</th><th scope="col" class="num">{t('bill.total')}</th><th scope="col">{t('bill.status')}</th><th scope="col"><span class="sr-only">{t('bill.view')}</span></th></tr></thead>
            <tbody>
              {list.data.map((b) => (
                <tr key={b.id}>
                  <td>{hour(b)}</td>
                  <td class="num">{money(b.total, currency)}</td>
                  <td><StatusBadge status={b.status === 'paid' ? 'active' : b.status === 'pending' ? 'grace' : 'frozen'} label={t(`billStatus.${b.status}` as MessageKey)} /></td>
                  <td><button type="button" class="link" aria-label={t('bill.viewLabel', { hour: hour(b) })} onClick={() => setShown(b)}>{t('bill.view')}</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loadingMore} onClick={list.loadMore} />
      <Dialog open={shown !== null} title={shown ? t('bill.dialogTitle', { hour: hour(shown) }) : ''} onClose={() => setShown(null)}
        footer={<button type="button" class="secondary" onClick={() => setShown(null)}>{t('common.close')}</button>}>
        <ErrorMessage error={detail.error} />
        {detail.loading && <Loading />}
        {detail.data && (
          <>
            <p>{t('bill.total')}: <strong data-testid="bill-total">{money(detail.data.total, currency)}</strong> · <StatusBadge status={detail.data.status === 'paid' ? 'active' : 'frozen'} label={t(`billStatus.${detail.data.status}` as MessageKey)} /></p>
            {detail.data.failure && <p class="error">{detail.data.failure.message}</p>}
            <TableWrap label={t('bill.dialogTitle', { hour: hour(detail.data) })}>
              <table class="data" data-testid="bill-lines">
                <caption class="sr-only">{t('bill.dialogTitle', { hour: hour(detail.data) })}</caption>
                <thead><tr>
                  <th scope="col">{t('billLine.resource')}</th><th scope="col">{t('billLine.what')}</th><th scope="col" class="num">{t('billLine.quantity')}</th>
                  <th scope="col" class="num">{t('billLine.unitPrice')}</th><th scope="col" class="num">{t('billLine.covered')}</th><th scope="col" class="num">{t('billLine.billed')}</th>
                  <th scope="col" class="num">{t('billLine.amount')}</th>
                </tr></thead>
                <tbody>
                  {(detail.data.lines ?? []).map((l, i) => (
                    <tr key={i}>
                      <td><code>{l.resource_id}</code></td>
                      <td>{l.kind === 'usage' ? l.metric : `${l.product}/${l.edition}`}{l.seconds !== null && ` · ${t('billLine.seconds', { seconds: l.seconds })}`}</td>
                      <td class="num">{l.quantity}</td><td class="num">{l.unit_price}</td><td class="num">{l.covered}</td>
                      <td class="num">{l.billed_quantity}</td><td class="num">{l.amount}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
          </>
        )}
      </Dialog>
    </Section>
  );
}

function Packages({ version }: { version: number }) {
  const { t } = useI18n();
  const { client, accountId } = useApp();
  const list = usePaged((cursor) => api.usagePackages(client, accountId, cursor), [accountId, version]);
  return (
    <Section id="packages" title={t('packages.title')}>
      <ListState list={list} />
      {list.data && list.data.length > 0 && (
        <TableWrap label={t('packages.title')}>
          <table class="data" data-testid="packages">
            <caption class="sr-only">{t('packages.title')}</caption>
            <thead><tr>
              <th scope="col">{t('package.metric')}</th><th scope="col" class="num">{t('package.content')}</th><th scope="col" class="num">{t('package.remaining')}</th>
              <th scope="col">{t('package.reset')}</th><th scope="col">{t('package.expires')}</th>
            </tr></thead>
            <tbody>
              {list.data.map((p) => (
                <tr key={p.id}>
                  <td>{p.metric}</td><td class="num">{p.content}</td><td class="num">{p.remaining}</td>
                  <td>{t(`reset.${p.reset}` as MessageKey)}{p.next_reset_at ? ` (${localDate(p.next_reset_at)})` : ''}</td>
                  <td>{localTime(p.expires_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loadingMore} onClick={list.loadMore} />
    </Section>
  );
}

function AccountPanel({ a, onDone }: { a: Account; onDone(a: Account): void }) {
  const { t } = useI18n();
  const { client, accountId, announce } = useApp();
  const [email, setEmail] = useState(a.email ?? '');
  const [phone, setPhone] = useState(a.phone ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  async function save(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const next = await api.updateContact(client, accountId, { email: email.trim() || null, phone: phone.trim() || null });
      onDone(next);
      announce(t('contact.saved'));
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Section id="account" title={t('account.title')}>
      <dl class="facts">
        <div class="fact"><dt>{t('account.name')}</dt><dd>{a.name}</dd></div>
        <div class="fact"><dt>{t('account.level')}</dt><dd>{t(`level.${a.customer_level}` as MessageKey)}</dd></div>
      </dl>
      <form class="form" onSubmit={(e) => void save(e)}>
        <div class="row">
          <div class="field">
            <label for="contact-email">{t('contact.email')}</label>
            <input id="contact-email" type="email" autoComplete="email" value={email} onInput={(e) => setEmail((e.currentTarget as HTMLInputElement).value)} />
          </div>
          <div class="field">
            <label for="contact-phone">{t('contact.phone')}</label>
            <input id="contact-phone" type="tel" autoComplete="tel" value={phone} aria-describedby="contact-phone-hint" onInput={(e) => setPhone((e.currentTarget as HTMLInputElement).value)} />
            <p id="contact-phone-hint" class="hint">{t('contact.phoneHint')}</p>
          </div>
        </div>
        <button type="submit" class="secondary" disabled={busy}>{t('contact.save')}</button>
      </form>
      <ErrorMessage error={error} />
    </Section>
  );
}

function ListState({ list }: { list: { data: unknown[] | undefined; error: ApiError | null; loading: boolean } }) {
  const { t } = useI18n();
  return (
    <>
      <ErrorMessage error={list.error} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.length === 0 && <p class="muted">{t('common.empty')}</p>}
    </>
  );
}
