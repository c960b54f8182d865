import type { Request } from 'express';
import type { Principal } from './auth';
import { ApiError } from './errors';

/**
 * Per-key token bucket (per client address for anonymous calls): `perMinute` requests a minute
 * on average, bursts up to `burst`. In memory: one API process holds its own buckets.
 */
export function createRateLimiter(opts: { perMinute: number; burst: number }) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return function rateLimit(principal: Principal | null, req: Request): void {
    const id = principal ? principal.keyId : `ip:${req.ip}`;
    const now = Date.now();
    const b = buckets.get(id) ?? { tokens: opts.burst, at: now };
    b.tokens = Math.min(opts.burst, b.tokens + ((now - b.at) / 60_000) * opts.perMinute);
    b.at = now;
    if (b.tokens < 1) {
      buckets.set(id, b);
      const retryAfter = Math.ceil(((1 - b.tokens) / opts.perMinute) * 60);
      throw new ApiError(429, 'RATE_LIMITED', `too many requests; retry in ${retryAfter} s`, { retry_after_seconds: retryAfter });
    }
    b.tokens -= 1;
    buckets.set(id, b);
    if (buckets.size > 100_000) {
      // Bounded memory under a key-spraying client: forget the buckets that have refilled (they
      // would start full anyway); only if that frees nothing, start over.
      for (const [k, v] of buckets) if (v.tokens + ((now - v.at) / 60_000) * opts.perMinute >= opts.burst) buckets.delete(k);
      if (buckets.size > 100_000) buckets.clear();
    }
  };
}
