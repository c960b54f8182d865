import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { httpRequestDuration, httpRequests, metricsText, METRICS_CONTENT_TYPE } from '../common/metrics';

// HTTP metrics (issue 14). The route label is the route's template (`/v1/subscriptions/{id}`),
// set by whoever answers (mountRoutes for the route table; the few routes outside it name
// themselves), never the raw path: one series per route, not one per subscription id.
export const UNMATCHED_ROUTE = 'unmatched';

/** Names the route a request was answered by, for the metrics label. */
export function nameRoute(res: Response, template: string): void {
  res.locals.metricsRoute = template;
}

/** Counts and times every request once it has been answered (or its client went away). */
export function httpMetrics(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const stop = httpRequestDuration.startTimer();
    let done = false;
    const record = () => {
      if (done) return;
      done = true;
      const labels = { route: String(res.locals.metricsRoute ?? UNMATCHED_ROUTE), method: req.method, status: String(res.statusCode) };
      httpRequests.inc(labels);
      stop(labels);
    };
    res.once('finish', record);
    res.once('close', record);
    next();
  };
}

/** GET /metrics: Prometheus text, no key (Prometheus scrapes without one; bind it privately). */
export function metricsHandler(): RequestHandler {
  return (_req, res, next) => {
    nameRoute(res, '/metrics');
    metricsText().then((text) => { res.setHeader('Content-Type', METRICS_CONTENT_TYPE); res.send(text); }, next);
  };
}
