import type { Knex } from 'knex';

// The Idempotency-Key rows (API.md): one per (principal, key), claimed by the first request,
// renewed while it runs, completed with its answer. The HTTP rules (what is stored, what is
// replayed, how long a repeat waits) are api/idempotency.ts's.

const TABLE = 'idempotent_requests';

export interface IdempotencyKey {
  principal: string;
  idempotency_key: string;
}

export interface IdempotentRequestRow extends IdempotencyKey {
  method: string;
  path: string;
  body_hash: string;
  status_code: number | null;
  response_body: unknown;
  created_at: Date;
  completed_at: Date | null;
}

/** The claim: one atomic insert; true when this request holds the key now. */
export async function claimIdempotencyKey(db: Knex, key: IdempotencyKey, request: { method: string; path: string; bodyHash: string }): Promise<boolean> {
  const claimed = await db(TABLE)
    .insert({ ...key, method: request.method, path: request.path, body_hash: request.bodyHash })
    .onConflict(['principal', 'idempotency_key'])
    .ignore()
    .returning('idempotency_key');
  return claimed.length > 0;
}

export async function findIdempotentRequest(db: Knex, key: IdempotencyKey): Promise<IdempotentRequestRow | undefined> {
  return db(TABLE).where(key).first();
}

/** Takes over a claim nobody renewed for `leaseMs` (its process died); exactly one caller wins. */
export async function takeOverStaleClaim(db: Knex, key: IdempotencyKey, leaseMs: number): Promise<boolean> {
  const taken = await db(TABLE)
    .where(key)
    .whereNull('completed_at')
    .where('created_at', '<', db.raw(`now() - make_interval(secs => ?)`, [leaseMs / 1000]))
    .update({ created_at: db.fn.now() })
    .returning('idempotency_key');
  return taken.length > 0;
}

/** The running request keeps its claim alive. */
export async function renewClaim(db: Knex, key: IdempotencyKey): Promise<void> {
  await db(TABLE).where(key).whereNull('completed_at').update({ created_at: db.fn.now() });
}

/** Lets go of an unfinished claim, so the key can be retried. */
export async function releaseClaim(db: Knex, key: IdempotencyKey): Promise<void> {
  await db(TABLE).where(key).whereNull('completed_at').delete();
}

/**
 * Completes the claim with its answer. The body is kept as JSON text (a jsonb string: a jsonb
 * object would reorder its keys), so every replay answers the same text.
 */
export async function completeIdempotentRequest(db: Knex, key: IdempotencyKey, status: number, bodyText: string | null): Promise<void> {
  await db(TABLE)
    .where(key)
    .update({ status_code: status, response_body: bodyText === null ? null : JSON.stringify(bodyText), completed_at: db.fn.now() });
}

/** The stored answer's body (undefined when it had none). */
export function storedResponseBody(row: Pick<IdempotentRequestRow, 'response_body'>): unknown {
  const stored = row.response_body;
  return stored === null || stored === undefined ? undefined : typeof stored === 'string' ? JSON.parse(stored) : stored;
}
