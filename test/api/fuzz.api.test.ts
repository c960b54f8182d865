import fc from 'fast-check';
import type { Knex } from 'knex';
import knex from 'knex';
import request from 'supertest';
import { ApiDeps, createApp } from '../../api/app';
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
  leafNodes,
  makeTenant,
  missingId,
  nonNullType,
  objectNodes,
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

// Issue #4 acceptance: random JSON for every route of the table (fast-check) → never a 5xx,
// always the error shape on a 4xx, and no state change. The generators make inputs that are
// invalid by construction (an unknown field, a broken field, junk where an object belongs,
// junk path parameters or query), checked against the route's own schema so a "lucky" valid
// input is never sent. A schema audit next to it checks what random input cannot prove: every
// object is strict, money fields refuse "-1", "1.234", "1e5", "NaN", and every size is bounded.

const routes = routeTable();
const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 15);

const isEmpty = (v: unknown) => v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
const roundTrip = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

// --- junk ------------------------------------------------------------------------------------

const BAD_MONEY = ['-1', '-0.01', '1.234', '1e5', '1E5', 'NaN', 'Infinity', '-Infinity', '0x10', ' 1.00', '1.00 ', '1,00', '+1', '.5', '1.', '１', '', '1.0000001', '99999999999999999999.99', '1/2', '10 USD', '$10'];
const nasty = fc.constantFrom(
  ...BAD_MONEY,
  'null', 'undefined', 'true', '{}', '[]', "' OR 1=1 --", '"; drop table accounts; --', '\u0000', 'a\u0000b', '%00', '../../etc/passwd',
  '<script>alert(1)</script>', '\u202e', '😀'.repeat(50), 'acc_', 'ACC_1', '__proto__', 'constructor', '2026-02-30T00:00:00Z', '2026-01-01', '9'.repeat(400),
);
const hugeString = fc.integer({ min: 300, max: 200_000 }).chain((n) => fc.constantFrom('x', '9', 'é', ' ').map((c) => c.repeat(n)));
const deep = fc.integer({ min: 20, max: 3000 }).map((d) => JSON.parse(`${'['.repeat(d)}${']'.repeat(d)}`) as unknown);
const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: nasty },
  { weight: 2, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, -0.01, 1e308, -1e308, 2 ** 53 + 2, 2 ** 31, [], {}) },
  { weight: 1, arbitrary: hugeString },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }) },
  { weight: 1, arbitrary: deep },
);
const unknownKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'is_operator', 'scope', 'id', 'created_at', 'extra', ''), fc.string({ maxLength: 20 }));
/** Text after a route path that is not a valid id: junk, or a well-formed id of nothing. */
const junkSegment = fc.oneof(
  nasty.filter((s) => s.length > 0 && s.length < 2000),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }),
  fc.constantFrom('acc_0000000000000000000a', 'sub_zzzzzzzzzzzzzzzzzzzz', 'x_'.padEnd(70, '0'), '1', '-1', '0', '.', '..', 'null', '%2F', '*'),
);
const cursorJunk = fc.oneof(
  fc.string({ maxLength: 250 }),
  fc.array(fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.double(), fc.constant(null)), { maxLength: 3 }).map((a) => Buffer.from(JSON.stringify(a)).toString('base64url')),
  fc.oneof(fc.string({ maxLength: 20 }), fc.integer().map(String), fc.constant('NaN')).map((s) => Buffer.from(s).toString('base64url')),
);
const queryJunk = fc.oneof(
  fc.record({ k: unknownKey.filter((k) => !['limit', 'cursor', '__proto__', ''].includes(k)), v: fc.string({ maxLength: 50 }) }).map(({ k, v }) => ({ [k]: v })),
  fc.constantFrom('0', '-1', 'abc', '1e3', '201', '1.5', '', '99999999999999999999', 'NaN', ' 5').map((limit) => ({ limit })),
  cursorJunk.map((cursor) => ({ cursor })),
);
const rawJunk = fc.oneof(
  fc.constantFrom('{', '{"a":', '{"amount": 1e999999}', 'NaN', 'undefined', "{'a':1}", '{"a":1,}', '\u0000', '[1,2', '"string"', '123', 'null', 'true', '{"__proto__":{"isAdmin":true}}'),
  fc.string({ minLength: 1, maxLength: 200 }),
);

