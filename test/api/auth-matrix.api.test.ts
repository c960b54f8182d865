import { createHash } from 'node:crypto';
import request from 'supertest';
import { createApp } from '../../api/app';
import type { RouteDef } from '../../api/http';
import { DEFAULT_ARREARS } from '../../billing/renewal-schedule';
import { defaultCatalog } from '../../catalog/catalog';
import { createLogger } from '../../common/logger';
import { ApiWorld, createApiWorld, OPERATOR_KEY } from '../support/api';
import {
  changedTables,
  errorShapeProblem,
  exampleFor,
  idOf,
  jsonSchemaOf,
  makeTenant,
  missingId,
  paramCollection,
  pathParams,
  quietSnapshot,
  routeName,
  RouteInput,
  routeTable,
  send,
  Snapshot,
  snapshotDb,
  Tenant,
} from '../support/route-table';
import { OFFSET_MINUTES, TASK_QUEUE } from '../support/world';

// Issue #4 acceptance: a matrix built from the route table (so no route is missed, including
// the ones added after this test was written): every route × (no key, malformed header, wrong
// key, revoked key) → 401 AUTH.*, every route that names an account or a resource × another
// tenant's key → 404 as if it did not exist (403/404 on operator routes), and after all of it
// the database is exactly as it was.

const routes = routeTable();
const nonPublic = routes.filter((r) => r.access !== 'public');

/** A place in a request that names a resource: a path parameter, or an `*_id` field of the query or body. */
interface Slot {
  where: 'params' | 'query' | 'body';
  name: string;
  /** `accounts`, `subscriptions`, `server_id`…: what idOf() resolves. */
  collection: string;
  /** A path parameter or a required body field: the resource the request is about. */
  subject: boolean;
}

function slotsOf(route: RouteDef): Slot[] {
  const out: Slot[] = pathParams(route.path).map((p) => ({ where: 'params', name: p, collection: paramCollection(route.path, p), subject: true }));
  for (const where of ['query', 'body'] as const) {
    const schema = route[where];
    if (!schema) continue;
    const js = jsonSchemaOf(schema);
    for (const [k] of Object.entries(js.properties ?? {})) {
      if (k.endsWith('_id')) out.push({ where, name: k, collection: k, subject: where === 'body' && Boolean(js.required?.includes(k)) });
    }
  }
  return out;
}

const slotKey = (s: Pick<Slot, 'where' | 'name'>) => `${s.where}.${s.name}`;

/** A valid request for the route whose slots hold the ids `pick` chooses; undefined if no valid body could be made. */
function inputFor(route: RouteDef, pick: (slot: Slot) => string): RouteInput | undefined {
  const slots = slotsOf(route);
  const bySlot = (where: Slot['where']) => (field: string) => {
    const s = slots.find((x) => x.where === where && x.name === field) ?? { where, name: field, collection: field, subject: false };
    return pick(s);
  };
  const params = Object.fromEntries(slots.filter((s) => s.where === 'params').map((s) => [s.name, pick(s)]));
  const body = route.body ? exampleFor(route.body, { id: bySlot('body') }) : undefined;
  if (route.body && body === undefined) return undefined;
  const query = route.query ? exampleFor(route.query, { id: bySlot('query') }) : undefined;
  if (route.query && query === undefined) return undefined;
  return { params, body, query: query as Record<string, unknown> | undefined };
}

let n = 0;
const idempotencyHeader = (route: RouteDef): Record<string, string> => (route.idempotent ? { 'Idempotency-Key': `matrix-${++n}` } : {});

