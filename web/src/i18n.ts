import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { en, MessageKey } from './i18n/en';
import { zh } from './i18n/zh-CN';

// English and Simplified Chinese. The language is the one chosen with the switch (kept in
// localStorage), else the browser's (navigator.languages), else English. `{name}` in a string
// is replaced by the parameter of that name.

export type Lang = 'en' | 'zh-CN';
export const LANGS: { lang: Lang; label: string }[] = [{ lang: 'en', label: 'English' }, { lang: 'zh-CN', label: '简体中文' }];

export type { MessageKey };

const DICTS: Record<Lang, Record<MessageKey, string>> = { en, 'zh-CN': zh };

export type Params = Record<string, string | number | null | undefined>;

export function translate(lang: Lang, key: MessageKey, params: Params = {}): string {
  const text = DICTS[lang][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (params[name] === undefined || params[name] === null ? m : String(params[name])));
}

export function hasMessage(key: string): key is MessageKey {
  return key in en;
}

const STORAGE_KEY = 'quotaflow.billing.lang';

/** The switch's choice, else the browser's languages (any zh → Simplified Chinese), else English. */
export function detectLang(): Lang {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    /* storage may be disabled */
  }
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const l of langs) {
    const lower = (l ?? '').toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

export function saveLang(lang: Lang): void {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    /* storage may be disabled */
  }
}

export interface I18n {
  lang: Lang;
  t: (key: MessageKey, params?: Params) => string;
  setLang: (lang: Lang) => void;
}

export const I18nContext = createContext<I18n>({ lang: 'en', t: (k, p) => translate('en', k, p), setLang: () => undefined });
export const useI18n = () => useContext(I18nContext);
