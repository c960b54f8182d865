import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { renderNotification, TEMPLATE_NAMES } from '../../billing/notification-templates';

// R-S10 / issue #15: every template the workflows write reads well in both languages.

function templatesWritten(): string[] {
  const dir = join(__dirname, '../../workflows');
  const found = new Set<string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/'((?:subscription|usage)\.[a-z_]+)'/g)) found.add(m[1]);
  }
  return [...found].sort();
}

const payload = { product: 'host-security', edition: 'enterprise', status: 'frozen', expires_at: '2026-01-31T16:00:00.000Z', grace_ends_at: '2026-02-15T16:00:00.000Z', frozen_ends_at: '2026-03-02T16:00:00.000Z', refund: '187.20', outstanding: '12.34' };

describe('R-S10 notification templates', () => {
  it('every template the workflows write has an English and a Simplified Chinese text', () => {
    const written = templatesWritten();
    expect(written.length).toBeGreaterThanOrEqual(15);
    expect(written.filter((t) => !TEMPLATE_NAMES.includes(t))).toEqual([]);
    for (const t of written) {
      for (const lang of ['en', 'zh-CN'] as const) {
        const m = renderNotification(t, payload, lang, 480);
        expect(`${m.subject} ${m.text} ${m.sms}`).not.toMatch(/\{\w+\}/);
      }
    }
  });

  it('dates are in billing local time (R-T1) and the language is the account\'s', () => {
    expect(renderNotification('subscription.expiry_reminder', payload, 'en', 480)).toEqual({
      subject: '[quotaflow] host-security · enterprise expires in 7 days',
      text: 'host-security · enterprise expires 2026-02-01 00:00.\nRenew now, or turn on auto-renew, to keep protection without a break.\n\n— quotaflow Billing Center\n',
      sms: '【quotaflow】host-security · enterprise expires 2026-02-01 00:00.',
    });
    expect(renderNotification('subscription.frozen', payload, 'zh-CN', 480).text).toBe('host-security · enterprise 已冻结，防护已停止。续费即可恢复。\n数据保留至 2026-03-03 00:00，之后将被释放。\n\n—— quotaflow 费用中心\n');
    expect(renderNotification('usage.arrears_frozen', payload, 'zh-CN', 480).subject).toBe('[quotaflow] 按量付费防护已冻结');
  });

  it('a sentence the payload cannot fill is left out; an unknown template still says what happened', () => {
    expect(renderNotification('subscription.grace', { product: 'p', edition: 'e' }, 'en', 480).text).toBe('p · e expired and is in its grace period: renew to keep protection.\n\n— quotaflow Billing Center\n');
    expect(renderNotification('subscription.brand_new', { a: 1 }, 'en', 0).subject).toBe('[quotaflow] subscription.brand_new');
  });
});
