import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from '../../api/app';
import type { RouteDef } from '../../api/http';
import { DEFAULT_ARREARS } from '../../billing/renewal-schedule';
import { defaultCatalog } from '../../catalog/catalog';
import { createLogger } from '../../common/logger';
import { jsonSchemaOf, pathParams, routeName, routeTable } from '../support/route-table';
import { OFFSET_MINUTES, TASK_QUEUE } from '../support/world';

// Issue #4 acceptance: the OpenAPI 3 document served at /v1/openapi.json validates, lists every
// route of the table with its parameters, body and responses (the error shape included), and
// the docs page loads it. Building the app needs no database or Temporal: nothing here calls a
// handler.

type Operation = {
  operationId?: string;
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: { $ref?: string } }> }>;
  security?: unknown[];
};
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> } };

const routes = routeTable();
const inert = new Proxy({}, { get: () => { throw new Error('no handler runs in this test'); } });
const app = createApp({
  db: inert as never,
  temporal: inert as never,
  payments: inert as never,
  catalog: defaultCatalog,
  logger: createLogger('api-test', 'silent'),
  settings: { taskQueue: TASK_QUEUE, offsetMinutes: OFFSET_MINUTES, arrears: DEFAULT_ARREARS },
});

describe('OpenAPI document and docs page (issue #4)', () => {
  let doc: Doc;
  beforeAll(async () => {
    const res = await request(app).get('/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    doc = res.body;
  });
  const op = (r: RouteDef) => doc.paths[r.path]?.[r.method];

  it('validates as OpenAPI 3 (swagger-parser: structure, $refs, parameters)', async () => {
    expect(doc.openapi).toMatch(/^3\./);
    // @apidevtools/swagger-parser is ESM-only and jest here runs CommonJS: validate in a plain node.
    const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
    try {
      writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc));
      const script = "import('@apidevtools/swagger-parser').then((m) => m.default.validate(process.argv[1])).then(() => process.stdout.write('valid'), (e) => { process.stdout.write(String(e.message)); process.exitCode = 1; })";
      let out: string;
      try {
        out = execFileSync(process.execPath, ['-e', script, join(dir, 'openapi.json')], { cwd: join(__dirname, '..', '..'), encoding: 'utf8' });
      } catch (e) {
        out = String((e as { stdout?: string }).stdout);
      }
      expect(out).toBe('valid');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists every route of the table, and nothing else', () => {
    const inDoc = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    expect(inDoc).toEqual(routes.map(routeName).sort());
  });

  it.each(routes.map((r) => [routeName(r), r] as const))('%s: parameters, body, security and responses with the error shape', (_name, r) => {
    const o = op(r);
    expect(o).toBeDefined();
    expect(o.operationId).toMatch(/^[A-Za-z0-9]+$/);
    // Path parameters: every one of the template, required.
    const inPath = (o.parameters ?? []).filter((p) => p.in === 'path');
    expect(inPath.map((p) => p.name).sort()).toEqual(pathParams(r.path).sort());
    expect(inPath.every((p) => p.required)).toBe(true);
    // Query parameters: the route's query schema, field for field.
    const query = (o.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name).sort();
    expect(query).toEqual(Object.keys(r.query ? jsonSchemaOf(r.query).properties ?? {} : {}).sort());
    expect(Boolean(o.requestBody)).toBe(Boolean(r.body));
    if (r.idempotent) expect((o.parameters ?? []).some((p) => p.in === 'header' && p.name === 'Idempotency-Key')).toBe(true);
    expect(o.security).toEqual(r.access === 'public' ? [] : [{ bearer: [] }]);

    const statuses = Object.keys(o.responses);
    expect(statuses.some((s) => /^2\d\d$/.test(s))).toBe(true);
    const required = ['400', '429', '500', ...(r.access !== 'public' ? ['401', '404'] : []), ...(r.access === 'operator' ? ['403'] : []), ...(r.body ? ['413'] : []), ...(r.idempotent ? ['422'] : [])];
    expect(statuses).toEqual(expect.arrayContaining(required));
    for (const s of statuses.filter((x) => Number(x) >= 400)) {
      expect([s, o.responses[s].content?.['application/json']?.schema]).toEqual([s, { $ref: '#/components/schemas/Error' }]);
    }
  });

  it('the error schema is { error: { code, message, details? } }', () => {
    expect(doc.components.schemas.Error).toMatchObject({
      type: 'object',
      required: ['error'],
      properties: { error: { type: 'object', required: expect.arrayContaining(['code', 'message']), properties: { code: { type: 'string' }, message: { type: 'string' } } } },
    });
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('every list is paginated: ?limit=&cursor= → { data, next_cursor }', () => {
    const unpaginated: string[] = [];
    for (const r of routes.filter((x) => x.method === 'get')) {
      const ok = r.responses[200]?.schema;
      const props = ok ? jsonSchemaOf(ok, 'output').properties ?? {} : {};
      const isList = Object.values(props).some((p) => p.type === 'array') && Object.keys(props).includes('data');
      if (!isList) continue;
      const q = r.query ? Object.keys(jsonSchemaOf(r.query).properties ?? {}) : [];
      if (!q.includes('limit') || !q.includes('cursor') || !('next_cursor' in props)) unpaginated.push(routeName(r));
    }
    expect(unpaginated).toEqual([]);
  });

  it('GET /docs is an HTML page that loads the document', async () => {
    const res = await request(app).get('/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toContain('/v1/openapi.json');
    expect(res.text).toMatch(/<script>[\s\S]*fetch\(/);
  });
});
