import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, createClient } from './api';
import { offsetOf } from './format';
import { detectLang, I18nContext, LANGS, saveLang, translate, type Lang, type MessageKey } from './i18n';
import { BuyPage } from './pages/buy';
import { MoneyPage } from './pages/money';
import { NotificationsPage } from './pages/notifications';
import { SignInPage } from './pages/sign-in';
import { SubscriptionPage } from './pages/subscription-detail';
import { SubscriptionsPage } from './pages/subscriptions';
import { AppCtx, isOperatorKey, loadSession, saveSession, type AppContext, type Session } from './session';

// The shell: language, session, header with the sections, hash routes (#/subscriptions,
// #/subscriptions/<id>, #/buy, #/money, #/notifications), and one polite live region that
// announces what an action did.

interface Route {
  page: 'subscriptions' | 'subscription' | 'buy' | 'money' | 'notifications';
  id?: string;
}

function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'subscriptions' && parts[1]) return { page: 'subscription', id: parts[1] };
  if (parts[0] === 'buy' || parts[0] === 'money' || parts[0] === 'notifications') return { page: parts[0], id: parts[1] };
  return { page: 'subscriptions' };
}

const NAV: { page: Route['page']; href: string; label: MessageKey }[] = [
  { page: 'subscriptions', href: '#/subscriptions', label: 'nav.subscriptions' },
  { page: 'buy', href: '#/buy', label: 'nav.buy' },
  { page: 'money', href: '#/money', label: 'nav.money' },
  { page: 'notifications', href: '#/notifications', label: 'nav.notifications' },
];

export function App() {
  const [lang, setLangState] = useState<Lang>(detectLang);
  const [session, setSession] = useState<Session | null>(loadSession);
  const [signInNote, setSignInNote] = useState<MessageKey | null>(null);
  const [prefillKey, setPrefillKey] = useState('');
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));
  const [announcement, setAnnouncement] = useState('');
  const [currency, setCurrency] = useState('USD');
  const [offset, setOffset] = useState<string | null>(null);
  const firstRender = useRef(true);

  const i18n = useMemo(() => ({
    lang,
    t: (key: MessageKey, params?: Record<string, string | number | null | undefined>) => translate(lang, key, params),
    setLang: (l: Lang) => { saveLang(l); setLangState(l); },
  }), [lang]);
  const { t } = i18n;

  useEffect(() => { document.documentElement.lang = lang; document.title = `${t('app.name')} · quotaflow`; }, [lang]);

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  // A new page: its heading takes the focus, so keyboard and screen-reader users start there.
  useEffect(() => {
    if (firstRender.current) { firstRender.current = false; return; }
    setAnnouncement('');
    requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus());
  }, [route.page, route.id]);

  /** Back to the sign-in form; an operator switching accounts keeps the key in the form. */
  function signOut(note: MessageKey | null = null, keepKey = '') {
    saveSession(null);
    setPrefillKey(keepKey);
    setSession(null);
    setSignInNote(note);
  }

  const client = useMemo(() => (session ? createClient(session.key, () => signOut('signIn.expired')) : null), [session?.key]);

  // The account's currency and billing offset, for every amount and time on the pages.
  useEffect(() => {
    if (!client || !session) return;
    api.account(client, session.accountId).then((a) => {
      setCurrency(a.currency);
      setOffset(offsetOf((a as { created_at?: string }).created_at));
    }, () => undefined);
  }, [client, session?.accountId]);

  const ctx: AppContext | null = useMemo(() => (client && session ? {
    client,
    accountId: session.accountId,
    operator: isOperatorKey(session.key),
    currency,
    announce: (m: string) => { setAnnouncement(''); requestAnimationFrame(() => setAnnouncement(m)); },
    navigate: (hash: string) => { location.hash = hash; },
  } : null), [client, session?.accountId, currency]);

  const languageSwitch = (
    <div class="lang-switch">
      <label for="lang-select">{t('app.language')}</label>
      <select id="lang-select" value={lang} onChange={(e) => i18n.setLang((e.currentTarget as HTMLSelectElement).value as Lang)}>
        {LANGS.map((l) => <option key={l.lang} value={l.lang} lang={l.lang}>{l.label}</option>)}
      </select>
    </div>
  );

  if (!session || !ctx) {
    return (
      <I18nContext.Provider value={i18n}>
        <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>{t('app.skip')}</a>
        <header class="topbar">
          <p class="brand">{t('app.name')}</p>
          {languageSwitch}
        </header>
        <main id="main" tabIndex={-1}>
          <SignInPage
            note={signInNote}
            initialKey={prefillKey}
            onSignedIn={(s) => { saveSession(s); setSession(s); setSignInNote(null); if (!location.hash) location.hash = '#/subscriptions'; }}
            validate={async (s) => { await api.account(createClient(s.key), s.accountId); }}
          />
        </main>
      </I18nContext.Provider>
    );
  }

  return (
    <I18nContext.Provider value={i18n}>
      <AppCtx.Provider value={ctx}>
        <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>{t('app.skip')}</a>
        <header class="topbar">
          <p class="brand">{t('app.name')}</p>
          <p class="who">
            <span class="role">{ctx.operator ? t('app.operator') : t('app.customer')}</span>{' '}
            <span data-testid="account-id">{t('app.account', { id: session.accountId })}</span>
          </p>
          {languageSwitch}
          {ctx.operator && <button type="button" class="secondary" onClick={() => signOut(null, session.key)}>{t('app.switchAccount')}</button>}
          <button type="button" class="secondary" onClick={() => signOut()}>{t('app.signOut')}</button>
        </header>
        <nav class="tabs" aria-label={t('app.nav')}>
          <ul>
            {NAV.map((n) => {
              const current = n.page === route.page || (n.page === 'subscriptions' && route.page === 'subscription');
              return <li key={n.page}><a href={n.href} aria-current={current ? 'page' : undefined}>{t(n.label)}</a></li>;
            })}
          </ul>
        </nav>
        <div class="announce" role="status" aria-live="polite" data-testid="announcement">{announcement}</div>
        <main id="main" tabIndex={-1}>
          {route.page === 'subscriptions' && <SubscriptionsPage />}
          {route.page === 'subscription' && route.id && <SubscriptionPage id={route.id} />}
          {route.page === 'buy' && <BuyPage />}
          {route.page === 'money' && <MoneyPage section={route.id} />}
          {route.page === 'notifications' && <NotificationsPage />}
        </main>
        <footer class="footer">
          {offset && <p class="muted small">{t('app.timesNote', { offset })}</p>}
        </footer>
      </AppCtx.Provider>
    </I18nContext.Provider>
  );
}

