import { api } from '../api';
import { ErrorMessage, Loading, LoadMore, StatusBadge, TableWrap } from '../components/common';
import { localTime } from '../format';
import { usePaged } from '../hooks';
import { useI18n, type MessageKey } from '../i18n';
import { useApp } from '../session';

export function SubscriptionsPage() {
  const { t } = useI18n();
  const { client, accountId } = useApp();
  const list = usePaged((cursor) => api.subscriptions(client, accountId, cursor), [accountId]);

  return (
    <>
      <h1 tabIndex={-1}>{t('subs.title')}</h1>
      <ErrorMessage error={list.error} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.length === 0 && (
        <p>{t('subs.empty')} <a href="#/buy">{t('subs.buyFirst')}</a></p>
      )}
      {list.data && list.data.length > 0 && (
        <TableWrap label={t('subs.title')}>
          <table class="data" data-testid="subscriptions">
            <caption class="sr-only">{t('subs.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('subs.product')}</th>
                <th scope="col">{t('subs.edition')}</th>
                <th scope="col" class="num">{t('subs.quantity')}</th>
                <th scope="col">{t('subs.region')}</th>
                <th scope="col">{t('subs.status')}</th>
                <th scope="col">{t('subs.expires')}</th>
                <th scope="col">{t('subs.autoRenew')}</th>
                <th scope="col"><span class="sr-only">{t('subs.manage')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((s) => (
                <tr key={s.id} data-subscription={s.id}>
                  <td>{s.product}</td>
                  <td>{s.edition}</td>
                  <td class="num">{s.quantity}</td>
                  <td>{s.region}</td>
                  <td><StatusBadge status={s.status} label={t(`status.${s.status}` as MessageKey)} /></td>
                  <td>{localTime(s.expires_at)}</td>
                  <td>{s.auto_renew ? t('common.yes') : t('common.no')}</td>
                  <td>
                    <a href={`#/subscriptions/${encodeURIComponent(s.id)}`} aria-label={t('subs.manageLabel', { product: s.product, edition: s.edition, id: s.id })}>
                      {t('subs.manage')}
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loadingMore} onClick={list.loadMore} />
    </>
  );
}
