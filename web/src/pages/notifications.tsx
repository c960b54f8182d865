import { useState } from 'preact/hooks';
import { api, ApiError, type Notification } from '../api';
import { ErrorMessage, Loading, LoadMore } from '../components/common';
import { localTime, money } from '../format';
import { usePaged } from '../hooks';
import { hasMessage, useI18n } from '../i18n';
import { useApp } from '../session';

const isRead = (n: Notification) => Boolean(n.read_at) || n.read === true;

/** R-S10's in-app channel: the account's inbox, newest first, each with read/unread. */
export function NotificationsPage() {
  const { t } = useI18n();
  const { client, accountId, currency, announce } = useApp();
  const list = usePaged((cursor) => api.inbox(client, accountId, cursor), [accountId]);
  const [readNow, setReadNow] = useState<Set<string>>(new Set());
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  /** The notification as a sentence in the page's language, from its template and payload. */
  function text(n: Notification): string {
    const key = `tpl.${n.template}`;
    const p = n.payload ?? {};
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(p)) if (typeof v === 'string' || typeof v === 'number') params[k] = String(v);
    for (const [k, v] of Object.entries(p)) if (k.endsWith('_at') && typeof v === 'string') params[k] = localTime(v);
    for (const k of ['refund', 'outstanding', 'amount']) if (typeof p[k] === 'string') params[k] = money(p[k] as string, currency);
    return hasMessage(key) ? t(key, params) : t('tpl.unknown', { template: n.template });
  }

  async function markRead(n: Notification) {
    setBusy(n.id);
    setError(null);
    try {
      await api.markRead(client, n.id);
      setReadNow((s) => new Set(s).add(n.id));
      announce(t('inbox.marked'));
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(null);
    }
  }

  const items = list.data ?? [];
  const unread = items.filter((n) => !isRead(n) && !readNow.has(n.id)).length;
  return (
    <>
      <h1 tabIndex={-1}>{t('inbox.title')}</h1>
      {list.data && <p data-testid="unread-count">{t('inbox.unreadCount', { n: unread })}</p>}
      <ErrorMessage error={list.error ?? error} />
      {list.loading && !list.data && <Loading />}
      {list.data && items.length === 0 && <p>{t('inbox.empty')}</p>}
      {items.length > 0 && (
        <ul class="inbox" data-testid="inbox">
          {items.map((n) => {
            const read = isRead(n) || readNow.has(n.id);
            const sentence = text(n);
            return (
              <li key={n.id} class={read ? 'read' : 'unread'} data-notification={n.id} data-template={n.template}>
                <div class="inbox-main">
                  <span class={`dot ${read ? 'dot-read' : 'dot-unread'}`} aria-hidden="true" />
                  <div>
                    <p class="inbox-text"><span class="sr-only">{read ? t('inbox.read') : t('inbox.unread')}: </span>{sentence}</p>
                    <p class="muted small"><time dateTime={n.created_at}>{localTime(n.created_at)}</time> · {read ? t('inbox.read') : t('inbox.unread')}</p>
                  </div>
                </div>
                {!read && (
                  <button type="button" class="secondary" disabled={busy === n.id} aria-label={t('inbox.markReadLabel', { text: sentence })} onClick={() => void markRead(n)}>
                    {t('inbox.markRead')}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loadingMore} onClick={list.loadMore} />
    </>
  );
}
