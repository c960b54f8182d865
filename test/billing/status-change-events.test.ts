import { arrearsStatusChanges, subscriptionStatusChanges, webhookBackoffMs } from '../../billing/status-change-events';

// R-I4: which steps call the protecting systems.
describe('R-I4 status change calls per lifecycle step', () => {
  it.each([
    ['purchased', 'active', null, ['subscription.active']],
    ['grace_entered', 'grace', 'active', ['subscription.grace']],
    ['frozen', 'frozen', 'grace', ['resource.freeze']],
    ['isolated', 'isolated', 'active', ['resource.freeze']],
    ['renewed', 'active', 'grace', ['subscription.renewed']],
    ['renewed', 'active', 'frozen', ['subscription.renewed', 'resource.unfreeze']],
    ['renewed_manually', 'active', 'isolated', ['subscription.renewed', 'resource.unfreeze']],
    ['released', 'released', 'frozen', ['resource.release']],
    ['unsubscribed', 'unsubscribed', 'active', ['subscription.unsubscribed', 'resource.release']],
    ['expiry_reminder', 'active', 'active', []],
    ['auto_renew_changed', 'active', 'active', []],
  ])('subscription %s (%s, was %s) → %j', (event, status, before, types) => {
    expect(subscriptionStatusChanges(event, status, before)).toEqual(types);
  });

  it('pay-per-use arrears (R-U5): frozen and released stop the resources; paying restores, unfreezing only what was frozen', () => {
    expect(arrearsStatusChanges('arrears_grace', null)).toEqual(['arrears.grace']);
    expect(arrearsStatusChanges('arrears_frozen', null)).toEqual(['arrears.frozen', 'resource.freeze']);
    expect(arrearsStatusChanges('arrears_released', null)).toEqual(['arrears.released', 'resource.release']);
    expect(arrearsStatusChanges('arrears_restored', 'grace')).toEqual(['arrears.restored']);
    expect(arrearsStatusChanges('arrears_restored', 'frozen')).toEqual(['arrears.restored', 'resource.unfreeze']);
    expect(arrearsStatusChanges('arrears_reminder', null)).toEqual([]);
  });

  it('retries back off exponentially from the base, at most 6 hours apart', () => {
    expect([1, 2, 3, 4].map((n) => webhookBackoffMs(n))).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect(webhookBackoffMs(40)).toBe(6 * 3_600_000);
  });
});
