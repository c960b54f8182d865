import { createLogger } from '../../common/logger';
import { deliverPendingNotifications } from '../../workers/notification-dispatcher';
import { createNotificationChannels } from '../../workers/notification-channels';
import { deliverStatusChanges } from '../../workers/webhook-sender';
import request from 'supertest';
import { ApiWorld, createApiWorld } from '../support/api';
import { parseMetrics } from '../support/prometheus';
import { ReceivedMail, startReceiver, startSmtpServer } from '../support/receivers';
import { OFFSET_MINUTES } from '../support/world';

// Issue #15 acceptance: for a lifecycle that freezes and releases, an email lands in a local SMTP
// server (in the account's language), the sandbox SMS provider keeps the text, and signed status
// change calls reach a local receiver; an unacknowledged release stays visible to operators until
// a replay is acknowledged. Real sockets, the real worker, the time-skipping Temporal server.

const SECRET = 'whsec_acceptance_0123456789';

describe('notifications that arrive and status change calls (issue #15)', () => {
  let w: ApiWorld;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let ok: Awaited<ReturnType<typeof startReceiver>>;
  let flaky: Awaited<ReturnType<typeof startReceiver>>;
  let channels: ReturnType<typeof createNotificationChannels>;
  beforeAll(async () => {
    w = await createApiWorld();
    smtp = await startSmtpServer();
    ok = await startReceiver(SECRET);
    flaky = await startReceiver(SECRET, () => 500);
    channels = createNotificationChannels({ db: w.db, logger: createLogger('test', 'silent'), offsetMinutes: OFFSET_MINUTES, smtpUrl: smtp.url, smtpFrom: 'quotaflow <billing@quotaflow.test>' });
  }, 60_000);
  afterAll(async () => {
    (channels?.email as { close?: () => void })?.close?.();
    await Promise.all([smtp?.close(), ok?.close(), flaky?.close()]);
    await w?.close();
  });

  const ms = (iso: string) => new Date(iso).getTime();
  const advanceTo = async (at: number) => w.env.sleep(at - (await w.env.currentTimeMs()));
  const deliverAll = async () => {
    await deliverPendingNotifications(w.db, channels, { limit: 1000 });
    await deliverStatusChanges(w.db, { backoffBaseMs: 60_000, limit: 1000 });
  };
  const mailsTo = (to: string, template: string): ReceivedMail[] => smtp.mails.filter((m) => m.to === to && m.template === template);

  it('rejects bad endpoints with 400 and changes nothing; customers may not register one', async () => {
    const before = (await w.op().get('/v1/webhook-endpoints')).body.data.length;
    for (const body of [
      { url: 'ftp://example.com/x', events: ['resource.freeze'], secret: SECRET },
      { url: 'https://example.com/x', events: [], secret: SECRET },
      { url: 'https://example.com/x', events: ['resource.explode'], secret: SECRET },
      { url: 'https://example.com/x', events: ['resource.freeze'], secret: 'short' },
      { url: 'https://example.com/x', events: ['resource.freeze', 'resource.freeze'], secret: SECRET },
    ]) {
      const r = await w.op().post('/v1/webhook-endpoints', body, `bad-${JSON.stringify(body)}`);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION.BODY');
      expect(r.body.error.message).toMatch(/^body\./);
    }
    const c = await w.newCustomer();
    expect((await w.as(c.key).post('/v1/webhook-endpoints', { url: ok.url, events: ['*'], secret: SECRET }, 'cust-ep')).status).toBe(403);
    expect((await w.op().get('/v1/webhook-endpoints')).body.data.length).toBe(before);
  });

  it('a subscription that lapses to frozen and released: email in zh-CN, SMS kept, signed calls received; the unacknowledged release stays visible until replayed', async () => {
    const okEp = await w.op().post('/v1/webhook-endpoints', { url: ok.url, events: ['*'], secret: SECRET, description: 'the protection system' }, 'ep-ok');
    expect(okEp.status).toBe(201);
    expect(okEp.body).toMatchObject({ url: ok.url, events: ['*'], secret_hint: '…6789' });
    expect(JSON.stringify(okEp.body)).not.toContain(SECRET);
    const flakyEp = await w.op().post('/v1/webhook-endpoints', { url: flaky.url, events: ['resource.release'], secret: SECRET }, 'ep-flaky');
    expect(flakyEp.status).toBe(201);

    const c = await w.newCustomer({ cash: '100.00' });
    expect((await w.as(c.key).patch(`/v1/accounts/${c.id}`, { email: 'ops@example.cn', phone: '+8613800138000', language: 'zh-CN' })).status).toBe(200);
    const buy = await w.as(c.key).post('/v1/subscriptions', { account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } }, `buy-${c.id}`);
    expect(buy.status).toBe(201);
    const sub = buy.body;
    const server = await w.as(c.key).post('/v1/servers', { account_id: c.id, region: 'cn-hangzhou', kind: 'host', agent: 'online', power: 'running' }, `srv-${c.id}`);
    const bind = await w.as(c.key).post('/v1/bindings', { subscription_id: sub.id, server_id: server.body.id }, `bind-${c.id}`);
    expect(bind.status).toBe(201);

    await advanceTo(ms(sub.forecast.grace_ends_at) + 1000);
    expect((await w.as(c.key).get(`/v1/subscriptions/${sub.id}`)).body.status).toBe('frozen');
    await advanceTo(ms(sub.forecast.frozen_ends_at) + 1000);
    await w.env.client.workflow.getHandle(`subscription-${sub.id}`).result();
    await deliverAll();

    // Email: to the account's address, in its language, with the dates in billing local time.
    const frozen = mailsTo('ops@example.cn', 'subscription.frozen');
    expect(frozen).toHaveLength(1);
    expect(frozen[0]).toMatchObject({ from: '"quotaflow" <billing@quotaflow.test>', subject: '[quotaflow] host-security · enterprise 已冻结', language: 'zh-CN' });
    expect(frozen[0].text).toContain('host-security · enterprise 已冻结，防护已停止。续费即可恢复。');
    expect(frozen[0].text).toMatch(/数据保留至 \d{4}-\d{2}-\d{2} \d{2}:\d{2}，之后将被释放。/);
    for (const t of ['subscription.purchased', 'subscription.expiry_reminder', 'subscription.grace', 'subscription.released']) expect(mailsTo('ops@example.cn', t)).toHaveLength(1);
    const reminders = mailsTo('ops@example.cn', 'subscription.grace_reminder');
    const graceEndLocal = new Date(ms(sub.forecast.grace_ends_at) + OFFSET_MINUTES * 60_000).toISOString().slice(0, 16).replace('T', ' ');
    expect(reminders.map((m) => m.subject)).toEqual([1, 2].map(() => `[quotaflow] 提醒：host-security · enterprise 将于 ${graceEndLocal} 停止防护`));

    // SMS: the sandbox provider kept what it would send; operators read it.
    const sms = await w.op().get(`/v1/sandbox/sms?account_id=${c.id}`);
    expect(sms.status).toBe(200);
    expect(sms.body.data.map((m: any) => m.template)).toEqual(['subscription.released', 'subscription.frozen', 'subscription.grace_reminder', 'subscription.grace_reminder', 'subscription.grace', 'subscription.expiry_reminder', 'subscription.purchased']);
    expect(sms.body.data[0]).toMatchObject({ to: '+8613800138000', language: 'zh-CN', body: '【quotaflow】host-security · enterprise 已释放。' });
    expect((await w.as(c.key).get('/v1/sandbox/sms')).status).toBe(403);

    // Status change calls: signed, in order, one event id each.
    const mine = ok.calls.filter((k) => k.body.data.account_id === c.id);
    expect(mine.map((k) => k.type)).toEqual(['subscription.active', 'resource.bind', 'subscription.grace', 'resource.freeze', 'resource.release']);
    expect(mine.every((k) => k.signed && k.body.id === k.eventId)).toBe(true);
    expect(mine[4].body).toMatchObject({ type: 'resource.release', data: { subscription_id: sub.id, status: 'released' }, created_at: new Date(ms(sub.forecast.frozen_ends_at)).toISOString() });

    // The flaky endpoint answered 500: the release is not acknowledged, and operators see it.
    const pending = await w.op().get(`/v1/status-changes?unacknowledged=true&type=resource.release&subscription_id=${sub.id}`);
    expect(pending.body.data).toHaveLength(1);
    // …and Prometheus sees it (quotaflow_unacknowledged_releases, alert QuotaflowReleaseUnacknowledged).
    const releasesWaiting = async (): Promise<number> => {
      await new Promise((r) => setTimeout(r, 1_100)); // the scrape-time gauges reuse a reading for 1 s
      const scrape = parseMetrics((await request(w.app).get('/metrics')).text);
      expect(scrape.families.get('quotaflow_unacknowledged_releases')?.type).toBe('GAUGE');
      return scrape.value('quotaflow_unacknowledged_releases');
    };
    const waitingBefore = await releasesWaiting();
    expect(waitingBefore).toBeGreaterThanOrEqual(1);
    expect(pending.body.data[0]).toMatchObject({ type: 'resource.release', acknowledged: false, deliveries: { delivered: 1, pending: 1 } });
    const log = await w.op().get(`/v1/webhook-deliveries?endpoint_id=${flakyEp.body.id}`);
    expect(log.body.data).toHaveLength(1);
    const d = log.body.data[0];
    expect(d).toMatchObject({ event_id: pending.body.data[0].id, status: 'pending', attempts: 1, last_status_code: 500, attempt_log: [{ attempt: 1, status_code: 500, error: 'HTTP 500' }] });

    // The receiver is fixed; an operator replays at once instead of waiting for the backoff.
    flaky.setAnswer(() => 204);
    const replay = await w.op().post(`/v1/webhook-deliveries/${d.id}/replay`);
    expect(replay.status).toBe(202);
    expect(replay.body).toMatchObject({ id: d.id, status: 'pending' });
    await deliverStatusChanges(w.db, { backoffBaseMs: 60_000 });
    const after = (await w.op().get(`/v1/webhook-deliveries/${d.id}`)).body;
    expect(after).toMatchObject({ status: 'delivered', attempts: 2, last_status_code: 204 });
    expect(after.attempt_log.map((a: any) => a.status_code)).toEqual([500, 204]);
    expect(flaky.calls.filter((k) => k.eventId === d.event_id).map((k) => k.signed)).toEqual([true, true]);
    expect((await w.op().get(`/v1/status-changes?unacknowledged=true&type=resource.release&subscription_id=${sub.id}`)).body.data).toEqual([]);
    expect(await releasesWaiting()).toBe(waitingBefore - 1);
    expect((await w.op().get(`/v1/status-changes?subscription_id=${sub.id}&type=resource.release`)).body.data[0]).toMatchObject({ acknowledged: true, deliveries: { delivered: 2 } });

    // A deleted endpoint is called no more; replaying an unknown delivery is 404.
    expect((await w.op().delete(`/v1/webhook-endpoints/${flakyEp.body.id}`)).status).toBe(204);
    expect((await w.op().get(`/v1/webhook-endpoints/${flakyEp.body.id}`)).status).toBe(404);
    expect((await w.op().post('/v1/webhook-deliveries/999999999/replay')).status).toBe(404);
  }, 120_000);

  it('an account without an email or a phone: those channels are skipped, not retried; English by default', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    const buy = await w.as(c.key).post('/v1/subscriptions', { account_id: c.id, product: 'host-security', edition: 'basic', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } }, `buy-${c.id}`);
    expect(buy.status).toBe(201);
    await deliverAll();
    const rows = (await w.as(c.key).get(`/v1/accounts/${c.id}/notifications`)).body.data;
    const byChannel = Object.fromEntries(rows.filter((n: any) => n.template === 'subscription.purchased').map((n: any) => [n.channel, n.status]));
    expect(byChannel).toEqual({ email: 'skipped', sms: 'skipped', in_app: 'sent' });

    await w.as(c.key).patch(`/v1/accounts/${c.id}`, { email: 'en@example.com' });
    const renew = await w.as(c.key).post(`/v1/subscriptions/${buy.body.id}/renewals`, { term: { unit: 'month', count: 1 } }, `renew-${c.id}`);
    expect(renew.status).toBe(201);
    await deliverAll();
    const renewed = mailsTo('en@example.com', 'subscription.renewed');
    expect(renewed).toHaveLength(1);
    expect(renewed[0].subject).toBe('[quotaflow] host-security · basic renewed');
    expect(renewed[0].text).toMatch(/^host-security · basic was renewed\. It now expires \d{4}-\d{2}-\d{2} \d{2}:\d{2}\.\n/);
  }, 60_000);
});
