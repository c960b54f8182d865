import type { ComponentChild } from 'preact';
import { useState } from 'preact/hooks';
import { canRenewManually, canUnsubscribe, canUpgrade } from '../../../billing/subscription-rules';
import { api, ApiError, type Catalog, type Discount, type Subscription, type Term } from '../api';
import { ErrorMessage, Loading, LoadMore, Section, StatusBadge, Switch, TableWrap } from '../components/common';
import { MoneyDialog } from '../components/dialog';
import { QuoteSplit } from '../components/quote';
import { Timeline } from '../components/timeline';
import { localDate, localTime, money } from '../format';
import { useAsync, usePaged } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';
import { estimateRefund } from '../refund';
import { useApp } from '../session';

const ENDED = new Set(['released', 'unsubscribed']);

export function SubscriptionPage({ id }: { id: string }) {
  const { t } = useI18n();
  const { client } = useApp();
  const sub = useAsync(() => api.subscription(client, id), [id]);
  const s = sub.data;

  return (
    <>
      <p><a href="#/subscriptions">← {t('detail.back')}</a></p>
      <h1 tabIndex={-1}>{s ? t('detail.title', { product: s.product, edition: s.edition }) : t('subs.title')}</h1>
      <ErrorMessage error={sub.error} />
      {!s && sub.loading && <Loading />}
      {s && (
        <div class="grid">
          <Summary s={s} />
          <Section id="forecast" title={t('forecast.title')}>
            <Timeline s={s} />
          </Section>
          {!ENDED.has(s.status) && <AutoRenewPanel s={s} onChange={sub.set} />}
          {canRenewManually(s.status) && <RenewPanel s={s} onChange={sub.set} />}
          {!ENDED.has(s.status) && <UpgradePanel s={s} onChange={sub.set} />}
          {!ENDED.has(s.status) && <UnsubscribePanel s={s} onChange={sub.set} />}
          <BindingsPanel id={s.id} version={`${s.status}:${s.edition}`} />
        </div>
      )}
    </>
  );
}

function Summary({ s }: { s: Subscription }) {
  const { t } = useI18n();
  const rows: [MessageKey, ComponentChild, string][] = [
    ['subs.status', <StatusBadge status={s.status} label={t(`status.${s.status}` as MessageKey)} />, 'status'],
    ['subs.edition', s.edition, 'edition'],
    ['subs.quantity', s.quantity, 'quantity'],
    ['subs.region', s.region, 'region'],
    ['detail.started', localTime(s.started_at), 'started'],
    ['subs.expires', localTime(s.expires_at), 'expires'],
    ['detail.renewalPeriod', t('period', { count: s.renewal_period.count, unit: t(`unit.${s.renewal_period.unit}` as MessageKey) }), 'period'],
    ['subs.autoRenew', s.auto_renew ? t('common.yes') : t('common.no'), 'auto-renew'],
    ['detail.deductionDate', s.deduction_date ?? t('detail.default'), 'deduction-date'],
    ['detail.id', <code>{s.id}</code>, 'id'],
  ];
  return (
    <Section id="summary" title={t('detail.summary')}>
      <dl class="facts">
        {rows.map(([label, value, key]) => (
          <div key={key} class="fact"><dt>{t(label)}</dt><dd data-testid={`sub-${key}`}>{value}</dd></div>
        ))}
      </dl>
    </Section>
  );
}

