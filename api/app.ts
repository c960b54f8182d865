import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import type { Client } from '@temporalio/client';
import express, { NextFunction, Request, Response } from 'express';
import type { Knex } from 'knex';
import type { PaymentEngine } from '../activities/payments/payment-engine';
import type { ArrearsPeriods, CustomerLevel } from '../billing/renewal-schedule';
import type { Catalog } from '../catalog/catalog';
import type { Logger } from '../common/logger';
import { createAuthenticator } from './auth';
import { PaymentError } from '../activities/payments/errors';
import { ApiError, statusForCode } from './errors';
import { mountRoutes, registerOpenApi, RouteDef } from './http';
import { createIdempotency } from './idempotency';
import { createRateLimiter } from './rate-limit';
import { accountRoutes } from './routes/accounts.routes';
import { docsPage } from './routes/docs';
import { healthRoutes } from './routes/health.routes';
import { subscriptionRoutes } from './routes/subscriptions.routes';

export interface ApiDeps {
  db: Knex;
  temporal: Client;
  payments: PaymentEngine;
  catalog: Catalog;
  logger: Logger;
  settings: {
    taskQueue: string;
    offsetMinutes: number; // R-T1
    arrears: Record<CustomerLevel, ArrearsPeriods>; // R-A4
    rateLimitPerMinute?: number;
  };
}

/** Every route of the API, in one table (the auth matrix test and the OpenAPI document read it). */
export function buildRoutes(deps: ApiDeps): RouteDef[] {
  return [...healthRoutes(deps), ...accountRoutes(deps), ...subscriptionRoutes(deps)];
}

export function buildOpenApiDocument(routes: RouteDef[]) {
  const registry = new OpenAPIRegistry();
  registerOpenApi(registry, routes);
  return new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'quotaflow API', version: '1.0.0', description: 'Subscription billing for protection quotas: see shared/API.md for conventions.' },
    servers: [{ url: '/' }],
  });
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(express.json({ limit: '1mb', strict: true }));

  const routes = buildRoutes(deps);
  const openapi = buildOpenApiDocument(routes);
  app.get('/v1/openapi.json', (_req, res) => { res.json(openapi); });
  app.get('/docs', (_req, res) => { res.type('html').send(docsPage('/v1/openapi.json')); });

  const router = express.Router();
  mountRoutes(router, routes, {
    authenticate: createAuthenticator(deps.db),
    idempotent: createIdempotency(deps.db),
    rateLimit: createRateLimiter({ perMinute: deps.settings.rateLimitPerMinute ?? 600, burst: deps.settings.rateLimitPerMinute ?? 600 }),
  });
  app.use(router);

  app.use((_req, _res, next) => next(new ApiError(404, 'NOT_FOUND', 'no such route')));
  // One place maps every error to the API's shape; unknown errors are logged, never shown.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    const e = toApiError(err);
    if (e.status >= 500) deps.logger.error({ err, method: req.method, path: req.path }, 'request failed');
    if (e.status === 429 && e.details?.retry_after_seconds) res.setHeader('Retry-After', String(e.details.retry_after_seconds));
    res.status(e.status).json({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
  });
  return app;
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  // Business errors from the payment engine carry a stable code; it names the HTTP status.
  if (err instanceof PaymentError) return new ApiError(statusForCode(err.code), err.code, err.message, Object.keys(err.details).length ? err.details : undefined);
  const e = err as { type?: string; status?: number; expose?: boolean; message?: string };
  // body-parser errors: bad JSON, too large, wrong charset.
  if (e?.type === 'entity.too.large') return new ApiError(413, 'VALIDATION.BODY_TOO_LARGE', 'request body is larger than 1 MB');
  if (e?.type === 'entity.parse.failed') return new ApiError(400, 'VALIDATION.JSON', 'request body is not valid JSON');
  if (e?.expose && e.status && e.status < 500) return new ApiError(e.status, 'VALIDATION.REQUEST', e.message ?? 'bad request');
  return new ApiError(500, 'INTERNAL', 'internal error; it has been logged');
}
