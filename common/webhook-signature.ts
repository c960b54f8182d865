import { createHmac, timingSafeEqual } from 'node:crypto';

// R-I4 / issue #15: a status-change call is signed with the endpoint's secret, as
// `Quotaflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The timestamp is
// inside the signed text, so a receiver that also checks it is recent refuses replays.

export const SIGNATURE_HEADER = 'Quotaflow-Signature';

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** What a receiver does (docs/notifications.md): true when the header signs this body with this secret, within `toleranceS`. */
export function verifySignature(secret: string, body: string, header: string | undefined, opts: { nowS?: number; toleranceS?: number } = {}): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1) return false;
  const now = opts.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceS ?? 300)) return false;
  const expected = Buffer.from(signatureHeader(secret, body, t).split('v1=')[1], 'hex');
  const got = Buffer.from(parts.v1, 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
