import type { Quote } from '../api';
import { money } from '../format';
import { useI18n, type MessageKey } from '../i18n';

/**
 * A quote's split (R-P1): list price, the one discount chosen, amount due, then what the
 * coupon, cash, credit and card each pay. `testid`s let the browser tests read the numbers.
 */
export function QuoteSplit({ quote, currency }: { quote: Quote; currency: string }) {
  const { t } = useI18n();
  const parts: [MessageKey, string, string][] = [
    ['quote.coupon', quote.coupon, 'coupon'],
    ['quote.cash', quote.cash, 'cash'],
    ['quote.credit', quote.credit, 'credit'],
    ['quote.card', quote.card, 'card'],
  ];
  const d = quote.discount;
  return (
    <table class="split" data-testid="quote-split">
      <caption>{t('quote.title')}</caption>
      <tbody>
        <tr>
          <th scope="row">{t('quote.list')}</th>
          <td data-testid="quote-list">{money(quote.list_amount, currency)}</td>
        </tr>
        <tr>
          <th scope="row">
            {t('quote.discount')}
            {d && <span class="muted"> ({t('quote.discountOf', { kind: t(`discount.${d.kind}` as MessageKey), percent: d.percent_off })})</span>}
          </th>
          <td data-testid="quote-discount">{d ? `− ${money(d.amount, currency)}` : t('quote.noDiscount')}</td>
        </tr>
        <tr class="total">
          <th scope="row">{t('quote.due')}</th>
          <td data-testid="quote-due">{money(quote.due, currency)}</td>
        </tr>
      </tbody>
      <tbody>
        <tr><th scope="rowgroup" colSpan={2} class="subhead">{t('quote.caption')}</th></tr>
        {parts.map(([label, amount, id]) => (
          <tr key={id}>
            <th scope="row">{t(label)}</th>
            <td data-testid={`quote-${id}`}>{money(amount, currency)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
