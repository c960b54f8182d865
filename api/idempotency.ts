import { createHash } from 'node:crypto';
import { faultPoint } from '../common/faults';
import type { Request } from 'express';
import type { Knex } from 'knex';
import {
  claimIdempotencyKey,
  completeIdempotentRequest,
  findIdempotentRequest,
  releaseClaim,
  renewClaim,
  storedResponseBody,
  takeOverStaleClaim,
} from '../store/idempotency.store';
import { API_KEY_PATTERN, Principal } from './auth';
import { ApiError, errorBody, toApiError } from './errors';
import type { RouteResult } from './http';

export interface IdempotencyOptions {
  /** How long a repeat waits for the first request with its key to finish. */
  waitLimitMs?: number;
  /** How often a waiting repeat looks again. */
  pollMs?: number;
  /**
   * A claim not renewed for this long belongs to a process that died mid-request; the next
   * request with the key takes it over (the handlers' own business keys make the re-run safe).
   */
  leaseMs?: number;
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** API keys are shown once and stored hashed: a stored response never keeps one (a replay shows null). */
function withoutSecrets(v: unknown): unknown {
  if (typeof v === 'string') return API_KEY_PATTERN.test(v) ? null : v;
  if (Array.isArray(v)) return v.map(withoutSecrets);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutSecrets(x)]));
  return v;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Idempotency-Key (API.md): the first request with a key runs; a repeat with the same method,
 * path and body gets the stored response (status and body, byte for byte); another request
 * gets 422 `IDEMPOTENCY.MISMATCH`.
 *
 * - The claim is one atomic insert (primary key (principal, key)): of 50 concurrent requests
 *   exactly one runs; the others wait for its answer, so there is one effect and 50 answers.
 * - A 5xx or 429 is not stored: the claim is released and the key can be retried. 4xx answers
 *   (refusals) are stored and replayed, like successes.
 * - The running request renews its claim; a claim left by a crashed process expires after
 *   `leaseMs` and the next request with the key takes it over.
 */
export function createIdempotency(db: Knex, opts: IdempotencyOptions = {}) {
  const waitLimitMs = opts.waitLimitMs ?? 60_000;
  const pollMs = opts.pollMs ?? 50;
  const leaseMs = opts.leaseMs ?? 120_000;

  /**
   * `account`: the account the request acts on. A key belongs to that account whoever sends it,
   * its customer or an operator, so the same request under one key has one outcome (issue #11:
   * the money model found a purchase refused under a key for the customer, then made under the
   * same key by an operator once its date had become valid). A customer's requests always count
   * under its own account, so no one can claim another account's keys. An operator's request
   * that names no account keeps the operator key's own scope.
   */
  return async function idempotent(principal: Principal, req: Request, run: () => Promise<RouteResult>, account: string | null = principal.accountId): Promise<RouteResult> {
    const key = req.header('idempotency-key') as string;
    if (!/^[\x20-\x7e]{1,255}$/.test(key)) throw new ApiError(400, 'VALIDATION.IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 printable ASCII characters');
    const path = req.originalUrl.split('?')[0];
    const bodyHash = createHash('sha256').update(`${req.method} ${path} ${stableStringify(req.body ?? {})}`).digest('hex');
    const owner = (principal.scope === 'customer' ? principal.accountId : account) ?? `operator:${principal.keyId}`;
    const where = { principal: owner, idempotency_key: key };
    const deadline = Date.now() + waitLimitMs;

    for (;;) {
      if (await claimIdempotencyKey(db, where, { method: req.method, path, bodyHash })) return execute();

      const row = await findIdempotentRequest(db, where);
      if (!row) continue; // the first request failed and let go of the key: claim it ourselves
      if (row.body_hash !== bodyHash) throw new ApiError(422, 'IDEMPOTENCY.MISMATCH', 'this Idempotency-Key was used with a different request', { idempotency_key: key });
      if (row.completed_at) return replay(row);
      // A claim nobody renewed: its process died. Exactly one waiter wins the take-over.
      if (await takeOverStaleClaim(db, where, leaseMs)) return execute();
      if (Date.now() > deadline) throw new ApiError(409, 'IDEMPOTENCY.IN_PROGRESS', 'a request with this Idempotency-Key is still being processed; retry later');
      await sleep(pollMs);
    }

    async function execute(): Promise<RouteResult> {
      const renew = setInterval(() => {
        renewClaim(db, where).catch(() => undefined);
      }, Math.max(1000, leaseMs / 3));
      renew.unref();
      let result: RouteResult;
      try {
        result = await run();
      } catch (err) {
        const e = toApiError(err);
        if (e.status >= 500 || e.status === 429) await releaseClaim(db, where);
        else await store({ status: e.status, body: errorBody(e) });
        throw err;
      } finally {
        clearInterval(renew);
      }
      // Issue #13, scenario 4: dying here leaves the effect done and the claim unanswered; the
      // retry takes the claim over once its lease lapses and the handler's own keys replay it.
      faultPoint('api.before-answer-stored');
      return store(result);
    }

    /**
     * Keeps the answer as JSON text (a jsonb string: a jsonb object would reorder its keys) and
     * answers with the same text, so the first answer and every replay are identical.
     */
    async function store(result: RouteResult): Promise<RouteResult> {
      const text = result.body === undefined ? null : JSON.stringify(result.body);
      await completeIdempotentRequest(db, where, result.status, text === null ? null : JSON.stringify(withoutSecrets(JSON.parse(text))));
      return { ...result, body: text === null ? undefined : JSON.parse(text) };
    }
  };

  function replay(row: { status_code: number | null; response_body: unknown }): RouteResult {
    return { status: row.status_code as number, body: storedResponseBody(row), headers: { 'Idempotent-Replayed': 'true' } };
  }
}
