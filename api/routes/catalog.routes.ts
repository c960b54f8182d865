import { z } from 'zod';
import type { ApiDeps } from '../app';
import { defineRoute, RouteDef } from '../http';

// API.md v1.1: GET /v1/catalog — the catalog (SPEC §3) as the Billing Center and other clients
// read it: products, editions, prices per billing mode (decimal strings; null = that mode is not
// offered, R-C1), regions (R-C2) and the metered services (R-C4). It is the same data every
// purchase is checked against (deps.catalog), so what a client offers is what the API accepts.

const priceOrNull = z.string().nullable();

const catalogEditionSchema = z.object({
  edition: z.string(),
  rank: z.number().int().openapi({ description: 'higher is a higher edition of the same product (R-S12 upgrades go up)' }),
  prices: z.object({
    monthly: priceOrNull.openapi({ description: 'list price per quota per month', example: '25.00' }),
    yearly: priceOrNull.openapi({ description: 'list price per quota per year', example: '250.00' }),
    pay_per_use_hourly: priceOrNull.openapi({ description: 'price per quota-hour (up to 6 decimals)', example: '0.040000' }),
  }),
  trial_days: z.number().int().nullable().openapi({ description: 'length of the free trial (R-S2); null when there is none' }),
  free: z.boolean(),
  server_kinds: z.array(z.enum(['host', 'container'])),
  notes: z.string().nullable(),
}).openapi('CatalogEdition');

export const catalogSchema = z.object({
  currency: z.string(),
  products: z.array(z.object({
    product: z.string(),
    arrears_policy: z.enum(['grace_then_freeze', 'isolate']),
    editions: z.array(catalogEditionSchema),
  })),
  regions: z.array(z.string()),
  services: z.array(z.object({ service: z.string(), metric: z.string(), unit_price: z.string() })),
}).openapi('Catalog');

export function catalogRoutes(deps: ApiDeps): RouteDef[] {
  // The catalog is fixed for the life of the process: the answer is built once.
  const body: z.infer<typeof catalogSchema> = {
    currency: deps.catalog.currency,
    products: deps.catalog.products.map((p) => ({
      product: p.product,
      arrears_policy: p.arrears_policy,
      editions: p.editions.map((e) => ({
        edition: e.edition,
        rank: e.rank,
        prices: { monthly: e.monthly, yearly: e.yearly, pay_per_use_hourly: e.pay_per_use_hourly },
        trial_days: e.trial_days ?? null,
        free: e.free ?? false,
        server_kinds: e.server_kinds,
        notes: e.notes ?? null,
      })),
    })),
    regions: deps.catalog.regions,
    services: deps.catalog.services.map((s) => ({ service: s.service, metric: s.metric, unit_price: s.unit_price })),
  };

  return [
    defineRoute({
      method: 'get',
      path: '/v1/catalog',
      summary: 'The product catalog: products, editions, prices per billing mode (null = not offered), regions, metered services',
      // Any valid key (customer or operator) reads it: mountRoutes enforces 'owner' as "a valid
      // key"; ownership is each handler's check, and the catalog belongs to no account.
      access: 'owner',
      tags: ['catalog'],
      responses: { 200: { description: 'the catalog', schema: catalogSchema } },
      handler: async () => ({ status: 200, body }),
    }),
  ];
}
