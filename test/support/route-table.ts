import fc from 'fast-check';
import type { Knex } from 'knex';
import request from 'supertest';
import { z } from 'zod';
import { ApiDeps, buildRoutes } from '../../api/app';
import type { RouteDef } from '../../api/http';
import { DEFAULT_ARREARS } from '../../billing/renewal-schedule';
import { defaultCatalog } from '../../catalog/catalog';
import { createLogger } from '../../common/logger';
import type { ApiWorld } from './api';
import { OFFSET_MINUTES, TASK_QUEUE } from './world';

// Helpers for the tests that are driven by the route table (auth matrix, fuzz, OpenAPI): they
// iterate `buildRoutes(...)`, so a route added later is covered without touching a test.

/**
 * The route table, built for reading its declarations only (methods, paths, schemas, access);
 * the handlers are never called on it, so its dependencies are inert.
 */
export function routeTable(): RouteDef[] {
  const inert = new Proxy({}, { get: () => { throw new Error('the route table was built for its declarations only'); } });
  const deps: ApiDeps = {
    db: inert as never,
    temporal: inert as never,
    payments: inert as never,
    catalog: defaultCatalog,
    logger: createLogger('route-table', 'silent'),
    settings: { taskQueue: TASK_QUEUE, offsetMinutes: OFFSET_MINUTES, arrears: DEFAULT_ARREARS },
  };
  return buildRoutes(deps);
}

export const routeName = (r: Pick<RouteDef, 'method' | 'path'>) => `${r.method.toUpperCase()} ${r.path}`;
export const pathParams = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
/** `/v1/accounts/{id}/bills/{bill_id}` → id: accounts, bill_id: bills (the segment before each parameter). */
export function paramCollection(path: string, param: string): string {
  const segments = path.split('/');
  const i = segments.indexOf(`{${param}}`);
  return segments[i - 1] ?? param;
}

// ---------------------------------------------------------------------------------------------
// Database snapshots: every table but the bookkeeping ones, as row count + checksum.

const NOT_STATE = new Set(['knex_migrations', 'knex_migrations_lock', 'idempotent_requests']);

export type Snapshot = Record<string, string>;

export async function snapshotDb(db: Knex): Promise<Snapshot> {
  const tables: string[] = (await db.raw(`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`))
    .rows.map((r: { table_name: string }) => r.table_name)
    .filter((t: string) => !NOT_STATE.has(t));
  const sql = tables
    .map((t) => `select '${t}' as t, count(*)::int as n, md5(coalesce(string_agg(x::text, E'\\n' order by x::text), '')) as h from "${t}" x`)
    .join(' union all ');
  const rows: { t: string; n: number; h: string }[] = (await db.raw(sql)).rows;
  return Object.fromEntries(rows.map((r) => [r.t, `${r.n} rows, md5 ${r.h}`]));
}

/** The tables whose content differs. */
export function changedTables(before: Snapshot, after: Snapshot): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((t) => before[t] !== after[t]).sort();
}

/** Waits until activities started by the set-up have written everything (three equal snapshots in a row). */
export async function quietSnapshot(db: Knex, timeoutMs = 15_000): Promise<Snapshot> {
  const deadline = Date.now() + timeoutMs;
  let last = await snapshotDb(db);
  let same = 0;
  while (same < 2) {
    if (Date.now() > deadline) throw new Error('the database did not settle');
    await new Promise((r) => setTimeout(r, 150));
    const next = await snapshotDb(db);
    same = changedTables(last, next).length === 0 ? same + 1 : 0;
    last = next;
  }
  return last;
}

// ---------------------------------------------------------------------------------------------
// Tenants: an account with one of everything the route table lets a customer make.

export interface Tenant {
  name: string;
  accountId: string;
  key: string;
  /** collection (path segment such as `subscriptions`, `api-keys`) → an id of this tenant's. */
  ids: Record<string, string>;
  /** Every id of this tenant's resources (for leak checks). */
  allIds: Set<string>;
}

type Json = unknown;