function AutoRenewPanel({ s, onChange }: { s: Subscription; onChange(s: Subscription): void }) {
  const { t } = useI18n();
  const { client, announce } = useApp();
  const [date, setDate] = useState(s.deduction_date ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  async function save(enabled: boolean, deductionDate?: string | null) {
    setBusy(true);
    setError(null);
    try {
      const next = await api.setAutoRenew(client, s.id, enabled, deductionDate);
      onChange(next);
      announce(deductionDate !== undefined ? t('autoRenew.dateSaved') : next.auto_renew ? t('autoRenew.on') : t('autoRenew.off'));
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section id="auto-renew" title={t('autoRenew.title')}>
      <Switch id="auto-renew-switch" checked={s.auto_renew} label={t('autoRenew.switch')} disabled={busy} onChange={(v) => void save(v)} />
      <form class="form inline" onSubmit={(e) => { e.preventDefault(); void save(s.auto_renew, date || null); }}>
        <div class="field">
          <label for="deduction-date">{t('autoRenew.date')}</label>
          <input id="deduction-date" type="date" value={date} max={localDate(s.expires_at)} aria-describedby="deduction-date-hint" onInput={(e) => setDate((e.currentTarget as HTMLInputElement).value)} />
          <p id="deduction-date-hint" class="hint">{t('autoRenew.dateHint')}</p>
        </div>
        <button type="submit" class="secondary" disabled={busy}>{t('autoRenew.saveDate')}</button>
      </form>
      <ErrorMessage error={error} />
    </Section>
  );
}

/** The account's promotional discounts that are valid now: the ones an order may name (discount_id, v1.1). */
function usePromotions() {
  const { client, accountId } = useApp();
  return useAsync(async () => (await api.discounts(client, accountId)).data.filter((d) => d.kind === 'promotional' && d.status === 'active'), [accountId]);
}

export function DiscountSelect({ id, label, discounts, value, onChange }: { id: string; label: string; discounts: Discount[]; value: string; onChange(v: string): void }) {
  const { t } = useI18n();
  if (discounts.length === 0) return null;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">{t('renew.bestDiscount')}</option>
        {discounts.map((d) => <option key={d.id} value={d.id}>{`${d.percent_off}% · ${d.scope ?? t('scope.all')} · ${localDate(d.expires_at)}`}</option>)}
      </select>
    </div>
  );
}

function RenewPanel({ s, onChange }: { s: Subscription; onChange(s: Subscription): void }) {
  const { t } = useI18n();
  const { client, currency, announce } = useApp();
  const [count, setCount] = useState(1);
  const [unit, setUnit] = useState<Term['unit']>(s.renewal_period.unit);
  const [autoRenew, setAutoRenew] = useState(s.auto_renew);
  const [discountId, setDiscountId] = useState('');
  const [open, setOpen] = useState(false);
  const promos = usePromotions();
  const term: Term = { unit, count };
  const period = t('period', { count, unit: t(`unit.${unit}` as MessageKey) });
  const valid = Number.isInteger(count) && count >= 1 && count <= 60;

  return (
    <Section id="renew" title={t('renew.title')}>
      <form class="form" onSubmit={(e) => { e.preventDefault(); if (valid) setOpen(true); }}>
        <div class="row">
          <div class="field">
            <label for="renew-count">{t('renew.count')}</label>
            <input id="renew-count" type="number" min={1} max={60} step={1} required value={count} onInput={(e) => setCount(Number((e.currentTarget as HTMLInputElement).value))} />
          </div>
          <div class="field">
            <label for="renew-unit">{t('renew.unit')}</label>
            <select id="renew-unit" value={unit} onChange={(e) => setUnit((e.currentTarget as HTMLSelectElement).value as Term['unit'])}>
              <option value="month">{t('unit.month')}</option>
              <option value="year">{t('unit.year')}</option>
            </select>
          </div>
        </div>
        <div class="check">
          <input id="renew-auto" type="checkbox" checked={autoRenew} onChange={(e) => setAutoRenew((e.currentTarget as HTMLInputElement).checked)} />
          <label for="renew-auto">{t('renew.autoRenew')}</label>
        </div>
        <DiscountSelect id="renew-discount" label={t('renew.discount')} discounts={promos.data ?? []} value={discountId} onChange={setDiscountId} />
        <button type="submit" class="primary" disabled={!valid}>{t('renew.button')}</button>
      </form>
      <MoneyDialog
        open={open}
        title={t('renew.dialogTitle', { product: s.product, edition: s.edition, period })}
        onClose={() => setOpen(false)}
        preview={() => api.quote(client, { kind: 'renewal', subscription_id: s.id, term, ...(discountId ? { discount_id: discountId } : {}) })}
        renderPreview={(q) => <QuoteSplit quote={q} currency={currency} />}
        previewOptional
        confirmLabel={t('renew.confirm')}
        perform={(key) => api.renew(client, s.id, { term, auto_renew: autoRenew, ...(discountId ? { discount_id: discountId } : {}) }, key)}
        onDone={(next) => { setOpen(false); onChange(next); announce(t('renew.done', { date: localTime(next.expires_at) })); }}
      />
    </Section>
  );
}

/** The catalog as billing/subscription-rules' canUpgrade reads it. */
const upgradeCatalog = (c: Catalog) => ({ products: c.products.map((p) => ({ product: p.product, editions: p.editions.map((e) => ({ edition: e.edition, monthly: e.prices.monthly, yearly: e.prices.yearly })) })) });

function UpgradePanel({ s, onChange }: { s: Subscription; onChange(s: Subscription): void }) {
  const { t } = useI18n();
  const { client, currency, announce } = useApp();
  const catalog = useAsync(() => api.catalog(client), []);
  const options = catalog.data
    ? (catalog.data.products.find((p) => p.product === s.product)?.editions ?? []).filter((e) => canUpgrade(s.product, s.edition, e.edition, upgradeCatalog(catalog.data!)))
    : [];
  const [edition, setEdition] = useState('');
  const chosen = edition || options[0]?.edition || '';
  const [open, setOpen] = useState(false);
  const active = s.status === 'active';

  return (
    <Section id="upgrade" title={t('upgrade.title')}>
      <ErrorMessage error={catalog.error} />
      {catalog.data && options.length === 0 && <p>{t('upgrade.none')}</p>}
      {options.length > 0 && (
        <form class="form" onSubmit={(e) => { e.preventDefault(); if (chosen && active) setOpen(true); }}>
          <div class="field">
            <label for="upgrade-edition">{t('upgrade.edition')}</label>
            <select id="upgrade-edition" value={chosen} onChange={(e) => setEdition((e.currentTarget as HTMLSelectElement).value)}>
              {options.map((e) => <option key={e.edition} value={e.edition}>{e.edition}</option>)}
            </select>
          </div>
          <p class="hint">{active ? t('upgrade.note') : t('upgrade.notActive')}</p>
          <button type="submit" class="primary" disabled={!active}>{t('upgrade.button')}</button>
        </form>
      )}
      <MoneyDialog
        open={open}
        title={t('upgrade.dialogTitle', { product: s.product, edition: chosen })}
        onClose={() => setOpen(false)}
        preview={() => api.quote(client, { kind: 'upgrade', subscription_id: s.id, edition: chosen })}
        renderPreview={(q) => <QuoteSplit quote={q} currency={currency} />}
        previewOptional
        confirmLabel={t('upgrade.confirm')}
        perform={(key) => api.upgrade(client, s.id, chosen, key)}
        onDone={(r) => { setOpen(false); onChange(r.subscription); announce(t('upgrade.done', { edition: r.subscription.edition, amount: money(r.charged, currency) })); }}
      >
        <p>{t('upgrade.note')}</p>
      </MoneyDialog>
    </Section>
  );
}

function UnsubscribePanel({ s, onChange }: { s: Subscription; onChange(s: Subscription): void }) {
  const { t } = useI18n();
  const { client, currency, announce } = useApp();
  const [open, setOpen] = useState(false);
  const active = canUnsubscribe(s.status);
  return (
    <Section id="unsubscribe" title={t('unsub.title')}>
      <p>{active ? t('unsub.note') : t('unsub.notActive')}</p>
      <button type="button" class="danger" disabled={!active} onClick={() => setOpen(true)}>{t('unsub.button')}</button>
      <MoneyDialog
        open={open}
        title={t('unsub.dialogTitle', { product: s.product, edition: s.edition })}
        onClose={() => setOpen(false)}
        preview={() => estimateRefund(client, s)}
        renderPreview={(r) => (
          <div>
            <p class="big">{t('unsub.refund')}: <strong data-testid="refund-estimate">{money(r.refund, currency)}</strong></p>
            {r.order ? (
              <dl class="facts compact">
                <div class="fact"><dt>{t('unsub.paid')}</dt><dd>{money(r.order.due, currency)}</dd></div>
                <div class="fact"><dt>{t('unsub.couponPaid')}</dt><dd>{money(r.order.coupon, currency)}</dd></div>
                <div class="fact"><dt>{t('unsub.listPrice')}</dt><dd>{money(r.order.list_amount, currency)}</dd></div>
                <div class="fact"><dt>{t('unsub.used')}</dt><dd>{r.usedPercent} %</dd></div>
              </dl>
            ) : <p>{t('unsub.noOrder')}</p>}
            <p class="muted small">{t('unsub.estimate')}</p>
          </div>
        )}
        previewOptional
        confirmLabel={t('unsub.confirm')}
        confirmKind="danger"
        perform={(key) => api.unsubscribe(client, s.id, key)}
        onDone={(r) => { setOpen(false); onChange(r.subscription); announce(t('unsub.done', { amount: money(r.refund, currency) })); }}
      >
        <p>{t('unsub.note')}</p>
      </MoneyDialog>
    </Section>
  );
}

function BindingsPanel({ id, version }: { id: string; version: string }) {
  const { t } = useI18n();
  const { client } = useApp();
  const list = usePaged((cursor) => api.bindings(client, id, cursor), [id, version]);
  return (
    <Section id="bindings" title={t('bindings.title')}>
      <ErrorMessage error={list.error} />
      {list.data && list.data.length === 0 && <p>{t('bindings.empty')}</p>}
      {list.data && list.data.length > 0 && (
        <TableWrap label={t('bindings.title')}>
          <table class="data">
            <caption class="sr-only">{t('bindings.title')}</caption>
            <thead><tr><th scope="col">{t('bindings.server')}</th><th scope="col">{t('bindings.region')}</th><th scope="col">{t('bindings.status')}</th><th scope="col">{t('bindings.since')}</th></tr></thead>
            <tbody>
              {list.data.map((b) => (
                <tr key={b.id}>
                  <td><code>{b.server_id}</code></td>
                  <td>{b.region}</td>
                  <td><StatusBadge status={b.status === 'active' ? 'active' : 'frozen'} label={t(`binding.${b.status}` as MessageKey)} /></td>
                  <td>{localTime(b.created_at)}</td>
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
