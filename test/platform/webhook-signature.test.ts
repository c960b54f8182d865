import { createHmac } from 'node:crypto';
import { signatureHeader, verifySignature } from '../../common/webhook-signature';

// R-I4: the signature receivers check (docs/notifications.md).
describe('Quotaflow-Signature', () => {
  const secret = 'whsec_0123456789abcdef';
  const body = '{"id":"evt_1","type":"resource.release"}';

  it('is t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    const mac = createHmac('sha256', secret).update(`1767225600.${body}`).digest('hex');
    expect(signatureHeader(secret, body, 1767225600)).toBe(`t=1767225600,v1=${mac}`);
  });

  it('verifies the body it signs, and refuses another body, another secret, an old timestamp or no header', () => {
    const h = signatureHeader(secret, body, 1767225600);
    const at = { nowS: 1767225600 + 60 };
    expect(verifySignature(secret, body, h, at)).toBe(true);
    expect(verifySignature(secret, body.replace('release', 'freeze'), h, at)).toBe(false);
    expect(verifySignature('whsec_other_secret_000', body, h, at)).toBe(false);
    expect(verifySignature(secret, body, h, { nowS: 1767225600 + 301 })).toBe(false);
    expect(verifySignature(secret, body, undefined, at)).toBe(false);
    expect(verifySignature(secret, body, 't=abc,v1=00', at)).toBe(false);
  });
});
