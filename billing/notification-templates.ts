// R-S10 / issue #15: what an email or an SMS says, per template and language. Pure: the worker's
// channels render a notification row's template and payload with these. The in-app inbox says
// the same first sentence (web/src/i18n), so a customer reads one story everywhere.
//
// Every template the workflows write has an entry in both languages (a test checks it); an
// unknown template still renders (its name and payload), so a new event is never lost.

export type Language = 'en' | 'zh-CN';
export const DEFAULT_LANGUAGE: Language = 'en';

export interface RenderedMessage {
  subject: string;
  /** The email body (plain text). */
  text: string;
  /** One short line for SMS. */
  sms: string;
}

type Vars = Record<string, string>;
interface Template { subject: string; lead: string; more?: string }

const EN: Record<string, Template> = {
  'subscription.purchased': { subject: '{product} · {edition} bought', lead: '{product} · {edition} was bought. It expires {expires_at}.' },
  'subscription.trial_started': { subject: 'Your trial of {product} · {edition} has started', lead: 'Your free trial of {product} · {edition} has started. It ends {expires_at}.' },
  'subscription.renewed': { subject: '{product} · {edition} renewed', lead: '{product} · {edition} was renewed. It now expires {expires_at}.' },
  'subscription.deduction_failed': { subject: 'Renewal payment failed: {product} · {edition}', lead: 'An automatic renewal payment for {product} · {edition} failed. It expires {expires_at}.', more: 'Top up your balance or renew by hand; we try again every day at 03:00 until the grace period ends.' },
  'subscription.expiry_reminder': { subject: '{product} · {edition} expires in 7 days', lead: '{product} · {edition} expires {expires_at}.', more: 'Renew now, or turn on auto-renew, to keep protection without a break.' },
  'subscription.grace': { subject: '{product} · {edition} expired: grace period', lead: '{product} · {edition} expired and is in its grace period: renew to keep protection.', more: 'Protection stops {grace_ends_at} unless it is renewed.' },
  'subscription.grace_reminder': { subject: 'Reminder: {product} · {edition} stops protecting {grace_ends_at}', lead: '{product} · {edition} expired and is in its grace period: protection stops {grace_ends_at} unless it is renewed.', more: 'Renew it, or top up with auto-renew on, to keep protection.' },
  'subscription.frozen': { subject: '{product} · {edition} frozen', lead: '{product} · {edition} is frozen: protection has stopped. Renew to restore it.', more: 'Its data is kept until {frozen_ends_at}; after that it is released.' },
  'subscription.isolated': { subject: '{product} · {edition} isolated', lead: '{product} · {edition} is isolated: protection has stopped. Renew to restore it.', more: 'It is terminated {frozen_ends_at} unless it is renewed.' },
  'subscription.released': { subject: '{product} · {edition} released', lead: '{product} · {edition} was released.', more: 'Its quotas and bindings are deleted; orders and the ledger stay for audit.' },
  'subscription.refund': { subject: '{product} · {edition} unsubscribed', lead: '{product} · {edition} was unsubscribed; {refund} refunded to cash.' },
  'subscription.upgraded': { subject: '{product} upgraded to {edition}', lead: '{product} was upgraded to {edition}.' },
  'usage.arrears_grace': { subject: 'Pay-per-use arrears: {outstanding} outstanding', lead: 'Your pay-per-use account is in arrears: {outstanding} outstanding.', more: 'Protection continues until {grace_ends_at}; pay the whole amount to clear it.' },
  'usage.arrears_reminder': { subject: 'Reminder: {outstanding} outstanding', lead: 'Reminder: {outstanding} of pay-per-use charges are outstanding.', more: 'Pay-per-use protection is frozen {grace_ends_at} unless it is paid.' },
  'usage.arrears_frozen': { subject: 'Pay-per-use protection frozen', lead: 'Pay-per-use protection is frozen for arrears.', more: 'Pay {outstanding} before {frozen_ends_at} to restore it; after that the resources are released.' },
  'usage.arrears_released': { subject: 'Pay-per-use resources released', lead: 'Pay-per-use resources were released for arrears.' },
  'usage.arrears_paid': { subject: 'Pay-per-use arrears paid', lead: 'Your pay-per-use arrears are paid.' },
  'usage.arrears_restored': { subject: 'Pay-per-use protection restored', lead: 'Pay-per-use protection is restored.' },
};

