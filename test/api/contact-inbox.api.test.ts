import { ApiWorld, createApiWorld } from '../support/api';

// Issue #15: accounts carry email, phone (E.164) and a language; the in-app inbox has
// read/unread, an unread filter and an unread count.
describe('account contact fields and the in-app inbox (issue #15)', () => {
  let w: ApiWorld;
  beforeAll(async () => { w = await createApiWorld(); });
  afterAll(async () => { await w?.close(); });

  async function until<T>(f: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('PATCH /v1/accounts/{id} sets email, phone and language; GET shows them; null clears one', async () => {
    const c = await w.newCustomer();
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body).toMatchObject({ email: null, phone: null, language: 'en' });
    const r = await w.as(c.key).patch(`/v1/accounts/${c.id}`, { email: 'ops@example.com', phone: '+8613800138000', language: 'zh-CN' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: c.id, email: 'ops@example.com', phone: '+8613800138000', language: 'zh-CN', cash: '0.00' });
    expect((await w.op().patch(`/v1/accounts/${c.id}`, { phone: null })).body).toMatchObject({ email: 'ops@example.com', phone: null });
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body).toMatchObject({ email: 'ops@example.com', phone: null, language: 'zh-CN' });
  });

  it('POST /v1/accounts takes the contact fields too', async () => {
    const r = await w.op().post('/v1/accounts', { name: 'With contact', email: 'a@example.com', phone: '+14155550100' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ email: 'a@example.com', phone: '+14155550100', language: 'en' });
  });

  it.each([
    [{ email: 'not-an-email' }, 'body.email'],
    [{ phone: '13800138000' }, 'body.phone'],
    [{ phone: '+0123456789' }, 'body.phone'],
    [{ language: 'fr' }, 'body.language'],
    [{}, 'body'],
    [{ name: 'renamed' }, 'body'],
  ])('bad contact input %j is 400 VALIDATION.BODY naming %s, and changes nothing', async (body, where) => {
    const c = await w.newCustomer();
    await w.as(c.key).patch(`/v1/accounts/${c.id}`, { email: 'keep@example.com' });
    const r = await w.as(c.key).patch(`/v1/accounts/${c.id}`, body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION.BODY');
    expect(r.body.error.message).toContain(where);
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}`)).body).toMatchObject({ email: 'keep@example.com', phone: null, language: 'en' });
  });

  it("another customer cannot change an account's contact (404, nothing changed)", async () => {
    const a = await w.newCustomer();
    const b = await w.newCustomer();
    const r = await w.as(b.key).patch(`/v1/accounts/${a.id}`, { email: 'thief@example.com' });
    expect(r.status).toBe(404);
    expect((await w.as(a.key).get(`/v1/accounts/${a.id}`)).body.email).toBeNull();
  });

  it('the inbox: unread count, ?unread= filter, mark read and unread; only its owner may', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    const buy = await w.as(c.key).post('/v1/subscriptions', { account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } }, `buy-${c.id}`);
    expect(buy.status).toBe(201);
    const note = await until(async () => (await w.as(c.key).get(`/v1/accounts/${c.id}/notifications?channel=in_app&unread=true`)).body.data[0]);
    expect(note).toMatchObject({ template: 'subscription.purchased', read: false, read_at: null });
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}/notifications/unread-count`)).body).toEqual({ account_id: c.id, unread: 1 });

    const other = await w.newCustomer();
    expect((await w.as(other.key).post(`/v1/notifications/${note.id}/read`)).status).toBe(404);
    expect((await w.as(c.key).post('/v1/notifications/999999999/read')).status).toBe(404);
    expect((await w.as(c.key).post('/v1/notifications/abc/read')).body.error.code).toBe('VALIDATION.PARAMS');

    const read = await w.as(c.key).post(`/v1/notifications/${note.id}/read`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: note.id, read: true, read_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*\+08:00$/) });
    const again = await w.as(c.key).post(`/v1/notifications/${note.id}/read`);
    expect(again.body.read_at).toBe(read.body.read_at); // the first read instant is kept
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}/notifications/unread-count`)).body.unread).toBe(0);
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}/notifications?channel=in_app&unread=true`)).body.data).toEqual([]);
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}/notifications?channel=in_app&unread=false`)).body.data.map((n: any) => n.id)).toEqual([note.id]);

    const unread = await w.as(c.key).post(`/v1/notifications/${note.id}/unread`);
    expect(unread.body).toMatchObject({ read: false, read_at: null });
    expect((await w.as(c.key).get(`/v1/accounts/${c.id}/notifications/unread-count`)).body.unread).toBe(1);

    const email = (await w.as(c.key).get(`/v1/accounts/${c.id}/notifications?channel=email`)).body.data[0];
    const refused = await w.as(c.key).post(`/v1/notifications/${email.id}/read`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('STATE.NOT_IN_APP');
  });
});
