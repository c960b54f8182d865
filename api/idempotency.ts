import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { Knex } from 'knex';
import type { Principal } from './auth';
import { ApiError } from './errors';
import type { RouteResult } from './http';

const WAIT_STEP_MS = 50;
const WAIT_LIMIT_MS = 60_000;

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/**
 * Idempotency-Key (API.md): the first request with a key runs; a repeat with the same body gets
 * the stored response; another body gets 422. Concurrent repeats wait for the first to finish,
 * so 50 parallel requests make one effect and 50 identical answers. A 5xx is not stored, so
 * the client can retry a real fault.
 */
export function createIdempotency(db: Knex) {
  return async function idempotent(principal: Principal, req: Request, run: () => Promise<RouteResult>): Promise<RouteResult> {
    const key = req.header('idempotency-key') as string;
    if (key.length === 0 || key.length > 255) throw new ApiError(400, 'VALIDATION.IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 characters');
    const bodyHash = createHash('sha256').update(`${req.method} ${req.originalUrl.split('?')[0]} ${stableStringify(req.body)}`).digest('hex');
    const owner = principal.accountId ?? `operator:${principal.keyId}`;
    const claimed = await db('idempotent_requests')
      .insert({ principal: owner, idempotency_key: key, method: req.method, path: req.originalUrl.split('?')[0], body_hash: bodyHash })
      .onConflict(['principal', 'idempotency_key'])
      .ignore()
      .returning('idempotency_key');
    if (claimed.length === 0) return replay(owner, key, bodyHash);
    let result: RouteResult;
    try {
      result = await run();
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 500;
      if (status >= 500 || status === 429) {
        await db('idempotent_requests').where({ principal: owner, idempotency_key: key }).delete();
      } else if (err instanceof ApiError) {
        await store(owner, key, { status, body: { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } } });
      }
      throw err;
    }
    await store(owner, key, result);
    return result;
  };

  async function store(owner: string, key: string, result: RouteResult): Promise<void> {
    await db('idempotent_requests')
      .where({ principal: owner, idempotency_key: key })
      .update({ status_code: result.status, response_body: JSON.stringify(result.body ?? null), completed_at: db.fn.now() });
  }

  async function replay(owner: string, key: string, bodyHash: string): Promise<RouteResult> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    for (;;) {
      const row = await db('idempotent_requests').where({ principal: owner, idempotency_key: key }).first();
      if (!row) throw new ApiError(409, 'IDEMPOTENCY.RETRY', 'the first request with this Idempotency-Key failed; retry it');
      if (row.body_hash !== bodyHash) {
        throw new ApiError(422, 'IDEMPOTENCY.MISMATCH', 'this Idempotency-Key was used with a different request');
      }
      if (row.completed_at) return { status: row.status_code, body: row.response_body ?? undefined };
      if (Date.now() > deadline) throw new ApiError(409, 'IDEMPOTENCY.IN_PROGRESS', 'a request with this Idempotency-Key is still being processed');
      await new Promise((r) => setTimeout(r, WAIT_STEP_MS));
    }
  }
}
