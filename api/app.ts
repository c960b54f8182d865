import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import type { Client } from '@temporalio/client';
import express, { NextFunction, Request, Response } from 'express';
import type { Knex } from 'knex';
import type { PaymentEngine } from '../payments/payment-engine';
import type { ArrearsPeriods, CustomerLevel } from '../billing/renewal-schedule';
import type { Catalog } from '../catalog/catalog';
import type { Logger } from '../common/logger';
import { setOperationalSource } from '../common/metrics';
import { readOperationalSnapshot } from '../store/metrics.store';
import { orderAccountId } from '../store/orders.store';
import { subscriptionAccountId } from '../store/subscriptions.store';
import { createAuthenticator } from './auth';
import { ApiError, errorBody, toApiError } from './errors';
import { mountRoutes, registerOpenApi, RouteDef } from './http';
import { createIdempotency } from './idempotency';
import { httpMetrics, metricsHandler, nameRoute } from './metrics';
import { createRateLimiter } from './rate-limit';
import { accountRoutes } from './routes/accounts.routes';
import { billingPage, BILLING_PAGE_MOUNT } from './routes/billing-page';
import { catalogRoutes } from './routes/catalog.routes';
import { docsPage } from './routes/docs';
import { keyRoutes } from './routes/keys.routes';
import { healthRoutes } from './routes/health.routes';
import { cardRoutes } from './routes/card.routes';
import { couponRoutes } from './routes/coupons.routes';
import { creditLineRoutes } from './routes/credit-line.routes';
import { discountRoutes } from './routes/discounts.routes';
import { ledgerRoutes } from './routes/ledger.routes';
import { notificationRoutes } from './routes/notifications.routes';
import { orderRoutes } from './routes/orders.routes';
import { serverRoutes } from './routes/servers.routes';
import { subscriptionRoutes } from './routes/subscriptions.routes';
import { billRoutes } from './routes/bills.routes';
import { payPerUseRoutes } from './routes/pay-per-use.routes';
import { webhookRoutes } from './routes/webhooks.routes';
import { sandboxSmsRoutes } from './routes/sandbox-sms.routes';
import { quoteRoutes } from './routes/quotes.routes';
import { usagePackageRoutes } from './routes/usage-packages.routes';
import { usageRecordRoutes } from './routes/usage-records.routes';

export interface ApiDeps {
  db: Knex;
  temporal: Client;
  payments: PaymentEngine;
  catalog: Catalog;
  logger: Logger;
  /** The API's clock; default the host's (tests pass one that follows the time-skipping server). */
  clock?: { now(): Date };
  settings: {
    taskQueue: string;
    offsetMinutes: number; // R-T1
    arrears: Record<CustomerLevel, ArrearsPeriods>; // R-A4
    rateLimitPerMinute?: number;
    /** How long an Idempotency-Key claim of a process that died blocks its retry (IDEMPOTENCY_LEASE_MS). */
    idempotencyLeaseMs?: number;
  };
  /** true once the process is shutting down: /health/ready answers 503 so traffic moves away */
  draining?: () => boolean;
  /**
   * Serve GET /metrics on this app (default). api/main.ts turns it off when METRICS_PORT puts
   * the metrics on a port of their own.
   */
  serveMetrics?: boolean;
}

/** Every route of the API, in one table (the auth matrix test and the OpenAPI document read it). */
export function buildRoutes(deps: ApiDeps): RouteDef[] {
  return [...healthRoutes(deps), ...accountRoutes(deps), ...keyRoutes(deps), ...creditLineRoutes(deps), ...cardRoutes(deps), ...couponRoutes(deps), ...discountRoutes(deps), ...ledgerRoutes(deps), ...orderRoutes(deps), ...notificationRoutes(deps), ...subscriptionRoutes(deps), ...payPerUseRoutes(deps), ...usageRecordRoutes(deps), ...usagePackageRoutes(deps), ...billRoutes(deps), ...serverRoutes(deps), ...catalogRoutes(deps), ...quoteRoutes(deps), ...webhookRoutes(deps), ...sandboxSmsRoutes(deps)];
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

/** The account a request acts on: its path's account, its body's, or its subscription's or order's. */
async function targetAccount(db: Knex, route: RouteDef, ctx: { params: unknown; body: unknown }): Promise<string | null> {
  const params = (ctx.params ?? {}) as Record<string, string>;
  const body = (ctx.body ?? {}) as Record<string, unknown>;
  if (route.path.startsWith('/v1/accounts/{id}')) return params.id;
  if (typeof body.account_id === 'string') return body.account_id;
  const subscriptionId = route.path.startsWith('/v1/subscriptions/{id}') ? params.id : typeof body.subscription_id === 'string' ? body.subscription_id : null;
  if (subscriptionId) return subscriptionAccountId(db, subscriptionId);
  if (route.path.startsWith('/v1/orders/{order_id}')) return orderAccountId(db, params.order_id);
  return null;
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  // Answers carry balances and, once, secrets: nothing in between may keep a copy.
  app.use((_req, res, next) => { res.setHeader('Cache-Control', 'no-store'); next(); });
  // First, so a request refused by the body parser or a 404 is counted too.
  app.use(httpMetrics());
  app.use(express.json({ limit: '1mb', strict: true }));

  // The gauges read from Postgres at scrape are the API's to report: one answer per deployment,
  // where each worker replica reporting them would multiply every sum over instances.
  setOperationalSource(() => readOperationalSnapshot(deps.db));
  const routes = buildRoutes(deps);
  const openapi = buildOpenApiDocument(routes);
  if (deps.serveMetrics !== false) app.get('/metrics', metricsHandler());
  app.get('/v1/openapi.json', (_req, res) => { nameRoute(res, '/v1/openapi.json'); res.json(openapi); });
  app.get('/docs', (_req, res) => { nameRoute(res, '/docs'); res.type('html').send(docsPage('/v1/openapi.json')); });
  app.use(BILLING_PAGE_MOUNT, (_req, res, next) => { nameRoute(res, `${BILLING_PAGE_MOUNT}/*`); next(); }, billingPage());

  const router = express.Router();
  mountRoutes(router, routes, {
    authenticate: createAuthenticator(deps.db),
    idempotent: createIdempotency(deps.db, { leaseMs: deps.settings.idempotencyLeaseMs }),
    targetAccount: (route, ctx) => targetAccount(deps.db, route, ctx),
    rateLimit: createRateLimiter({ perMinute: deps.settings.rateLimitPerMinute ?? 600, burst: deps.settings.rateLimitPerMinute ?? 600 }),
  });
  app.use(router);

  app.use((_req, _res, next) => next(new ApiError(404, 'NOT_FOUND', 'no such route')));
  // One place maps every error to the API's shape; unknown errors are logged, never shown.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    void _next;
    const e = toApiError(err);
    if (e.status >= 500) deps.logger.error({ err, method: req.method, path: req.path }, 'request failed');
    if ((e.status === 429 || e.status === 503) && e.details?.retry_after_seconds) res.setHeader('Retry-After', String(e.details.retry_after_seconds));
    res.status(e.status).json(errorBody(e));
  });
  return app;
}
