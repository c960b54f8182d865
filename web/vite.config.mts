import { defineConfig } from 'vite';

// `npm run build:web` (part of `npm run build`): web/ → dist/billing-center, which the API
// serves at /billing/ (api/routes/billing-page.ts). Paths are relative to the repository root,
// where npm runs scripts. Everything is bundled: the page loads nothing from another origin.
export default defineConfig({
  root: 'web',
  base: '/billing/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/billing-center',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // one small page: no module-preload polyfill (an inline script the CSP would refuse)
    modulePreload: { polyfill: false },
  },
});
