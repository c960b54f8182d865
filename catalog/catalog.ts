import { z } from 'zod';
import defaultCatalogJson from './default-catalog.json';
import { quotaHourMetric } from '../billing/usage';

// SPEC §3: the catalog is data. This module validates it and answers lookups; it does no I/O
// itself (a file given by QUOTAFLOW_CATALOG is read by the caller and passed to parseCatalog).
const price = z.string().regex(/^\d+\.\d{2}$/);
const unitPrice = z.string().regex(/^\d+\.\d{1,6}$/);

const editionSchema = z.object({
  edition: z.string().min(1),
  rank: z.number().int(),
  monthly: price.nullable(),
  yearly: price.nullable(),
  pay_per_use_hourly: unitPrice.nullable(),
  trial_days: z.number().int().positive().optional(),
  free: z.boolean().optional(),
  server_kinds: z.array(z.enum(['host', 'container'])).min(1),
  notes: z.string().optional(),
});

const catalogSchema = z.object({
  currency: z.string().length(3),
  regions: z.array(z.string().min(1)).min(1),
  services: z.array(z.object({ service: z.string(), metric: z.string(), unit_price: unitPrice, notes: z.string().optional() })),
  products: z.array(
    z.object({
      product: z.string().min(1),
      arrears_policy: z.enum(['grace_then_freeze', 'isolate']), // R-S9
      editions: z.array(editionSchema).min(1),
    }),
  ),
});

export type Catalog = z.infer<typeof catalogSchema>;
export type CatalogEdition = z.infer<typeof editionSchema>;
export type CatalogProduct = Catalog['products'][number];
export type BillingMode = 'yearly_monthly' | 'pay_per_use';

export function parseCatalog(json: unknown): Catalog {
  return catalogSchema.parse(json);
}

export const defaultCatalog: Catalog = parseCatalog(defaultCatalogJson);

export function findProduct(catalog: Catalog, product: string): CatalogProduct | undefined {
  return catalog.products.find((p) => p.product === product);
}

export function findEdition(catalog: Catalog, product: string, edition: string): CatalogEdition | undefined {
  return findProduct(catalog, product)?.editions.find((e) => e.edition === edition);
}

/** R-C1: which billing modes an edition offers (a missing price means "not offered"). */
export function offersMode(e: CatalogEdition, mode: BillingMode): boolean {
  return mode === 'pay_per_use' ? e.pay_per_use_hourly !== null : e.monthly !== null || e.yearly !== null;
}

/** R-U4: a metric that usage packages can be bought for, and what one unit of content costs. */
export interface PackageMetric {
  metric: string;
  /** price of one unit of content (a scan, a quota-hour) */
  unitPrice: string;
  /** the order's product (R-P1 purpose): the service, or the product of the edition */
  product: string;
}

// R-U4: packages exist for every metered service (R-C4) and, as quota-hours, for every edition
// that offers pay-per-use (SPEC "720 quota-hours"), priced at the edition's hourly price.
export function packageMetrics(catalog: Catalog): Map<string, PackageMetric> {
  const out = new Map<string, PackageMetric>();
  for (const s of catalog.services) out.set(s.metric, { metric: s.metric, unitPrice: s.unit_price, product: s.service });
  for (const p of catalog.products) {
    for (const e of p.editions) {
      if (e.pay_per_use_hourly === null) continue;
      const metric = quotaHourMetric(p.product, e.edition);
      out.set(metric, { metric, unitPrice: e.pay_per_use_hourly, product: p.product });
    }
  }
  return out;
}
