import type { ComponentChildren, VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, newIdempotencyKey } from '../api';
import { useI18n } from '../i18n';
import { ErrorMessage } from './common';

let dialogSeq = 0;

/**
 * A modal dialog on the native <dialog> (showModal: the rest of the page is inert, Escape
 * cancels). Focus goes to `initialFocus` (or the first button) when it opens and back to what
 * had it when it closes.
 */
export function Dialog({ open, title, onClose, children, footer, initialFocus }: {
  open: boolean;
  title: string;
  onClose(): void;
  children: ComponentChildren;
  footer?: ComponentChildren;
  initialFocus?: { current: HTMLElement | null };
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLElement | null>(null);
  const [titleId] = useState(() => `dialog-title-${++dialogSeq}`);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      opener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      d.showModal();
      (initialFocus?.current ?? d.querySelector<HTMLElement>('button, input, select, textarea'))?.focus();
    } else if (!open && d.open) {
      d.close();
    }
  }, [open]);
  // A page left with the dialog open: close it, so the page behind is not left inert.
  useEffect(() => () => { if (ref.current?.open) ref.current.close(); }, []);
  // Back to the opener, if it is still on the page (a list may have been re-rendered).
  const restoreFocus = () => {
    const o = opener.current;
    if (o && o.isConnected) o.focus();
    else document.querySelector<HTMLElement>('main h1')?.focus();
  };
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      class="dialog"
      onCancel={(e) => { e.preventDefault(); onClose(); }}
      onClose={restoreFocus}
    >
      <h2 id={titleId} class="dialog-title">{title}</h2>
      <div class="dialog-body">{children}</div>
      {footer && <div class="dialog-footer">{footer}</div>}
    </dialog>
  );
}

type PreviewState<P> = { state: 'loading' } | { state: 'ok'; value: P } | { state: 'error'; error: ApiError };

/**
 * Every action that moves money goes through this dialog (issue 15): it shows what will happen
 * (a quote, a refund estimate), and sends the action with an Idempotency-Key made once when the
 * dialog opens — a double click, or a retry after a lost answer, pays once. After a refusal the
 * API has stored that answer for the key, so trying again is a new request with a new key.
 */
export function MoneyDialog<P, R>({ open, title, onClose, preview, renderPreview, previewOptional = false, confirmLabel, confirmKind = 'primary', perform, onDone, children }: {
  open: boolean;
  title: string;
  onClose(): void;
  /** Loaded each time the dialog opens (a quote, an estimate); absent: nothing to preview. */
  preview?: () => Promise<P>;
  renderPreview?: (p: P) => VNode;
  /** The action may be confirmed when the preview could not be made (the charge uses the same rules). */
  previewOptional?: boolean;
  confirmLabel: string;
  /** 'danger' for an action that ends something (unsubscribe). */
  confirmKind?: 'primary' | 'danger';
  perform(idempotencyKey: string): Promise<R>;
  onDone(result: R): void;
  children?: ComponentChildren;
}) {
  const { t } = useI18n();
  const [key, setKey] = useState('');
  const [pv, setPv] = useState<PreviewState<P>>({ state: 'loading' });
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const busy = useRef(false); // set synchronously: the second click of a double click sees it
  const cancelRef = useRef<HTMLButtonElement>(null);
  const [onceId] = useState(() => `dialog-once-${++dialogSeq}`);

  useEffect(() => {
    if (!open) return;
    setKey(newIdempotencyKey());
    setError(null);
    setRunning(false);
    busy.current = false;
    if (!preview) return;
    let live = true;
    setPv({ state: 'loading' });
    preview().then(
      (value) => { if (live) setPv({ state: 'ok', value }); },
      (e) => { if (live) setPv({ state: 'error', error: e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e)) }); },
    );
    return () => { live = false; };
  }, [open]);

  async function confirm() {
    if (busy.current || !key) return;
    busy.current = true;
    setRunning(true);
    setError(null);
    try {
      const result = await perform(key);
      onDone(result);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, 'CLIENT', String(e));
      setError(err);
      // A 4xx answer is stored under the key: a new attempt needs a new key. A network failure,
      // 5xx, 429 or "still in progress" keeps it, so the retry is the same request.
      const kept = err.status === 0 || err.status >= 500 || err.status === 429 || err.code === 'IDEMPOTENCY.IN_PROGRESS';
      if (!kept) setKey(newIdempotencyKey());
    } finally {
      busy.current = false;
      setRunning(false);
    }
  }

  const previewBlocks = preview !== undefined && !previewOptional && pv.state !== 'ok';
  return (
    <Dialog
      open={open}
      title={title}
      onClose={() => { if (!busy.current) onClose(); }}
      initialFocus={cancelRef}
      footer={
        <>
          <button type="button" ref={cancelRef} class="secondary" onClick={onClose} disabled={running}>{t('common.cancel')}</button>
          <button type="button" class={confirmKind} onClick={() => void confirm()} disabled={running || previewBlocks || (preview !== undefined && pv.state === 'loading')} aria-describedby={onceId}>
            {running ? t('common.working') : error ? t('dialog.retry') : confirmLabel}
          </button>
        </>
      }
    >
      {children}
      {preview && renderPreview && (
        <div aria-live="polite" aria-busy={pv.state === 'loading'}>
          {pv.state === 'loading' && <p class="muted">{t('quote.loading')}</p>}
          {pv.state === 'ok' && renderPreview(pv.value)}
          {pv.state === 'error' && (
            <div class="quote-failed">
              <p>{t('quote.failed')}</p>
              <ErrorMessage error={pv.error} />
              {previewOptional && <p class="muted">{t('quote.proceed')}</p>}
            </div>
          )}
        </div>
      )}
      <ErrorMessage error={error} />
      <p id={onceId} class="muted small">{t('dialog.once')}</p>
    </Dialog>
  );
}
