import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api';
import { useI18n } from '../i18n';

/** An API error as the API said it: its message, and its code for support. */
export function ErrorMessage({ error }: { error: ApiError | null | undefined }) {
  const { t } = useI18n();
  if (!error) return null;
  const text = error.code === 'NETWORK' ? t('common.networkError', { message: error.message }) : error.message;
  return (
    <div class="error" role="alert">
      <strong>{t('common.error')}:</strong> {text} {error.code !== 'NETWORK' && <code class="error-code">{error.code}</code>}
    </div>
  );
}

export function Loading() {
  const { t } = useI18n();
  return <p class="muted" role="status">{t('common.loading')}</p>;
}

/** A section with a heading; `id` makes it a target of the page's in-page links. */
export function Section({ id, title, children, level = 2 }: { id?: string; title: string; children: ComponentChildren; level?: 2 | 3 }) {
  const H = level === 2 ? 'h2' : 'h3';
  const headingId = id ? `${id}-heading` : undefined;
  return (
    <section id={id} aria-labelledby={headingId} class="card">
      <H id={headingId}>{title}</H>
      {children}
    </section>
  );
}

export function StatusBadge({ status, label }: { status: string; label: string }) {
  return <span class={`badge badge-${status}`}>{label}</span>;
}

export function LoadMore({ hasMore, loading, onClick }: { hasMore: boolean; loading: boolean; onClick(): void }) {
  const { t } = useI18n();
  if (!hasMore) return null;
  return <button type="button" class="secondary" onClick={onClick} disabled={loading}>{loading ? t('common.loading') : t('common.loadMore')}</button>;
}

/** A labelled on/off switch (role="switch", Space/Enter toggle it like any button). */
export function Switch({ checked, label, onChange, disabled, id }: { checked: boolean; label: string; onChange(v: boolean): void; disabled?: boolean; id?: string }) {
  return (
    <button type="button" id={id} role="switch" aria-checked={checked} class="switch" disabled={disabled} onClick={() => onChange(!checked)}>
      <span class="switch-track" aria-hidden="true"><span class="switch-thumb" /></span>
      <span class="switch-label">{label}</span>
    </button>
  );
}

/**
 * A table's box: when the table is wider than the box it scrolls, and a box that scrolls is a
 * labelled region in the Tab order, so a keyboard can scroll it too (WCAG 2.1.1).
 */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrolls, setScrolls] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setScrolls(el.scrollWidth > el.clientWidth + 1);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    if (el.firstElementChild) ro.observe(el.firstElementChild);
    return () => ro.disconnect();
  }, []);
  return (
    <div ref={ref} class="table-wrap" {...(scrolls ? { tabIndex: 0, role: 'region', 'aria-label': label } : {})}>
      {children}
    </div>
  );
}
