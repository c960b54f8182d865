import { renewUpdate } from '../../workflows/subscription.messages';
import { buy, local } from '../support/subscriptions';
import { anAccount, createWorld, World } from '../support/world';

// Issue #13, scenario 6: after a worker dies, its workflows' tasks go to a worker that has never
// seen them and replays each history from the start. A worker without a workflow cache does
// that on every task, so concurrent money-moving updates here go through replay each time:
// every renewal must still pay for exactly one term of its own.
describe('renewals on a worker that replays every workflow task from the start', () => {
  let world: World;
  beforeAll(async () => { world = await createWorld({ workerOverrides: { maxCachedWorkflows: 0 } }); });
  afterAll(async () => { await world?.close(); });
  const month = { unit: 'month' as const, count: 1 };

  it('4 rounds of 3 renewals sent together: 12 months more, 13 terms, each paid by its own order', async () => {
    const accountId = await anAccount(world, { cash: '500.00' });
    const sub = await buy(world, { accountId });
    const { expiresAt } = await sub.state();
    const renew = (requestKey: string) => sub.handle.executeUpdate(renewUpdate, { args: [{ term: month, requestKey }] });
    for (let round = 0; round < 4; round += 1) {
      const answers = await Promise.all([renew(`a${round}`), renew(`b${round}`), renew(`c${round}`), renew(`a${round}`)]);
      expect(answers.map((a) => a.ok)).toEqual([true, true, true, true]);
    }
    expect((await sub.state()).expiresAt).toBe(local(expiresAt).plus({ months: 12 }).toMillis());
    const terms = await world.db('subscription_terms').where({ subscription_id: sub.id }).orderBy('term_number');
    const paid = await world.db('orders').where({ subscription_id: sub.id, status: 'paid' }).pluck('id');
    expect(terms.map((t) => t.term_number)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(terms.map((t) => t.order_id).sort()).toEqual([...paid].sort());
    expect((await world.payments.getBalances(accountId)).cash).toBe('175.00'); // 500 − 13 × 25.00
  });
});
