import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { builtPageDir } from '../../../api/routes/billing-page';
import { listen, type RunningServer } from '../../../api/server';
import { envClock } from '../../usage/support';
import { createApiWorld, OPERATOR_KEY, type ApiWorld } from '../../support/api';

// The Billing Center in a real Chromium (Debian's package, driven by playwright-core) against
// the real API, worker, Postgres and Temporal test server: createApiWorld's app, listening on a
// real port so the browser can reach it.

export const CHROMIUM = process.env.QUOTAFLOW_CHROMIUM ?? '/usr/bin/chromium';

/** Without the background-networking flags Chromium calls Google's services; this network refuses them. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export const SCREENSHOT_DIR = resolve(__dirname, '../../../.artifacts/screenshots');
const AXE_SOURCE = () => readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export interface BrowserWorld {
  api: ApiWorld;
  clock: ReturnType<typeof envClock>;
  origin: string;
  /** http://127.0.0.1:<port>/billing/ */
  url: string;
  operatorKey: string;
  /** A fresh browser profile (Chromium with its own user-data-dir); `locale` sets navigator.language. */
  browser(opts?: { locale?: string }): Promise<BrowserContext>;
  close(): Promise<void>;
}

export async function createBrowserWorld(): Promise<BrowserWorld> {
  if (!builtPageDir()) throw new Error('the Billing Center is not built: run `npm run build:web` (npm run test:browser does)');
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (.ci/run does)`);
  const clock = envClock();
  const api = await createApiWorld({ clock });
  await clock.sync(api.env);
  let server: RunningServer;
  try {
    server = await listen(api.app, 0, '127.0.0.1');
  } catch (err) {
    await api.close();
    throw err;
  }
  const origin = `http://127.0.0.1:${server.port}`;
  const contexts: { context: BrowserContext; dir: string }[] = [];
  return {
    api,
    clock,
    origin,
    url: `${origin}/billing/`,
    operatorKey: OPERATOR_KEY,
    async browser(opts = {}) {
      const dir = mkdtempSync(join(tmpdir(), 'quotaflow-chromium-'));
      const context = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        locale: opts.locale ?? 'en-US',
        viewport: { width: 1280, height: 900 },
      });
      context.setDefaultTimeout(20_000);
      contexts.push({ context, dir });
      return context;
    },
    async close() {
      for (const { context, dir } of contexts.splice(0)) {
        await context.close().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      }
      await server.close();
      await api.close();
    },
  };
}

/**
 * A page that fails its test on what a user would not see as an error: an uncaught exception,
 * a Content-Security-Policy refusal, or a request to another origin (the page is same-origin,
 * no CDN).
 */
export async function openPage(context: BrowserContext, origin: string): Promise<Page & { problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:')) problems.push(`request to another origin: ${u}`);
  });
  return Object.assign(page, { problems });
}

/** axe-core (from node_modules, injected through the DevTools protocol: the page's CSP stays on) on the page as it is now. */
export async function axeViolations(page: Page, impacts: string[] = ['serious', 'critical']): Promise<string[]> {
  const loaded = await page.evaluate('typeof window.axe === "object"');
  if (!loaded) await page.evaluate(`${AXE_SOURCE()}\n;void 0`);
  const result = (await page.evaluate(`window.axe.run(document, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })`)) as {
    violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[]; failureSummary?: string }[] }[];
  };
  return result.violations
    .filter((v) => v.impact !== null && impacts.includes(v.impact))
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)).join(', ')}`);
}

/** A full-page screenshot under .artifacts/screenshots (gitignored): the test artifacts. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // A modal's backdrop covers the viewport only: with a dialog open, the viewport is the picture.
  const modal = await page.evaluate('Boolean(document.querySelector("dialog[open]"))');
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: !modal });
}

/** Signs in through the form, as a person would. */
export async function signIn(page: Page, url: string, key: string, accountId: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('API key').fill(key);
  await page.getByLabel('Account ID').fill(accountId);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Subscriptions' }).waitFor();
}

/** What has the keyboard focus: `tag#id "accessible text"`. */
export async function focused(page: Page): Promise<string> {
  return page.evaluate(`(() => {
    const e = document.activeElement;
    if (!e) return '';
    const text = (e.getAttribute('aria-label') || e.labels?.[0]?.textContent || e.textContent || '').trim().replace(/\\s+/g, ' ');
    return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' "' + text + '"';
  })()`) as Promise<string>;
}

/** Presses Tab until the focused element matches (keyboard-only paths); fails after `max` presses. */
export async function tabTo(page: Page, match: RegExp, max = 60): Promise<string> {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(f);
    if (match.test(f)) return f;
  }
  throw new Error(`Tab never reached ${match}; focus went through: ${seen.join(' → ')}`);
}
