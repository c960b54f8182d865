import { useState } from 'preact/hooks';
import { api, type CatalogEdition, type PurchaseBody, type Subscription, type Term } from '../api';
import { ErrorMessage, Loading, Section } from '../components/common';
import { MoneyDialog } from '../components/dialog';
import { QuoteSplit } from '../components/quote';
import { localTime, money } from '../format';
import { useAsync } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';
import { useApp } from '../session';
import { DiscountSelect } from './subscription-detail';

/** Editions sold yearly/monthly (R-C1: a missing price means the mode is not offered). */
const prepaid = (e: CatalogEdition) => e.prices.monthly !== null || e.prices.yearly !== null;

export function BuyPage() {
  const { t } = useI18n();
  const { client, accountId, currency, announce } = useApp();
  const catalog = useAsync(() => api.catalog(client), []);
  const promos = useAsync(async () => (await api.discounts(client, accountId)).data.filter((d) => d.kind === 'promotional' && d.status === 'active'), [accountId]);

  const [product, setProduct] = useState('');
  const [edition, setEdition] = useState('');
  const [region, setRegion] = useState('');
  const [quantity, setQuantity] = useState('1');
  const [count, setCount] = useState('1');
  const [unit, setUnit] = useState<Term['unit']>('month');
  const [autoRenew, setAutoRenew] = useState(false);
  const [trial, setTrial] = useState(false);
  const [discountId, setDiscountId] = useState('');
  const [open, setOpen] = useState(false);
  const [bought, setBought] = useState<Subscription | null>(null);
  const [touched, setTouched] = useState(false);

  const c = catalog.data;
  const products = c?.products.filter((p) => p.editions.some(prepaid)) ?? [];
  const chosenProduct = products.find((p) => p.product === product) ?? products[0];
  const editions = chosenProduct?.editions.filter(prepaid) ?? [];
  const chosenEdition = editions.find((e) => e.edition === edition) ?? editions[0];
  const chosenRegion = region || c?.regions[0] || '';
  const canTrial = Boolean(chosenEdition?.trial_days);
  const isTrial = trial && canTrial;
  const qty = Number(quantity);
  const termCount = Number(count);
  const qtyValid = /^\d+$/.test(quantity) && qty >= 1 && qty <= 10_000;
  const termValid = isTrial || (/^\d+$/.test(count) && termCount >= 1 && termCount <= 60);
  const priceOf = (p: string | null) => (p === null ? t('buy.notOffered') : money(p, currency));

  function body(): PurchaseBody {
    return {
      account_id: accountId,
      product: chosenProduct!.product,
      edition: chosenEdition!.edition,
      region: chosenRegion,
      quantity: qty,
      ...(isTrial ? { trial: true } : { term: { unit, count: termCount } }),
      auto_renew: autoRenew,
      ...(discountId && !isTrial ? { discount_id: discountId } : {}),
    };
  }

  return (
    <>
      <h1 tabIndex={-1}>{t('buy.title')}</h1>
      <p>{t('buy.intro')}</p>
      <ErrorMessage error={catalog.error} />
      {catalog.loading && !c && <Loading />}
      {bought && (
        <p class="notice success" data-testid="bought">
          {t('buy.done', { product: bought.product, edition: bought.edition, date: localTime(bought.expires_at) })}{' '}
          <a href={`#/subscriptions/${encodeURIComponent(bought.id)}`}>{t('buy.view')}</a>
        </p>
      )}
      {c && chosenProduct && chosenEdition && (
        <Section id="buy-form" title={t('buy.title')}>
          <form class="form" noValidate onSubmit={(e) => { e.preventDefault(); setTouched(true); if (qtyValid && termValid) { setBought(null); setOpen(true); } }}>
            <div class="row">
              <div class="field">
                <label for="buy-product">{t('buy.product')}</label>
                <select id="buy-product" value={chosenProduct.product} onChange={(e) => { setProduct((e.currentTarget as HTMLSelectElement).value); setEdition(''); setTrial(false); }}>
                  {products.map((p) => <option key={p.product} value={p.product}>{p.product}</option>)}
                </select>
              </div>
              <div class="field">
                <label for="buy-edition">{t('buy.edition')}</label>
                <select id="buy-edition" value={chosenEdition.edition} aria-describedby="buy-price" onChange={(e) => { setEdition((e.currentTarget as HTMLSelectElement).value); setTrial(false); }}>
                  {editions.map((e) => <option key={e.edition} value={e.edition}>{e.edition}</option>)}
                </select>
              </div>
              <div class="field">
                <label for="buy-region">{t('buy.region')}</label>
                <select id="buy-region" value={chosenRegion} onChange={(e) => setRegion((e.currentTarget as HTMLSelectElement).value)}>
                  {c.regions.map((r) => <option key={r} value={r}>{r}</option>)}
                </select>
              </div>
            </div>
            <p id="buy-price" class="hint" data-testid="buy-price">{t('buy.price', { monthly: priceOf(chosenEdition.prices.monthly), yearly: priceOf(chosenEdition.prices.yearly) })}</p>
            <div class="row">
              <div class="field">
                <label for="buy-quantity">{t('buy.quantity')}</label>
                <input id="buy-quantity" type="number" min={1} max={10000} step={1} inputMode="numeric" value={quantity}
                  aria-invalid={touched && !qtyValid} aria-describedby="buy-quantity-problem"
                  onInput={(e) => setQuantity((e.currentTarget as HTMLInputElement).value)} />
                <p id="buy-quantity-problem" class="field-error">{touched && !qtyValid ? t('buy.quantityInvalid') : ''}</p>
              </div>
              {!isTrial && (
                <>
                  <div class="field">
                    <label for="buy-term-count">{t('buy.termCount')}</label>
                    <input id="buy-term-count" type="number" min={1} max={60} step={1} inputMode="numeric" value={count}
                      onInput={(e) => setCount((e.currentTarget as HTMLInputElement).value)} />
                  </div>
                  <div class="field">
                    <label for="buy-term-unit">{t('buy.termUnit')}</label>
                    <select id="buy-term-unit" value={unit} onChange={(e) => setUnit((e.currentTarget as HTMLSelectElement).value as Term['unit'])}>
                      <option value="month" disabled={chosenEdition.prices.monthly === null}>{t('unit.month')}</option>
                      <option value="year" disabled={chosenEdition.prices.yearly === null}>{t('unit.year')}</option>
                    </select>
                  </div>
                </>
              )}
            </div>
            {canTrial && (
              <div class="check">
                <input id="buy-trial" type="checkbox" checked={isTrial} onChange={(e) => setTrial((e.currentTarget as HTMLInputElement).checked)} />
                <label for="buy-trial">{t('buy.trial', { days: chosenEdition.trial_days ?? 30 })}</label>
              </div>
            )}
            <div class="check">
              <input id="buy-auto-renew" type="checkbox" checked={autoRenew} onChange={(e) => setAutoRenew((e.currentTarget as HTMLInputElement).checked)} />
              <label for="buy-auto-renew">{t('buy.autoRenew')}</label>
            </div>
            {!isTrial && <DiscountSelect id="buy-discount" label={t('buy.discount')} discounts={promos.data ?? []} value={discountId} onChange={setDiscountId} />}
            <button type="submit" class="primary">{isTrial ? t('buy.reviewTrial') : t('buy.review')}</button>
          </form>
        </Section>
      )}
      {c && chosenProduct && chosenEdition && (
        <MoneyDialog
          open={open}
          title={t('buy.dialogTitle', { quantity: qty, product: chosenProduct.product, edition: chosenEdition.edition })}
          onClose={() => setOpen(false)}
          preview={isTrial ? undefined : () => api.quote(client, { kind: 'purchase', ...body() })}
          renderPreview={(q) => <QuoteSplit quote={q} currency={currency} />}
          previewOptional
          confirmLabel={isTrial ? t('buy.confirmTrial') : t('buy.confirm')}
          perform={(key) => api.buy(client, body(), key)}
          onDone={(s) => {
            setOpen(false);
            setBought(s);
            announce(t('buy.done', { product: s.product, edition: s.edition, date: localTime(s.expires_at) }));
          }}
        >
          <p>
            {chosenRegion} · {isTrial ? t('buy.trialFree') : t('period', { count: termCount, unit: t(`unit.${unit}` as MessageKey) })}
          </p>
        </MoneyDialog>
      )}
    </>
  );
}
