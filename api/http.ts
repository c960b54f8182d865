import { extendZodWithOpenApi, OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { NextFunction, Request, Response, Router } from 'express';
import { z, ZodError, ZodType } from 'zod';
import { ApiError } from './errors';
import { nameRoute } from './metrics';
import type { Principal } from './auth';

extendZodWithOpenApi(z);

// The route table: every route is declared once with its schemas; the same declaration
// validates requests, registers the OpenAPI document and feeds the auth matrix and fuzz tests.
export type Access = 'public' | 'owner' | 'operator';

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal | null;
  req: Request;
}

export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteDef<P = any, Q = any, B = any> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI-style path: `/v1/accounts/{id}`. */
  path: string;
  summary: string;
  access: Access;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** POSTs that create something or move money honour Idempotency-Key (API.md). */
  idempotent?: boolean;
  responses: Record<number, { description: string; schema?: ZodType }>;
  tags?: string[];
  handler: (ctx: RouteContext<P, Q, B>) => Promise<RouteResult>;
}

export function defineRoute<P, Q, B>(def: RouteDef<P, Q, B>): RouteDef<P, Q, B> {
  return def;
}

export const expressPath = (p: string) => p.replace(/\{(\w+)\}/g, ':$1');

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'VALIDATION.BODY', description: 'stable, dotted: VALIDATION.*, AUTH.*, NOT_FOUND, PAYMENT.*, STATE.*, IDEMPOTENCY.*, RATE_LIMITED, INTERNAL' }),
      message: z.string().openapi({ description: 'for humans; may change' }),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi('Error');

export function validationError(where: string, err: ZodError): ApiError {
  const issues = err.issues.slice(0, 20).map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message, code: i.code }));
  const first = issues[0];
  return new ApiError(400, `VALIDATION.${where.toUpperCase()}`, `${first.path}: ${first.message}`, { issues });
}

const isEmpty = (v: unknown) => v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);

/** Postgres cannot store U+0000 in text or jsonb: refused here as bad input instead of failing in the database. */
function hasNul(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (depth > 64 || !v || typeof v !== 'object') return false;
  return Object.entries(v).some(([k, x]) => k.includes('\u0000') || hasNul(x, depth + 1));
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: 'params' | 'query' | 'body'): T {
  if (hasNul(value)) throw new ApiError(400, `VALIDATION.${where.toUpperCase()}`, `${where}: text may not contain the NUL character (\\u0000)`);
  if (!schema) {
    // A route that declares no query or body takes none: unknown input is refused, not ignored.
    if (!isEmpty(value)) throw new ApiError(400, `VALIDATION.${where.toUpperCase()}`, `this route takes no ${where === 'body' ? 'request body' : where === 'query' ? 'query parameters' : 'path parameters'}`);
    return undefined as T;
  }
  // A missing body is an empty object, so the schema names the fields that are required.
  let r: ReturnType<typeof schema.safeParse>;
  try {
    r = schema.safeParse(value ?? {});
  } catch {
    // A refinement that throws on odd input is still bad input, not a fault of the service.
    throw new ApiError(400, `VALIDATION.${where.toUpperCase()}`, `${where}: invalid value`);
  }
  if (!r.success) throw validationError(where, r.error);
  return r.data;
}

export interface Middlewares {
  authenticate: (req: Request) => Promise<Principal | null>;
  idempotent: (principal: Principal, req: Request, run: () => Promise<RouteResult>, account: string | null) => Promise<RouteResult>;
  /** The account a request acts on, when it names one (an operator's keys are scoped by it). */
  targetAccount: (route: RouteDef, ctx: RouteContext<unknown, unknown, unknown>) => Promise<string | null>;
  rateLimit: (principal: Principal | null, req: Request) => void;
}

