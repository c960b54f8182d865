import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { NextFunction, Request, Response, Router } from 'express';
import { z, ZodError, ZodType } from 'zod';
import { ApiError } from './errors';
import type { Principal } from './auth';

// The route table: every route is declared once with its schemas; the same declaration
// validates requests, registers the OpenAPI document and feeds the auth matrix test.
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

export const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});

export function validationError(where: string, err: ZodError): ApiError {
  const issues = err.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message, code: i.code }));
  const first = issues[0];
  return new ApiError(400, `VALIDATION.${where.toUpperCase()}`, `${first.path}: ${first.message}`, { issues });
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) {
    if (where === 'body' && value !== undefined && !(typeof value === 'object' && value !== null && Object.keys(value).length === 0)) {
      throw new ApiError(400, 'VALIDATION.BODY', 'this route takes no request body');
    }
    return undefined as T;
  }
  const r = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (!r.success) throw validationError(where, r.error);
  return r.data;
}

export interface Middlewares {
  authenticate: (req: Request) => Promise<Principal | null>;
  idempotent: (principal: Principal, req: Request, run: () => Promise<RouteResult>) => Promise<RouteResult>;
  rateLimit: (principal: Principal | null, req: Request) => void;
}

export function mountRoutes(router: Router, routes: RouteDef[], mw: Middlewares): void {
  for (const route of routes) {
    router[route.method](expressPath(route.path), async (req: Request, res: Response, next: NextFunction) => {
      try {
        const principal = await mw.authenticate(req);
        mw.rateLimit(principal, req);
        if (route.access !== 'public' && !principal) throw new ApiError(401, 'AUTH.UNAUTHENTICATED', 'a valid API key is required (Authorization: Bearer <key>)');
        if (route.access === 'operator' && principal?.scope !== 'operator') {
          // A customer must not learn that operator routes on other accounts exist: 404 for a
          // foreign account, 403 for its own.
          const accountId = (req.params as Record<string, string>).id;
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
          ? await mw.idempotent(principal, req, () => route.handler(ctx))
          : await route.handler(ctx);
        if (result.body === undefined) res.status(result.status).end();
        else res.status(result.status).json(result.body);
      } catch (err) {
        next(err);
      }
    });
  }
}

export function registerOpenApi(registry: OpenAPIRegistry, routes: RouteDef[]): void {
  registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'API key' });
  for (const r of routes) {
    const responses: Record<string, { description: string; content?: Record<string, { schema: ZodType }> }> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      responses[status] = resp.schema ? { description: resp.description, content: { 'application/json': { schema: resp.schema } } } : { description: resp.description };
    }
    for (const status of r.access === 'public' ? ['400', '429'] : ['400', '401', '404', '429']) {
      responses[status] ??= { description: 'error', content: { 'application/json': { schema: errorSchema } } };
    }
    registry.registerPath({
      method: r.method,
      path: r.path,
      summary: r.summary,
      tags: r.tags,
      security: r.access === 'public' ? [] : [{ bearer: [] }],
      request: {
        params: r.params as never,
        query: r.query as never,
        body: r.body ? { content: { 'application/json': { schema: r.body as ZodType } } } : undefined,
        headers: r.idempotent ? z.object({ 'Idempotency-Key': z.string().max(255).optional() }) : undefined,
      },
      responses,
    });
  }
}