describe('auth matrix over the whole route table (issue #4)', () => {
  let w: ApiWorld;
  let A: Tenant;
  let B: Tenant;
  let revokedKey: string;
  let before: Snapshot;
  const own = (t: Tenant) => (s: Slot) => idOf(t, s.collection) ?? missingId(s.collection);

  beforeAll(async () => {
    w = await createApiWorld();
    A = await makeTenant(w, routes, 'A');
    B = await makeTenant(w, routes, 'B');
    const k = await w.as(A.key).post(`/v1/accounts/${A.accountId}/api-keys`, { label: 'revoked in the matrix set-up' });
    expect(k.status).toBe(201);
    expect((await w.as(A.key).delete(`/v1/api-keys/${k.body.id}`)).status).toBe(200);
    revokedKey = k.body.secret;
    before = await quietSnapshot(w.db);
  }, 120_000);
  afterAll(async () => { await w?.close(); });

  it('the table has the routes of API.md and every non-public route is in the matrix', () => {
    const names = routes.map(routeName);
    for (const r of ['POST /v1/accounts', 'GET /v1/accounts/{id}', 'POST /v1/subscriptions', 'GET /v1/subscriptions/{id}', 'POST /v1/accounts/{id}/api-keys', 'DELETE /v1/api-keys/{id}', 'POST /v1/operator-keys']) {
      expect(names).toContain(r);
    }
    expect(nonPublic.length).toBeGreaterThan(20);
    expect(new Set(names).size).toBe(names.length); // one declaration per method + path
  });

  describe('no, malformed, wrong or revoked key → 401 AUTH.*', () => {
    it.each(nonPublic.map((r) => [routeName(r), r] as const))('%s', async (_name, route) => {
      const input = inputFor(route, own(A)) ?? { params: Object.fromEntries(pathParams(route.path).map((p) => [p, idOf(A, paramCollection(route.path, p)) ?? missingId(p)])), body: {} };
      const flipped = `${A.key.slice(0, -1)}${A.key.endsWith('A') ? 'B' : 'A'}`;
      const credentials: [string, Record<string, string>, string?][] = [
        ['no key', {}],
        ['Basic auth', { Authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` }],
        ['Bearer without a key', { Authorization: 'Bearer' }],
        ['two tokens', { Authorization: `Bearer ${A.key} ${A.key}` }],
        ['the key without Bearer', { Authorization: A.key }],
        ['an unknown key', { Authorization: `Bearer qf_live_${'x'.repeat(32)}` }],
        ['a key one character off', { Authorization: `Bearer ${flipped}` }],
        ['an oversized header', { Authorization: `Bearer ${'k'.repeat(4000)}` }],
        ['a revoked key', { Authorization: `Bearer ${revokedKey}` }, 'AUTH.REVOKED'],
      ];
      const failures: string[] = [];
      for (const [label, headers, code] of credentials) {
        const res = await send(w.app, route, input, { ...headers, ...idempotencyHeader(route) });
        const shape = errorShapeProblem(res);
        if (res.status !== 401 || shape || !String(res.body.error.code).startsWith('AUTH.') || (code && res.body.error.code !== code)) {
          failures.push(`${label}: ${res.status} ${shape ?? JSON.stringify(res.body)}`);
        }
      }
      expect(failures).toEqual([]);
    });
  });

  describe("another tenant's key → 404 as if the resource did not exist", () => {
    it.each(nonPublic.map((r) => [routeName(r), r] as const))('%s', async (_name, route) => {
      const pre = await snapshotDb(w.db);
      const failures: string[] = [];
      const leaks = (res: request.Response, sent: string[]) => [...A.allIds].filter((id) => !sent.includes(id) && res.text.includes(id));
      const slots = slotsOf(route).filter((s) => idOf(A, s.collection) !== undefined);

      if (slots.length === 0) {
        // The route names no resource of A's: it can only act on B's own things. A read must
        // not show anything of A's; a write is B's business (and no resource of A's is named).
        if (route.method !== 'get' && route.access !== 'operator') return;
        const input = inputFor(route, own(B));
        expect(input).toBeDefined();
        const res = await send(w.app, route, input!, { Authorization: `Bearer ${B.key}`, ...idempotencyHeader(route) });
        if (res.status >= 500) failures.push(`${res.status} ${res.text.slice(0, 200)}`);
        if (route.access === 'operator' && res.status !== 403) failures.push(`operator route answered a customer key with ${res.status}`);
        if (leaks(res, []).length) failures.push(`shows A's ${leaks(res, []).join(', ')}`);
        expect(failures).toEqual([]);
        return;
      }

      // All of A's ids at once, then each slot alone with A's id and B's own ids elsewhere (a
      // route that checks only one of two references is caught there).
      const variants: { label: string; pick: (s: Slot) => string; probe?: Slot }[] = [{ label: "all of A's ids", pick: own(A) }];
      if (slots.length > 1 || !slots[0].subject) {
        for (const probe of slots) variants.push({ label: `A's ${slotKey(probe)}, B's elsewhere`, pick: (s) => (slotKey(s) === slotKey(probe) ? own(A)(s) : own(B)(s)), probe });
      }
      for (const v of variants) {
        const input = inputFor(route, v.pick);
        if (!input) {
          failures.push(`${v.label}: no valid example input could be generated from the route's schemas (extend test/support/route-table.ts)`);
          continue;
        }
        const sent = Object.values(input.params).concat(JSON.stringify([input.body, input.query]).match(/[a-z][a-z0-9]*_[0-9a-z]{8,}/g) ?? []);
        const res = await send(w.app, route, input, { Authorization: `Bearer ${B.key}`, ...idempotencyHeader(route) });
        const shape = res.status >= 400 ? errorShapeProblem(res) : null;
        if (shape) failures.push(`${v.label}: ${shape}`);
        if (leaks(res, sent).length) failures.push(`${v.label}: shows A's ${leaks(res, sent).join(', ')}`);
        if (route.access === 'operator') {
          if (![403, 404].includes(res.status)) failures.push(`${v.label}: operator route answered a customer key with ${res.status} ${res.text.slice(0, 200)}`);
        } else if (!v.probe || v.probe.subject) {
          if (res.status !== 404 || res.body?.error?.code !== 'NOT_FOUND') failures.push(`${v.label}: expected 404 NOT_FOUND, got ${res.status} ${res.text.slice(0, 300)}`);
        } else {
          // An optional filter (`?subscription_id=`): A's id must answer exactly like an id that
          // does not exist.
          const probe = v.probe;
          const absent = missingId(probe.collection);
          const inputNone = inputFor(route, (s) => (slotKey(s) === slotKey(probe) ? absent : own(B)(s)))!;
          const none = await send(w.app, route, inputNone, { Authorization: `Bearer ${B.key}`, ...idempotencyHeader(route) });
          const norm = (text: string, id: string) => text.split(id).join('<id>');
          if (res.status !== none.status || norm(res.text, own(A)(probe)) !== norm(none.text, absent)) {
            failures.push(`${v.label}: answers ${res.status} ${res.text.slice(0, 200)} but for an id that does not exist ${none.status} ${none.text.slice(0, 200)}`);
          }
        }
      }
      const changed = changedTables(pre, await snapshotDb(w.db));
      if (changed.length) failures.push(`changed ${changed.join(', ')}`);
      expect(failures).toEqual([]);
    });

    it("a usage batch naming A's account with B's key is refused record by record, nothing stored", async () => {
      const route = routes.find((r) => r.method === 'post' && r.path === '/v1/usage-records');
      if (!route) return; // not in this table
      const pre = await snapshotDb(w.db);
      const now = new Date(Date.now() - 60_000).toISOString();
      const res = await w.as(B.key).post('/v1/usage-records', {
        records: [{ id: 'matrix-1', account_id: A.accountId, resource_id: 'img_matrix', metric: defaultCatalog.services[0].metric, quantity: '1', period_start: now, period_end: now }],
      }, 'matrix-usage');
      expect(res.status).toBeLessThan(500);
      if (res.status === 200) expect(res.body.results).toEqual([expect.objectContaining({ status: 'rejected', error: expect.objectContaining({ code: 'NOT_FOUND' }) })]);
      else expect(res.status).toBe(404);
      expect(changedTables(pre, await snapshotDb(w.db))).toEqual([]);
    });
  });

  it('left the database exactly as it was (business tables and api_keys)', async () => {
    expect(changedTables(before, await quietSnapshot(w.db))).toEqual([]);
  });

  describe('per-key rate limiting (429 with Retry-After)', () => {
    const limited = () => createApp({
      db: w.db,
      temporal: w.env.client,
      payments: w.payments,
      catalog: defaultCatalog,
      logger: createLogger('api-test', 'silent'),
      settings: { taskQueue: TASK_QUEUE, offsetMinutes: OFFSET_MINUTES, arrears: DEFAULT_ARREARS, rateLimitPerMinute: 5 },
    });

    it('the 6th request in a minute with one key is 429; another key is not affected', async () => {
      const app = limited();
      const get = (key: string, id: string) => request(app).get(`/v1/accounts/${id}`).set('Authorization', `Bearer ${key}`);
      for (let i = 0; i < 5; i++) expect((await get(A.key, A.accountId)).status).toBe(200);
      const res = await get(A.key, A.accountId);
      expect(res.status).toBe(429);
      expect(errorShapeProblem(res)).toBeNull();
      expect(res.body.error.code).toBe('RATE_LIMITED');
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await get(B.key, B.accountId)).status).toBe(200);
    });

    it('failed authentications are limited too (no unlimited key guessing)', async () => {
      const app = limited();
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await request(app).get(`/v1/accounts/${A.accountId}`).set('Authorization', `Bearer qf_live_guess${i}`)).status);
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5)).toEqual([429, 429]);
    });
  });
  // Runs last: it revokes the bootstrap operator key.
  describe('API keys: issue, list, revoke (shown once, stored hashed)', () => {
    const auth = (key: string) => ({ Authorization: `Bearer ${key}` });

    it('a customer issues another key for its account, sees it listed without secret, and revokes it', async () => {
      const issued = await request(w.app).post(`/v1/accounts/${A.accountId}/api-keys`).set(auth(A.key)).send({ label: 'ci deploys' });
      expect(issued.status).toBe(201);
      expect(issued.body).toMatchObject({ scope: 'customer', account_id: A.accountId, label: 'ci deploys', revoked_at: null, secret: expect.stringMatching(/^qf_live_/) });
      const secret: string = issued.body.secret;
      expect((await request(w.app).get(`/v1/accounts/${A.accountId}`).set(auth(secret))).status).toBe(200);

      const row = await w.db('api_keys').where({ id: issued.body.id }).first();
      expect(row.key_hash).toBe(createHash('sha256').update(secret).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(secret);

      const listed = await request(w.app).get(`/v1/accounts/${A.accountId}/api-keys`).set(auth(A.key));
      expect(listed.status).toBe(200);
      expect(listed.body.next_cursor).toBeNull();
      const mine = listed.body.data.find((k: { id: string }) => k.id === issued.body.id);
      expect(Object.keys(mine).sort()).toEqual(['account_id', 'created_at', 'id', 'label', 'revoked_at', 'scope']);
      expect(listed.text).not.toContain(secret);
      expect(listed.body.data.every((k: { account_id: string }) => k.account_id === A.accountId)).toBe(true);

      const revoked = await request(w.app).delete(`/v1/api-keys/${issued.body.id}`).set(auth(A.key));
      expect(revoked.status).toBe(200);
      expect(revoked.body.revoked_at).toEqual(expect.any(String));
      const again = await request(w.app).delete(`/v1/api-keys/${issued.body.id}`).set(auth(A.key));
      expect([again.status, again.body.revoked_at]).toEqual([200, revoked.body.revoked_at]);
      const refused = await request(w.app).get(`/v1/accounts/${A.accountId}`).set(auth(secret));
      expect([refused.status, refused.body.error.code]).toEqual([401, 'AUTH.REVOKED']);
    });

    it('customers cannot reach operator keys; an operator can revoke any key but not the last operator key', async () => {
      expect((await request(w.app).post('/v1/operator-keys').set(auth(A.key)).send({})).status).toBe(403);
      expect((await request(w.app).get('/v1/operator-keys').set(auth(A.key))).status).toBe(403);
      const bootstrap = (await request(w.app).get('/v1/operator-keys').set(auth(OPERATOR_KEY))).body.data as { id: string; revoked_at: string | null }[];
      // A customer cannot see or revoke an operator key: it does not exist for them.
      expect((await request(w.app).delete(`/v1/api-keys/${bootstrap[0].id}`).set(auth(A.key))).status).toBe(404);

      const op2 = await request(w.app).post('/v1/operator-keys').set(auth(OPERATOR_KEY)).send({ label: 'second operator' });
      expect(op2.status).toBe(201);
      expect(op2.body.secret).toMatch(/^qf_op_/);
      // The new operator key works, and revokes every other operator key (the bootstrap one too)…
      for (const k of bootstrap.filter((x) => !x.revoked_at)) {
        expect((await request(w.app).delete(`/v1/api-keys/${k.id}`).set(auth(op2.body.secret))).status).toBe(200);
      }
      expect((await request(w.app).get(`/v1/accounts/${A.accountId}`).set(auth(OPERATOR_KEY))).status).toBe(401);
      // …but not itself, the last one: the API would have no operator left.
      const last = await request(w.app).delete(`/v1/api-keys/${op2.body.id}`).set(auth(op2.body.secret));
      expect([last.status, last.body.error.code]).toEqual([409, 'KEYS.LAST_OPERATOR_KEY']);
      // An operator revokes a customer's key.
      const ck = await request(w.app).post(`/v1/accounts/${B.accountId}/api-keys`).set(auth(op2.body.secret)).send({});
      expect(ck.status).toBe(201);
      expect((await request(w.app).delete(`/v1/api-keys/${ck.body.id}`).set(auth(op2.body.secret))).status).toBe(200);
    });
  });
});