// --- cases -----------------------------------------------------------------------------------

interface Case {
  kind: string;
  input: RouteInput;
  asCustomer: boolean;
  idempotencyKey: string | null;
}

function paths(v: unknown, prefix: (string | number)[] = [], depth = 0): (string | number)[][] {
  if (depth > 6 || !v || typeof v !== 'object') return prefix.length ? [prefix] : [];
  const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  return [...(prefix.length ? [prefix] : []), ...entries.flatMap(([k, x]) => paths(x, [...prefix, k], depth + 1))];
}

function setAt(v: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy: Record<string | number, unknown> = Array.isArray(v) ? [...v] as never : { ...(v as object) };
  copy[path[0]] = setAt(copy[path[0]], path.slice(1), value);
  return copy;
}

/** Does the API have to refuse this input? (true by construction for every case; checked against the schemas) */
function mustRefuse(route: RouteDef, c: Case): boolean {
  let body = roundTrip(c.input.body);
  if (c.input.raw !== undefined) {
    try {
      body = JSON.parse(c.input.raw);
    } catch {
      return true; // not JSON at all
    }
    if (typeof body !== 'object' || body === null) return true; // the parser takes objects and arrays only
  }
  const bodyBad = route.body ? body !== undefined && !route.body.safeParse(body).success : !isEmpty(body);
  const queryBad = route.query ? !route.query.safeParse(c.input.query ?? {}).success : !isEmpty(c.input.query);
  const paramsBad = route.params ? !route.params.safeParse(c.input.params).success : false;
  return bodyBad || queryBad || paramsBad;
}

function caseArbitrary(route: RouteDef, valid: RouteInput): fc.Arbitrary<Case> {
  const withBody = (body: unknown): RouteInput => ({ ...valid, body });
  const strategies: fc.Arbitrary<{ kind: string; input: RouteInput }>[] = [
    // Junk where the body belongs: any JSON at all (arrays, strings, nested junk, huge strings).
    junkValue.filter((v) => v !== undefined).map((v) => ({ kind: 'junk body', input: withBody(v) })),
    // A body with a field the schema does not know.
    fc.tuple(unknownKey, junkValue).map(([k, v]) => ({
      kind: 'unknown field',
      input: withBody(valid.body && typeof valid.body === 'object' && !Array.isArray(valid.body) ? { ...(valid.body as object), [k]: v } : { [k]: v }),
    })),
    rawJunk.map((raw) => ({ kind: 'malformed JSON', input: { ...valid, raw } })),
  ];
  const fields = paths(valid.body);
  if (fields.length) {
    // A valid body with one field broken: wrong type, bad money string, huge, nested junk…
    strategies.push(fc.tuple(fc.constantFrom(...fields), junkValue).map(([p, v]) => ({ kind: `broken ${p.join('.')}`, input: withBody(setAt(valid.body, p, v)) })));
    // …or missing.
    strategies.push(fc.constantFrom(...fields).map((p) => ({ kind: `missing ${p.join('.')}`, input: withBody(setAt(valid.body, p, undefined)) })));
  }
  const params = pathParams(route.path);
  if (params.length) {
    strategies.push(fc.tuple(fc.constantFrom(...params), junkSegment).map(([p, v]) => ({ kind: `junk {${p}}`, input: { ...valid, params: { ...valid.params, [p]: v } } })));
  }
  strategies.push(queryJunk.map((q) => ({ kind: 'junk query', input: { ...valid, query: { ...(valid.query ?? {}), ...q } } })));
  return fc
    .record({ s: fc.oneof(...strategies), asCustomer: fc.boolean(), idem: fc.boolean(), n: fc.integer({ min: 0, max: 1e9 }) })
    .map(({ s, asCustomer, idem, n }) => ({ kind: s.kind, input: s.input, asCustomer: asCustomer && route.access === 'owner', idempotencyKey: route.idempotent && idem ? `fuzz-${n}` : null }))
    .filter((c) => route.method === 'get' || c.kind.startsWith('junk {') || mustRefuse(route, c));
}