const ZH: Record<string, Template> = {
  'subscription.purchased': { subject: '已购买 {product} · {edition}', lead: '已购买 {product} · {edition}，将于 {expires_at} 到期。' },
  'subscription.trial_started': { subject: '{product} · {edition} 试用已开始', lead: '{product} · {edition} 免费试用已开始，将于 {expires_at} 结束。' },
  'subscription.renewed': { subject: '{product} · {edition} 已续费', lead: '{product} · {edition} 已续费，现于 {expires_at} 到期。' },
  'subscription.deduction_failed': { subject: '续费扣款失败：{product} · {edition}', lead: '{product} · {edition} 自动续费扣款失败，将于 {expires_at} 到期。', more: '请充值或手动续费；宽限期结束前每天 03:00 会再次尝试扣款。' },
  'subscription.expiry_reminder': { subject: '{product} · {edition} 将在 7 天后到期', lead: '{product} · {edition} 将于 {expires_at} 到期。', more: '请及时续费或开启自动续费，以免防护中断。' },
  'subscription.grace': { subject: '{product} · {edition} 已到期：宽限期', lead: '{product} · {edition} 已到期，处于宽限期：请续费以保持防护。', more: '如未续费，防护将于 {grace_ends_at} 停止。' },
  'subscription.grace_reminder': { subject: '提醒：{product} · {edition} 将于 {grace_ends_at} 停止防护', lead: '{product} · {edition} 已到期，处于宽限期：如未续费，防护将于 {grace_ends_at} 停止。', more: '请续费，或在开启自动续费时充值，以保持防护。' },
  'subscription.frozen': { subject: '{product} · {edition} 已冻结', lead: '{product} · {edition} 已冻结，防护已停止。续费即可恢复。', more: '数据保留至 {frozen_ends_at}，之后将被释放。' },
  'subscription.isolated': { subject: '{product} · {edition} 已隔离', lead: '{product} · {edition} 已隔离，防护已停止。续费即可恢复。', more: '如未续费，将于 {frozen_ends_at} 终止。' },
  'subscription.released': { subject: '{product} · {edition} 已释放', lead: '{product} · {edition} 已释放。', more: '配额与绑定已删除；订单与账目保留备查。' },
  'subscription.refund': { subject: '{product} · {edition} 已退订', lead: '{product} · {edition} 已退订，{refund} 已退回现金。' },
  'subscription.upgraded': { subject: '{product} 已升级到 {edition}', lead: '{product} 已升级到 {edition}。' },
  'usage.arrears_grace': { subject: '按量付费欠费：待支付 {outstanding}', lead: '按量付费账户欠费：待支付 {outstanding}。', more: '防护将持续到 {grace_ends_at}；请全额支付以结清欠费。' },
  'usage.arrears_reminder': { subject: '提醒：待支付 {outstanding}', lead: '提醒：按量付费尚欠 {outstanding}。', more: '如未支付，按量付费防护将于 {grace_ends_at} 冻结。' },
  'usage.arrears_frozen': { subject: '按量付费防护已冻结', lead: '因欠费，按量付费防护已冻结。', more: '请在 {frozen_ends_at} 前支付 {outstanding} 以恢复；逾期资源将被释放。' },
  'usage.arrears_released': { subject: '按量付费资源已释放', lead: '因欠费，按量付费资源已释放。' },
  'usage.arrears_paid': { subject: '按量付费欠费已结清', lead: '按量付费欠费已结清。' },
  'usage.arrears_restored': { subject: '按量付费防护已恢复', lead: '按量付费防护已恢复。' },
};

const TEMPLATES: Record<Language, Record<string, Template>> = { en: EN, 'zh-CN': ZH };
const SIGNATURE: Record<Language, string> = { en: '— quotaflow Billing Center', 'zh-CN': '—— quotaflow 费用中心' };
const SUBJECT_PREFIX = '[quotaflow] ';

export const TEMPLATE_NAMES = Object.keys(EN);

export const isLanguage = (v: unknown): v is Language => v === 'en' || v === 'zh-CN';

/** An instant as `YYYY-MM-DD HH:mm` in the billing time zone (R-T1), like the Billing Center shows it. */
export function formatLocal(v: unknown, offsetMinutes: number): string {
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(ms)) return String(v ?? '');
  return new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 16).replace('T', ' ');
}

function vars(payload: Record<string, unknown>, offsetMinutes: number): Vars {
  const out: Vars = {};
  for (const [k, v] of Object.entries(payload)) {
    if (v === null || v === undefined) continue;
    out[k] = k.endsWith('_at') ? formatLocal(v, offsetMinutes) : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

const fill = (s: string, v: Vars) => s.replace(/\{(\w+)\}/g, (m, k: string) => v[k] ?? m);
/** A sentence with a placeholder the payload could not fill is left out rather than sent half-written. */
const complete = (s: string | undefined) => (s && !/\{\w+\}/.test(s) ? s : null);

export function renderNotification(template: string, payload: Record<string, unknown>, language: Language, offsetMinutes: number): RenderedMessage {
  const v = vars(payload, offsetMinutes);
  const t = TEMPLATES[language][template];
  if (!t) {
    const line = `${template}: ${JSON.stringify(payload)}`;
    return { subject: SUBJECT_PREFIX + template, text: `${line}\n\n${SIGNATURE[language]}\n`, sms: line.slice(0, 300) };
  }
  const lead = fill(t.lead, v);
  const more = complete(t.more === undefined ? undefined : fill(t.more, v));
  return {
    subject: SUBJECT_PREFIX + fill(t.subject, v),
    text: [lead, more, '', SIGNATURE[language], ''].filter((x) => x !== null).join('\n'),
    sms: `【quotaflow】${lead}`,
  };
}
