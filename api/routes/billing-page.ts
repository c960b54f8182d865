import express, { NextFunction, Request, Response, Router } from 'express';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

// The Billing Center (issue 15): a static page built by `npm run build` (vite, web/) into
// dist/billing-center and served here at /billing/, same origin as the API it calls. It is
// files only: no server-side rendering, no route of the API table (it is not part of the
// OpenAPI document or the auth matrix).

export const BILLING_PAGE_MOUNT = '/billing';

/**
 * Where the built page is: next to the compiled API (dist/api/routes → dist/billing-center),
 * or, when the API runs from source (ts-jest, tsx), in the repository's dist/.
 */
export function builtPageDir(): string | null {
  const candidates = [resolve(__dirname, '../../billing-center'), resolve(__dirname, '../../dist/billing-center')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? null;
}

// The page loads only its own files and talks only to this origin; nothing may frame it (its
// buttons move money).
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  next();
}

/** Mount at BILLING_PAGE_MOUNT. `dir` defaults to the built page; null serves a "not built" page. */
export function billingPage(opts: { dir?: string | null } = {}): Router {
  const dir = opts.dir === undefined ? builtPageDir() : opts.dir;
  const router = express.Router({ strict: true });
  router.use(securityHeaders);
  // `/billing` → `/billing/`: the page's assets are addressed under /billing/.
  router.get('/', (req, res, next) => {
    if (req.originalUrl.split('?')[0] === BILLING_PAGE_MOUNT) return res.redirect(301, `${BILLING_PAGE_MOUNT}/`);
    next();
  });
  if (!dir) {
    router.get('/', (_req, res) => {
      res.status(503).type('html').send('<!doctype html><html lang="en"><title>Billing Center</title><h1>Billing Center</h1><p>The page is not built: run <code>npm run build</code>.</p></html>');
    });
    return router;
  }
  router.use(express.static(dir, {
    index: 'index.html',
    redirect: false,
    cacheControl: false, // index.html keeps the API's no-store; hashed assets are immutable
    setHeaders: (res, path) => {
      if (path.startsWith(join(dir, 'assets'))) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    },
  }));
  return router;
}
