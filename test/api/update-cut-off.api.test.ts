import { Client, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import request from 'supertest';
import { createApp } from '../../api/app';
import { ApiWorld, createApiWorld } from '../support/api';

// Found by the system tier (issue #13, scenario 1): when the worker serving a subscription dies,
// the renewal's update call can end at the API's Temporal budget as a gRPC CANCELLED, which the
// SDK raises as WorkflowUpdateRPCTimeoutOrCancelledError. The API answered that with 500
// INTERNAL; it is the same "the workflow service did not answer in time" as a DEADLINE_EXCEEDED:
// 503 SERVICE.UNAVAILABLE, and the client's retry with the same Idempotency-Key gets the outcome.
describe('an update call cut off at the Temporal budget', () => {
  let w: ApiWorld;
  let cutOff = 0;
  let app: ApiWorld['app'];
  beforeAll(async () => {
    w = await createApiWorld();
    const client = w.env.client;
    // The update reaches the workflow (the renewal happens); its call then ends as cancelled.
    const handle = (h: ReturnType<Client['workflow']['getHandle']>) => new Proxy(h, {
      get(target, p) {
        const v = Reflect.get(target, p, target);
        if (p !== 'executeUpdate') return typeof v === 'function' ? v.bind(target) : v;
        return async (...args: Parameters<typeof target.executeUpdate>) => {
          const result = await target.executeUpdate(...args);
          if (cutOff > 0) {
            cutOff -= 1;
            throw new WorkflowUpdateRPCTimeoutOrCancelledError('Call cancelled', { cause: Object.assign(new Error('1 CANCELLED: Call cancelled'), { code: 1 }) });
          }
          return result;
        };
      },
    });
    const workflow = new Proxy(client.workflow, {
      get(target, p) {
        const v = Reflect.get(target, p, target);
        if (p === 'getHandle') return (...args: Parameters<typeof target.getHandle>) => handle(target.getHandle(...args));
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    app = createApp({ ...w.deps, temporal: new Proxy(client, { get: (target, p) => (p === 'workflow' ? workflow : Reflect.get(target, p, target)) }) as Client });
  });
  afterAll(async () => { await w?.close(); });

  it('answers 503 SERVICE.UNAVAILABLE, never 500, and the retry with the same key renews once', async () => {
    const c = await w.newCustomer({ cash: '100.00' });
    const bought = await w.as(c.key).post('/v1/subscriptions', { account_id: c.id, product: 'host-security', edition: 'enterprise', region: 'cn-hangzhou', quantity: 1, term: { unit: 'month', count: 1 } }, 'buy');
    expect(bought.status).toBe(201);
    const renew = () => request(app).post(`/v1/subscriptions/${bought.body.id}/renewals`).set('Authorization', `Bearer ${c.key}`).set('Idempotency-Key', 'renew-1').send({ term: { unit: 'month', count: 1 } });
    cutOff = 1;
    const first = await renew();
    expect([first.status, first.body.error?.code]).toEqual([503, 'SERVICE.UNAVAILABLE']);
    expect(first.headers['retry-after']).toBe('2');
    const retried = await renew();
    expect([retried.status, retried.body.term_number]).toEqual([201, 2]);
    const terms = await w.db('subscription_terms').where({ subscription_id: bought.body.id, kind: 'manual_renewal' });
    expect(terms).toHaveLength(1);
  });
});