/** Order on every route: auth → rate limit → access → validation → idempotency → handler. */
export function mountRoutes(router: Router, routes: RouteDef[], mw: Middlewares): void {
  for (const route of routes) {
    router[route.method](expressPath(route.path), async (req: Request, res: Response, next: NextFunction) => {
      nameRoute(res, route.path); // the metrics label: the template, never the raw path
      try {
        let principal: Principal | null;
        try {
          principal = await mw.authenticate(req);
        } catch (err) {
          // Failed authentications count against the caller's address: key guessing is rate limited too.
          mw.rateLimit(null, req);
          throw err;
        }
        mw.rateLimit(principal, req);
        if (route.access !== 'public' && !principal) throw new ApiError(401, 'AUTH.UNAUTHENTICATED', 'a valid API key is required (Authorization: Bearer <key>)');
        if (route.access === 'operator' && principal?.scope !== 'operator') {
          // A customer must not learn that operator routes on other accounts exist: 404 for a
          // foreign account, 403 for its own.
          const accountId = route.path.startsWith('/v1/accounts/{id}') ? (req.params as Record<string, string>).id : undefined;
          if (accountId && principal?.accountId !== accountId) throw new ApiError(404, 'NOT_FOUND', `account ${accountId} does not exist`);
          throw new ApiError(403, 'AUTH.FORBIDDEN', 'this route needs an operator key');
        }
        const ctx: RouteContext<unknown, unknown, unknown> = {
          params: parse(route.params, req.params, 'params'),
          query: parse(route.query, req.query, 'query'),
          body: parse(route.body, req.body, 'body'),
          principal,
          req,
        };
        const result = route.idempotent && principal && req.header('idempotency-key') !== undefined
          ? await mw.idempotent(principal, req, () => route.handler(ctx), principal.scope === 'operator' ? await mw.targetAccount(route, ctx) : principal.accountId)
          : await route.handler(ctx);
        for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, v);
        if (result.body === undefined) res.status(result.status).end();
        else res.status(result.status).json(result.body);
      } catch (err) {
        next(err);
      }
    });
  }
}

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: errorSchema } } });

/** The errors any route can answer, by how it is declared (API.md's status codes). */
function standardErrors(r: RouteDef): Record<string, string> {
  const out: Record<string, string> = { 400: 'VALIDATION.*: bad input (unknown fields, wrong types, bad money strings)' };
  if (r.access !== 'public') out[401] = 'AUTH.UNAUTHENTICATED or AUTH.REVOKED: no, unknown or revoked API key';
  if (r.access === 'operator') out[403] = 'AUTH.FORBIDDEN: this route needs an operator key';
  if (r.access !== 'public') out[404] = 'NOT_FOUND: no such resource, or it belongs to another account';
  if (r.body) out[413] = 'VALIDATION.BODY_TOO_LARGE: the body is larger than 1 MB';
  if (r.idempotent) out[422] = 'IDEMPOTENCY.MISMATCH: the Idempotency-Key was used with another request';
  out[429] = 'RATE_LIMITED: too many requests for this key; see Retry-After';
  out[500] = 'INTERNAL: a fault on our side (logged; never a stack trace)';
  return out;
}

export function registerOpenApi(registry: OpenAPIRegistry, routes: RouteDef[]): void {
  registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'API key: Authorization: Bearer <key>' });
  registry.register('Error', errorSchema);
  for (const r of routes) {
    const responses: Record<string, { description: string; content?: Record<string, { schema: ZodType }> }> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      if (resp.schema) responses[status] = { description: resp.description, content: { 'application/json': { schema: resp.schema } } };
      else if (Number(status) >= 400) responses[status] = errorResponse(resp.description);
      else responses[status] = { description: resp.description };
    }
    for (const [status, description] of Object.entries(standardErrors(r))) responses[status] ??= errorResponse(description);
    registry.registerPath({
      method: r.method,
      path: r.path,
      operationId: `${r.method}${r.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      summary: r.summary,
      tags: r.tags,
      security: r.access === 'public' ? [] : [{ bearer: [] }],
      request: {
        params: r.params as never,
        query: r.query as never,
        body: r.body ? { content: { 'application/json': { schema: r.body as ZodType } } } : undefined,
        headers: r.idempotent ? z.object({ 'Idempotency-Key': z.string().min(1).max(255).optional().openapi({ description: 'same key + same body → the first response again; same key + other body → 422' }) }) : undefined,
      },
      responses,
    });
  }
}
