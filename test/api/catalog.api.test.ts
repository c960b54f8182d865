import { defaultCatalog } from '../../catalog/catalog';
import { ApiWorld, createApiWorld } from '../support/api';

// API.md v1.1: GET /v1/catalog — what the Billing Center offers is the catalog every purchase
// is checked against (SPEC §3), readable with any valid key.
describe('GET /v1/catalog', () => {
  let w: ApiWorld;
  beforeAll(async () => { w = await createApiWorld(); });
  afterAll(async () => { await w?.close(); });

  it('answers the catalog to a customer key and an operator key alike; no key is 401', async () => {
    const c = await w.newCustomer();
    const asCustomer = await w.as(c.key).get('/v1/catalog');
    expect(asCustomer.status).toBe(200);
    expect((await w.op().get('/v1/catalog')).body).toEqual(asCustomer.body);
    const anonymous = await w.as('').get('/v1/catalog');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('AUTH.UNAUTHENTICATED');
  });

  it('has every product, edition and region of the catalog, prices as decimal strings (null = not offered, R-C1)', async () => {
    const body = (await w.op().get('/v1/catalog')).body;
    expect(body.currency).toBe(defaultCatalog.currency);
    expect(body.regions).toEqual(defaultCatalog.regions);
    const enterprise = body.products.find((p: any) => p.product === 'host-security').editions.find((e: any) => e.edition === 'enterprise');
    expect(enterprise).toMatchObject({ prices: { monthly: '25.00', yearly: '250.00', pay_per_use_hourly: '0.040000' }, trial_days: null, server_kinds: ['host', 'container'] });
    const basic = body.products.find((p: any) => p.product === 'host-security').editions.find((e: any) => e.edition === 'basic');
    expect(basic).toMatchObject({ prices: { monthly: '5.00', yearly: '50.00', pay_per_use_hourly: null }, trial_days: 30 });
    expect(body.products.map((p: any) => [p.product, p.editions.map((e: any) => e.edition)])).toEqual(defaultCatalog.products.map((p) => [p.product, p.editions.map((e) => e.edition)]));
    expect(body.services).toEqual([{ service: 'image-scan', metric: 'image_scans', unit_price: '0.100000' }]);
  });
});
