import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { ErrorMessage } from '../components/common';
import { useI18n, type MessageKey } from '../i18n';
import type { Session } from '../session';

/**
 * Sign-in with an API key and the account to look at. The API has no "who am I" route, so a
 * customer names their account too (the id comes with the key when the account is made); an
 * operator key may name any account. The pair is checked by reading the account.
 */
export function SignInPage({ note, initialKey, onSignedIn, validate }: {
  note: MessageKey | null;
  initialKey: string;
  onSignedIn(s: Session): void;
  validate(s: Session): Promise<void>;
}) {
  const { t } = useI18n();
  const [key, setKey] = useState(initialKey);
  const [accountId, setAccountId] = useState('');
  const [problem, setProblem] = useState<{ field: 'key' | 'account'; message: MessageKey } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const accountRef = useRef<HTMLInputElement>(null);
  const keyRef = useRef<HTMLInputElement>(null);

  useEffect(() => { if (initialKey) accountRef.current?.focus(); }, []);

  async function submit(e: Event) {
    e.preventDefault();
    const s = { key: key.trim(), accountId: accountId.trim() };
    if (!s.key) { setProblem({ field: 'key', message: 'signIn.keyRequired' }); keyRef.current?.focus(); return; }
    if (!s.accountId) { setProblem({ field: 'account', message: 'signIn.accountRequired' }); accountRef.current?.focus(); return; }
    setProblem(null);
    setError(null);
    setBusy(true);
    try {
      await validate(s);
      onSignedIn(s);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'CLIENT', String(err)));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="narrow">
      <h1 ref={heading} tabIndex={-1}>{t('signIn.title')}</h1>
      <p>{t('signIn.intro')}</p>
      {note && <p class="notice" role="alert">{t(note)}</p>}
      <form onSubmit={(e) => void submit(e)} noValidate class="card form">
        <div class="field">
          <label for="signin-key">{t('signIn.key')}</label>
          <input
            id="signin-key" ref={keyRef} type="password" autoComplete="off" spellcheck={false} value={key}
            aria-describedby="signin-key-hint signin-key-problem" aria-invalid={problem?.field === 'key'}
            onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)}
          />
          <p id="signin-key-hint" class="hint">{t('signIn.keyHint')}</p>
          <p id="signin-key-problem" class="field-error">{problem?.field === 'key' ? t(problem.message) : ''}</p>
        </div>
        <div class="field">
          <label for="signin-account">{t('signIn.account')}</label>
          <input
            id="signin-account" ref={accountRef} type="text" autoComplete="off" spellcheck={false} value={accountId}
            aria-describedby="signin-account-hint signin-account-problem" aria-invalid={problem?.field === 'account'}
            onInput={(e) => setAccountId((e.currentTarget as HTMLInputElement).value)}
          />
          <p id="signin-account-hint" class="hint">{t('signIn.accountHint')}</p>
          <p id="signin-account-problem" class="field-error">{problem?.field === 'account' ? t(problem.message) : ''}</p>
        </div>
        <ErrorMessage error={error} />
        <button type="submit" class="primary" disabled={busy}>{busy ? t('common.working') : t('signIn.submit')}</button>
      </form>
    </div>
  );
}
