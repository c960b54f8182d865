import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ApiClient } from './api';

// The signed-in key lives in sessionStorage (issue 15): it survives a reload of the tab and is
// gone when the tab closes; it is never written to localStorage or a cookie.

export interface Session {
  key: string;
  accountId: string;
}

const STORAGE_KEY = 'quotaflow.billing.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    return typeof s.key === 'string' && typeof s.accountId === 'string' ? { key: s.key, accountId: s.accountId } : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  try {
    if (s) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    /* storage may be disabled: the session then lasts as long as the page */
  }
}

/** Operator keys are issued as qf_op_…, customer keys as qf_live_… (api/auth.ts). */
export const isOperatorKey = (key: string) => key.startsWith('qf_op_');

export interface AppContext {
  client: ApiClient;
  accountId: string;
  operator: boolean;
  currency: string;
  /** A message for the polite live region ("Topped up 50.00 USD"). */
  announce(message: string): void;
  navigate(hash: string): void;
}

export const AppCtx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(AppCtx);
  if (!ctx) throw new Error('useApp outside a signed-in page');
  return ctx;
}