async function tryCall(label: string, fn: () => Promise<request.Response>, notes: string[]): Promise<request.Response | null> {
  try {
    const res = await fn();
    if (res.status >= 300) notes.push(`${label}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
    return res.status < 300 ? res : null;
  } catch (e) {
    notes.push(`${label}: ${(e as Error).message}`);
    return null;
  }
}

const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();

/**
 * Makes a tenant through the API: account with cash, card, coupon, discount, a subscription, a
 * second API key, and, when the table has the routes for them, servers, a binding, a
 * pay-per-use protection and a usage package. Whatever the table cannot make is simply absent.
 */
export async function makeTenant(w: ApiWorld, routes: RouteDef[], name: string): Promise<Tenant & { notes: string[] }> {
  const notes: string[] = [];
  const has = (method: string, path: string) => routes.some((r) => r.method === method && r.path === path);
  const c = await w.newCustomer({ name: `Tenant ${name}`, cash: '5000.00' });
  const as = w.as(c.key);
  const acc = `/v1/accounts/${c.id}`;
  const region = defaultCatalog.regions[0];
  await tryCall('card', () => as.put(`${acc}/card`, { token: 'tok_visa' }), notes);
  await tryCall('coupon', () => w.op().post(`${acc}/coupons`, { amount: '5.00', expires_at: inDays(60) }, `fixture-coupon-${c.id}`), notes);
  await tryCall('discount', () => w.op().post(`${acc}/discounts`, { kind: 'promotional', percent_off: '5', effective_at: inDays(1), expires_at: inDays(60) }, `fixture-discount-${c.id}`), notes);
  const sub = await as.post('/v1/subscriptions', { account_id: c.id, product: 'host-security', edition: 'enterprise', region, quantity: 1, term: { unit: 'month', count: 1 } }, `fixture-sub-${c.id}`);
  if (sub.status !== 201) throw new Error(`tenant ${name}: purchase failed ${sub.status} ${JSON.stringify(sub.body)}`);
  if (has('post', '/v1/accounts/{id}/api-keys')) await tryCall('api key', () => as.post(`${acc}/api-keys`, { label: 'fixture' }, `fixture-key-${c.id}`), notes);
  if (has('post', '/v1/servers')) {
    const server = await tryCall('server', () => as.post('/v1/servers', { account_id: c.id, region, kind: 'host', agent: 'online', power: 'running' }, `fixture-server-${c.id}`), notes);
    if (server && has('post', '/v1/bindings')) {
      await tryCall('binding', () => as.post('/v1/bindings', { subscription_id: sub.body.id, server_id: server.body.id }, `fixture-binding-${c.id}`), notes);
    }
    const ppuEdition = defaultCatalog.products.flatMap((p) => p.editions.filter((e) => e.pay_per_use_hourly !== null && e.server_kinds.includes('host')).map((e) => ({ product: p.product, edition: e.edition })))[0];
    if (ppuEdition && has('post', '/v1/pay-per-use')) {
      const second = await tryCall('server 2', () => as.post('/v1/servers', { account_id: c.id, region, kind: 'host', agent: 'online', power: 'running' }, `fixture-server2-${c.id}`), notes);
      if (second) await tryCall('pay-per-use', () => as.post('/v1/pay-per-use', { account_id: c.id, server_id: second.body.id, ...ppuEdition, quantity: 1 }, `fixture-ppu-${c.id}`), notes);
    }
  }
  const metric = defaultCatalog.services[0]?.metric;
  if (metric && has('post', '/v1/usage-packages')) {
    await tryCall('usage package', () => as.post('/v1/usage-packages', { account_id: c.id, metric, content: '100', count: 1, term: { unit: 'month', count: 1 }, reset: 'none' }, `fixture-upk-${c.id}`), notes);
  }
  const { ids, allIds } = await tenantIds(w.db, c.id);
  return { name, accountId: c.id, key: c.key, ids, allIds, notes };
}

/**
 * One id per table of everything the account owns: tables with an `id` and an `account_id`, or
 * reached through a subscription or a server. Keyed by table name and by its path spelling.
 */
export async function tenantIds(db: Knex, accountId: string): Promise<{ ids: Record<string, string>; allIds: Set<string> }> {
  const cols: { table_name: string; column_name: string }[] = (await db.raw(`select table_name, column_name from information_schema.columns where table_schema = current_schema()`)).rows;
  const byTable = new Map<string, Set<string>>();
  for (const c of cols) byTable.set(c.table_name, (byTable.get(c.table_name) ?? new Set()).add(c.column_name));
  const ids: Record<string, string> = { accounts: accountId };
  const allIds = new Set<string>([accountId]);
  for (const [table, columns] of byTable) {
    if (!columns.has('id') || table === 'accounts') continue;
    let q: Knex.QueryBuilder;
    if (columns.has('account_id')) q = db(table).where({ account_id: accountId });
    else if (columns.has('subscription_id')) q = db(table).whereIn('subscription_id', db('subscriptions').where({ account_id: accountId }).select('id'));
    else if (columns.has('server_id')) q = db(table).whereIn('server_id', db('servers').where({ account_id: accountId }).select('id'));
    else continue;
    const rows: { id: string | number }[] = await q.select('id').orderBy('id');
    const own = rows.map((r) => String(r.id));
    if (own.length === 0) continue;
    // Only opaque ids name resources over HTTP (a bigserial like notifications.id does not).
    if (!/^[a-z][a-z0-9]*_/.test(own[0])) continue;
    own.forEach((id) => allIds.add(id));
    ids[table] = own[0];
  }
  return { ids, allIds };
}

/** The tenant's id for a path collection (`api-keys` → api_keys) or a field (`server_id` → servers). */
export function idOf(t: Pick<Tenant, 'ids'>, collectionOrField: string): string | undefined {
  const base = collectionOrField.replace(/_id$/, '').replace(/-/g, '_');
  const aliases: Record<string, string[]> = { resource: ['servers'], protection: ['pay_per_use_protections'], pay_per_use: ['pay_per_use_protections'], bill: ['bills'] };
  for (const c of [base, `${base}s`, ...(aliases[base] ?? [])]) if (t.ids[c]) return t.ids[c];
  return undefined;
}

/** An id in the right syntax that names nothing. */
export const missingId = (collectionOrField: string) => `${collectionOrField.replace(/_id$/, '').replace(/[^a-z]/g, '').slice(0, 8) || 'res'}_0000000000000000000a`;

// ---------------------------------------------------------------------------------------------
// Valid example inputs, generated from each route's own zod schemas.

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  minItems?: number;
  maxItems?: number;
  enum?: Json[];
  const?: Json;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: Json;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
};

export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output' = 'input'): JsonSchema {
  return z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
}

/** Follows `$ref`s and flattens `allOf`. */
export function deref(node: JsonSchema, root: JsonSchema): JsonSchema {
  let n = node;
  for (let i = 0; n.$ref && i < 20; i++) {
    const name = n.$ref.replace(/^#\/(\$defs|definitions)\//, '');
    n = n.$ref === '#' ? root : root.$defs?.[name] ?? {};
  }
  if (n.allOf) return n.allOf.reduce<JsonSchema>((acc, s) => ({ ...acc, ...deref(s, root), properties: { ...acc.properties, ...deref(s, root).properties }, required: [...(acc.required ?? []), ...(deref(s, root).required ?? [])] }), { ...n, allOf: undefined });
  return n;
}

export function nonNullType(node: JsonSchema): string | undefined {
  if (Array.isArray(node.type)) return node.type.find((t) => t !== 'null');
  return node.type;
}

/** Every object node of a schema, with its path (for the strictness audit). */
export function* objectNodes(root: JsonSchema, node: JsonSchema = root, path = '$', depth = 0): Generator<{ path: string; node: JsonSchema }> {
  if (depth > 12) return;
  const n = deref(node, root);
  for (const alt of [...(n.anyOf ?? []), ...(n.oneOf ?? [])]) yield* objectNodes(root, alt, path, depth + 1);
  const type = nonNullType(n);
  if (type === 'object' || n.properties) {
    yield { path, node: n };
    for (const [k, v] of Object.entries(n.properties ?? {})) yield* objectNodes(root, v, `${path}.${k}`, depth + 1);
  }
  if (type === 'array' && n.items) yield* objectNodes(root, n.items, `${path}[]`, depth + 1);
}

/** Every leaf (string, number, array) with its path and field name. */
export function* leafNodes(root: JsonSchema, node: JsonSchema = root, path = '$', name = '', depth = 0): Generator<{ path: string; name: string; node: JsonSchema }> {
  if (depth > 12) return;
  const n = deref(node, root);
  const alts = [...(n.anyOf ?? []), ...(n.oneOf ?? [])].filter((a) => nonNullType(deref(a, root)) !== 'null');
  if (alts.length) {
    for (const alt of alts) yield* leafNodes(root, alt, path, name, depth + 1);
    return;
  }
  const type = nonNullType(n);
  if (type === 'object' || n.properties) {
    for (const [k, v] of Object.entries(n.properties ?? {})) yield* leafNodes(root, v, `${path}.${k}`, k, depth + 1);
    return;
  }
  yield { path, name, node: n };
  if (type === 'array' && n.items) yield* leafNodes(root, n.items, `${path}[]`, name, depth + 1);
}

export interface ExampleContext {
  /** The id to put in a field or path slot named like `account_id` / `accounts`, if any. */
  id(slot: string): string | undefined;
}

const OMIT = Symbol('omit');
const firstProduct = defaultCatalog.products.find((p) => p.editions.some((e) => e.monthly !== null)) ?? defaultCatalog.products[0];
const firstEdition = firstProduct.editions.filter((e) => e.monthly !== null).sort((a, b) => b.rank - a.rank)[0] ?? firstProduct.editions[0];

function stringCandidates(name: string, node: JsonSchema, ctx: ExampleContext, variant: number): string[] {
  const out: string[] = [];
  if (name.endsWith('_id')) out.push(ctx.id(name) ?? missingId(name));
  if (node.format === 'date-time' || /_at$|^period_/.test(name)) {
    out.push(/expire|end/.test(name) ? inDays(60) : /period_start/.test(name) ? new Date(Date.now() - 3_600_000).toISOString() : inDays(1));
  }
  const hints: Record<string, string[]> = {
    product: [firstProduct.product],
    edition: [firstEdition.edition],
    region: [...defaultCatalog.regions],
    metric: defaultCatalog.services.map((s) => s.metric),
    currency: [defaultCatalog.currency],
    token: ['tok_visa'],
    name: ['Example Co'],
    label: ['example'],
    reason: ['example'],
    scope: [firstProduct.product],
    deduction_day: ['2031-01-15'],
    deduction_date: ['2031-01-15'],
    url: ['https://protect.example.com/quotaflow'],
    secret: ['whsec_example_0123456789'],
    email: ['ops@example.com'],
    phone: ['+8613800138000'],
  };
  out.push(...(hints[name] ?? []), '10.00', '10', '1', 'example', 'host', '2031-01-15');
  if (node.pattern) {
    try {
      out.push(...fc.sample(fc.stringMatching(new RegExp(node.pattern)), { numRuns: 30, seed: 42 + variant }));
    } catch {
      /* a pattern fast-check cannot generate from */
    }
  }
  return out;
}

function fits(s: string, node: JsonSchema): boolean {
  if (node.minLength !== undefined && s.length < node.minLength) return false;
  if (node.maxLength !== undefined && s.length > node.maxLength) return false;
  if (node.pattern && !new RegExp(node.pattern).test(s)) return false;
  if (node.format === 'date-time' && Number.isNaN(Date.parse(s))) return false;
  return true;
}

function gen(root: JsonSchema, node: JsonSchema, name: string, ctx: ExampleContext, mode: 'required' | 'all', variant: number, depth: number): Json | typeof OMIT {
  if (depth > 10) return OMIT;
  const n = deref(node, root);
  if ('const' in n) return n.const;
  if (n.enum) return n.enum[variant % n.enum.length];
  const alts = [...(n.anyOf ?? []), ...(n.oneOf ?? [])].filter((a) => nonNullType(deref(a, root)) !== 'null' || deref(a, root).type === undefined);
  if (alts.length) return gen(root, alts[variant % alts.length], name, ctx, mode, variant, depth + 1);
  switch (nonNullType(n)) {
    case 'object': {
      const out: Record<string, Json> = {};
      for (const [k, v] of Object.entries(n.properties ?? {})) {
        const include = n.required?.includes(k) || mode === 'all' || (k.endsWith('_id') && ctx.id(k) !== undefined);
        if (!include) continue;
        const value = gen(root, v, k, ctx, mode, variant, depth + 1);
        if (value !== OMIT) out[k] = value;
      }
      return out;
    }
    case 'array': {
      const item = n.items ?? {};
      const count = Math.max(n.minItems ?? 1, 1);
      const values = Array.from({ length: count }, () => gen(root, item, name, ctx, mode, variant, depth + 1));
      return values.filter((v) => v !== OMIT);
    }
    case 'string':
      return stringCandidates(name, n, ctx, variant).find((s) => fits(s, n)) ?? OMIT;
    case 'integer':
    case 'number': {
      let v = name === 'limit' ? 10 : 1;
      if (n.minimum !== undefined && v < n.minimum) v = n.minimum;
      if (n.exclusiveMinimum !== undefined && v <= n.exclusiveMinimum) v = n.exclusiveMinimum + 1;
      if (n.maximum !== undefined && v > n.maximum) v = n.maximum;
      return v;
    }
    case 'boolean':
      return variant % 2 === 1;
    case 'null':
      return null;
    default:
      return {};
  }
}

/**
 * A value the zod schema accepts, built from its JSON Schema with field-name hints (ids from
 * the context, catalog names, dates in the future) and checked against the schema itself.
 * undefined when no candidate passes: the caller reports the route as not covered.
 */
export function exampleFor(schema: z.ZodType | undefined, ctx: ExampleContext): Json | undefined {
  if (!schema) return undefined;
  const root = jsonSchemaOf(schema);
  for (const mode of ['required', 'all'] as const) {
    for (let variant = 0; variant < 4; variant++) {
      const value = gen(root, root, '', ctx, mode, variant, 0);
      if (value !== OMIT && schema.safeParse(value).success) return value;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Sending a request for a route.

export interface RouteInput {
  params: Record<string, string>;
  query?: Record<string, Json>;
  body?: Json;
  /** Raw text instead of a JSON body. */
  raw?: string;
}

export function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_m, p: string) => encodeURIComponent(params[p] ?? ''));
}

export function send(app: ApiWorld['app'], route: Pick<RouteDef, 'method' | 'path'>, input: RouteInput, headers: Record<string, string> = {}): request.Test {
  const r = request(app)[route.method](fillPath(route.path, input.params));
  for (const [k, v] of Object.entries(headers)) r.set(k, v);
  if (input.query && Object.keys(input.query).length) r.query(input.query as Record<string, string>);
  if (input.raw !== undefined) return r.set('Content-Type', 'application/json').send(input.raw);
  if (input.body !== undefined) return r.set('Content-Type', 'application/json').send(JSON.stringify(input.body));
  return r;
}

/** `{ error: { code, message, details? } }` and nothing that looks like a stack trace. */
export function errorShapeProblem(res: request.Response): string | null {
  const b = res.body as { error?: { code?: unknown; message?: unknown } };
  if (!b || typeof b !== 'object' || !b.error || typeof b.error.code !== 'string' || typeof b.error.message !== 'string') return `not the error shape: ${res.text.slice(0, 200)}`;
  if (Object.keys(b).length !== 1) return `extra top-level fields: ${Object.keys(b).join(', ')}`;
  if (!/^[A-Z_]+(\.[A-Z_]+)*$/.test(b.error.code)) return `code is not a stable dotted code: ${b.error.code}`;
  if ('stack' in b.error || /\bat [^"]*\(?\/[^"]*:\d+:\d+\)?/.test(res.text)) return `looks like a stack trace: ${res.text.slice(0, 200)}`;
  return null;
}
