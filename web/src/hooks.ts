import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Page } from './api';

export interface Async<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  reload(): void;
  set(data: T): void;
}

const asApiError = (e: unknown) => (e instanceof ApiError ? e : new ApiError(0, 'CLIENT', e instanceof Error ? e.message : String(e)));

/** Loads `fn()` when `deps` change; the latest call wins (an older answer never overwrites a newer one). */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | undefined; error: ApiError | null; loading: boolean }>({ data: undefined, error: null, loading: true });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    fn().then(
      (data) => { if (mine === seq.current) setState({ data, error: null, loading: false }); },
      (e) => { if (mine === seq.current) setState((s) => ({ ...s, error: asApiError(e), loading: false })); },
    );
    // deps are the caller's (plus the reload tick)
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const set = useCallback((data: T) => setState({ data, error: null, loading: false }), []);
  return { ...state, reload, set };
}

export interface Paged<T> extends Async<T[]> {
  hasMore: boolean;
  loadMore(): void;
  loadingMore: boolean;
}

/** A list route (`{ data, next_cursor }`): the first page, then "load more". */
export function usePaged<T>(fetchPage: (cursor?: string) => Promise<Page<T>>, deps: unknown[]): Paged<T> {
  const [cursor, setCursor] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<ApiError | null>(null);
  const first = useAsync(async () => {
    const p = await fetchPage();
    setCursor(p.next_cursor);
    return p.data;
  }, deps);
  const loadMore = useCallback(() => {
    if (!cursor || loadingMore) return;
    setLoadingMore(true);
    fetchPage(cursor).then(
      (p) => { first.set([...(first.data ?? []), ...p.data]); setCursor(p.next_cursor); setLoadingMore(false); setMoreError(null); },
      (e) => { setMoreError(asApiError(e)); setLoadingMore(false); },
    );
  }, [cursor, loadingMore, first.data]);
  return { ...first, error: first.error ?? moreError, hasMore: cursor !== null, loadMore, loadingMore };
}