describe('fuzz: random input on every route of the table (issue #4)', () => {
  let w: ApiWorld;
  let A: Tenant;
  let before: Snapshot;

  beforeAll(async () => {
    w = await createApiWorld();
    A = await makeTenant(w, routes, 'A');
    before = await quietSnapshot(w.db);
  }, 120_000);
  afterAll(async () => { await w?.close(); });

  const validInput = (route: RouteDef): RouteInput => {
    const id = (slot: string) => idOf(A, slot) ?? missingId(slot);
    return {
      params: Object.fromEntries(pathParams(route.path).map((p) => [p, id(paramCollection(route.path, p))])),
      body: exampleFor(route.body, { id }),
      query: exampleFor(route.query, { id }) as Record<string, unknown> | undefined,
    };
  };

  it.each(routes.map((r) => [routeName(r), r] as const))('%s', async (_name, route) => {
    const valid = validInput(route);
    if (route.body) expect(valid.body).toBeDefined(); // the generator needs one valid body to break
    const pre = await snapshotDb(w.db);
    await fc.assert(
      fc.asyncProperty(caseArbitrary(route, valid), async (c) => {
        const headers: Record<string, string> = { Authorization: `Bearer ${c.asCustomer ? A.key : OPERATOR_KEY}` };
        if (c.idempotencyKey) headers['Idempotency-Key'] = c.idempotencyKey;
        const res = await send(w.app, route, c.input, headers);
        const where = `${c.kind}: ${res.status} ${res.text.slice(0, 300)}`;
        expect([where, res.status < 500]).toEqual([where, true]);
        if (res.status >= 400) expect([where, errorShapeProblem(res)]).toEqual([where, null]);
        if (route.method !== 'get') expect([where, res.status >= 400]).toEqual([where, true]);
      }),
      { numRuns: NUM_RUNS, seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined, endOnFailure: true },
    );
    expect(changedTables(pre, await snapshotDb(w.db))).toEqual([]);
  });

  it('left the database as it was', async () => {
    expect(changedTables(before, await quietSnapshot(w.db))).toEqual([]);
  });

  describe('HTTP hygiene', () => {
    it('a body over 1 MB is 413 VALIDATION.BODY_TOO_LARGE in the error shape', async () => {
      const res = await request(w.app).post(`/v1/accounts/${A.accountId}/top-ups`).set('Authorization', `Bearer ${A.key}`)
        .set('Content-Type', 'application/json').send(JSON.stringify({ amount: '1.00', pad: 'x'.repeat(1_100_000) }));
      expect(res.status).toBe(413);
      expect(errorShapeProblem(res)).toBeNull();
      expect(res.body.error.code).toBe('VALIDATION.BODY_TOO_LARGE');
    });

    it('malformed JSON, a non-JSON body and an unknown route answer in the error shape', async () => {
      const auth = { Authorization: `Bearer ${A.key}` };
      const bad = await request(w.app).post(`/v1/accounts/${A.accountId}/top-ups`).set(auth).set('Content-Type', 'application/json').send('{"amount":');
      expect([bad.status, bad.body.error?.code]).toEqual([400, 'VALIDATION.JSON']);
      const text = await request(w.app).post(`/v1/accounts/${A.accountId}/top-ups`).set(auth).set('Content-Type', 'text/plain').send('amount=1.00');
      expect([text.status, text.body.error?.code]).toEqual([400, 'VALIDATION.BODY']);
      for (const res of [await request(w.app).get('/v1/nope').set(auth), await request(w.app).patch('/v1/subscriptions').set(auth)]) {
        expect(res.status).toBe(404);
        expect(errorShapeProblem(res)).toBeNull();
      }
    });

    it('every list refuses cursors it did not issue (crafted, truncated, wrong types) without a 5xx', async () => {
      const b64 = (v: string) => Buffer.from(v).toString('base64url');
      const crafted = [b64('["abc","def"]'), b64('["2026-01-01T00:00:00Z"]'), b64('[1]'), b64('[null,null]'), b64('["2026-01-01T00:00:00Z",{}]'), b64('NaN'), b64('-1'), b64('1e400'), 'not-base64!', `${b64('[1]')}.forged`, 'x'.repeat(200)];
      const lists = routes.filter((r) => r.method === 'get' && r.query && 'cursor' in (jsonSchemaOf(r.query).properties ?? {}));
      expect(lists.length).toBeGreaterThan(5);
      const problems: string[] = [];
      for (const route of lists) {
        const valid = validInput(route);
        for (const cursor of crafted) {
          const res = await send(w.app, route, { ...valid, query: { ...(valid.query ?? {}), cursor } }, { Authorization: `Bearer ${OPERATOR_KEY}` });
          if (![200, 400].includes(res.status) || (res.status === 400 && errorShapeProblem(res))) problems.push(`${routeName(route)} cursor=${cursor}: ${res.status} ${res.text.slice(0, 150)}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('every list pages completely: following next_cursor with limit=1 yields the whole list once, in order', async () => {
      const lists = routes.filter((r) => r.method === 'get' && r.query && 'cursor' in (jsonSchemaOf(r.query).properties ?? {}));
      const problems: string[] = [];
      let multiPage = 0;
      for (const route of lists) {
        const valid = validInput(route);
        const auth = { Authorization: `Bearer ${route.access === 'operator' ? OPERATOR_KEY : A.key}` };
        const whole = await send(w.app, route, { ...valid, query: { ...(valid.query ?? {}), limit: 200 } }, auth);
        if (whole.status !== 200) {
          problems.push(`${routeName(route)}: ${whole.status} ${whole.text.slice(0, 150)}`);
          continue;
        }
        const paged: unknown[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 50; page++) {
          const q: Record<string, unknown> = { ...(valid.query ?? {}), limit: 1, ...(cursor ? { cursor } : {}) };
          const res = await send(w.app, route, { ...valid, query: q }, auth);
          if (res.status !== 200 || !Array.isArray(res.body.data) || !('next_cursor' in res.body)) {
            problems.push(`${routeName(route)} page ${page}: ${res.status} ${res.text.slice(0, 150)}`);
            break;
          }
          paged.push(...res.body.data);
          cursor = res.body.next_cursor;
          if (!cursor) break;
        }
        if (paged.length > 1) multiPage++;
        if (JSON.stringify(paged) !== JSON.stringify(whole.body.data)) problems.push(`${routeName(route)}: pages ${JSON.stringify(paged).slice(0, 200)} ≠ whole ${JSON.stringify(whole.body.data).slice(0, 200)}`);
      }
      expect(problems).toEqual([]);
      expect(multiPage).toBeGreaterThan(3); // the tenant's data makes several lists span pages
    });

    it('text with a NUL character is 400, not a database error', async () => {
      const res = await w.op().post('/v1/accounts', { name: 'Evil\u0000Corp' });
      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION.BODY']);
    });

    it('an internal failure is 500 INTERNAL, a dead database 503 SERVICE.UNAVAILABLE, neither with a stack or a detail of the fault', async () => {
      const logged: unknown[] = [];
      const logger = createLogger('api-test', 'silent');
      const deps = (over: Partial<ApiDeps>): ApiDeps => ({
        db: w.db,
        temporal: w.env.client,
        payments: w.payments,
        catalog: defaultCatalog,
        logger: Object.assign(Object.create(logger), { error: (...a: unknown[]) => logged.push(a) }),
        settings: { taskQueue: TASK_QUEUE, offsetMinutes: OFFSET_MINUTES, arrears: DEFAULT_ARREARS },
        ...over,
      });
      // A broken dependency below a handler…
      const brokenPayments = new Proxy(w.payments, { get: () => () => { throw new Error('secret-internal-detail at /srv/payments.ts:42:7'); } });
      const a = await request(createApp(deps({ payments: brokenPayments }))).get(`/v1/accounts/${A.accountId}`).set('Authorization', `Bearer ${A.key}`);
      // …and a database that is not there (the authenticator's own query fails).
      const deadDb: Knex = knex({ client: 'pg', connection: 'postgres://nobody@127.0.0.1:1/none', pool: { min: 0, max: 1 }, acquireConnectionTimeout: 2000 });
      const b = await request(createApp(deps({ db: deadDb }))).get(`/v1/accounts/${A.accountId}`).set('Authorization', `Bearer ${A.key}`);
      await deadDb.destroy();
      expect(a.status).toBe(500);
      expect(a.body).toEqual({ error: { code: 'INTERNAL', message: expect.any(String) } });
      // A dependency that is down is not our fault, and the client should retry: 503 with a stable
      // code and Retry-After, still without any detail of the fault (issue #11/#13).
      expect(b.status).toBe(503);
      expect(b.headers['retry-after']).toBe('2');
      expect(b.body).toEqual({ error: { code: 'SERVICE.UNAVAILABLE', message: expect.any(String), details: { retry_after_seconds: 2 } } });
      for (const res of [a, b]) expect(res.text).not.toMatch(/secret-internal-detail|ECONNREFUSED|\.ts:\d+|\bat /);
      expect(logged.length).toBe(2); // the fault is logged, not shown
    });
  });
});

// --- the schemas themselves ------------------------------------------------------------------

describe('validation audit of every route schema (issue #4)', () => {
  const schemas = routes.flatMap((r) => (['params', 'query', 'body'] as const).filter((w) => r[w]).map((w) => ({ route: r, where: w, schema: r[w]! })));

  it('every object (body, query, params, nested) refuses unknown fields', () => {
    const loose = schemas.flatMap(({ route, where, schema }) =>
      [...objectNodes(jsonSchemaOf(schema))].filter(({ node }) => node.additionalProperties !== false).map(({ path }) => `${routeName(route)} ${where} ${path}`));
    expect(loose).toEqual([]);
  });

  it('every path parameter is declared and bounded', () => {
    const problems: string[] = [];
    for (const r of routes) {
      for (const p of pathParams(r.path)) {
        const prop = r.params ? jsonSchemaOf(r.params).properties?.[p] : undefined;
        if (!prop) problems.push(`${routeName(r)}: {${p}} not in its params schema`);
        else if (prop.maxLength === undefined) problems.push(`${routeName(r)}: {${p}} has no maximum length`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every string, number and list of the input is bounded', () => {
    const problems: string[] = [];
    for (const { route, where, schema } of schemas) {
      for (const { path, node } of leafNodes(jsonSchemaOf(schema))) {
        const type = nonNullType(node);
        const at = `${routeName(route)} ${where} ${path}`;
        if (type === 'string' && node.maxLength === undefined && !node.enum && node.const === undefined && node.format !== 'date-time' && (!node.pattern || /[+*]|\{\d+,\}/.test(node.pattern.replace(/\\./g, '')))) problems.push(`${at}: unbounded string`);
        if ((type === 'number' || type === 'integer') && (node.maximum === undefined || node.minimum === undefined)) problems.push(`${at}: number without minimum and maximum`);
        if (type === 'array' && node.maxItems === undefined) problems.push(`${at}: list without maxItems`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('money fields take decimal strings only: no sign, exponent, NaN, numbers, or more than 2 decimals (6 for unit prices and quantities)', () => {
    const problems: string[] = [];
    const ctx = { id: (s: string) => missingId(s) };
    for (const route of routes.filter((r) => r.body)) {
      const valid = exampleFor(route.body, ctx);
      if (valid === undefined) {
        problems.push(`${routeName(route)}: no valid example body`);
        continue;
      }
      for (const { path, name, node } of leafNodes(jsonSchemaOf(route.body!))) {
        if (nonNullType(node) !== 'string' || node.enum) continue;
        const segs = path.replace(/^\$\.?/, '').split('.').filter(Boolean);
        if (segs.some((s) => s.endsWith('[]'))) continue; // inside a list: covered by the fuzz
        // A decimal field is one that takes "1.00" and "1.5" but not "abc" (found by asking its schema).
        const takes = (v: string) => route.body!.safeParse(setAt(valid, segs, v)).success;
        if (!takes('1.00') || !takes('1.5') || takes('abc')) continue;
        const maxDecimals = /price|quantity|content/.test(name) ? 6 : 2;
        const bad: unknown[] = [...BAD_MONEY.filter((m) => maxDecimals === 2 || m !== '1.234'), `1.${'1'.repeat(maxDecimals + 1)}`, 1, 1.5, -1];
        for (const b of bad) {
          const body = setAt(valid, segs, b);
          if (route.body!.safeParse(body).success) problems.push(`${routeName(route)} ${path}: accepts ${JSON.stringify(b)}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
