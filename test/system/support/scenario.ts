import { Client, Connection } from '@temporalio/client';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, Db } from '../../../common/db';
import { checkMoneyInvariants, waitAtRest } from '../../model/money-model';
import type { HttpResponse, Stack } from '../../stack/stack';

// What the fault scenarios (issue #13) share: customers made over HTTP, retries the way a client
// makes them (same Idempotency-Key, until an answer that is not 503), the money invariants at the
// end of each round, and the figures each scenario reports for docs/reliability.md.

export interface Observer {
  db: Db;
  temporal: Client;
  close(): Promise<void>;
}

/** A view of the stack from outside: Postgres for the checks, a Temporal client for queries. */
export async function observe(stack: Stack): Promise<Observer> {
  const db = createDb(stack.databaseUrl, { pool: { min: 0, max: 4 } });
  const connection = await Connection.connect({ address: stack.temporal.address });
  return { db, temporal: new Client({ connection, namespace: stack.temporal.namespace }), close: async () => { await connection.close(); await db.destroy(); } };
}

export async function customer(stack: Stack, opts: { cash?: string; card?: string; level?: 'standard' | 'key_account'; name?: string } = {}): Promise<{ id: string; key: string }> {
  const created = await stack.http.post('/v1/accounts', stack.operatorKey, { name: opts.name ?? 'system test', ...(opts.level ? { customer_level: opts.level } : {}) });
  if (created.status !== 201) throw new Error(`account: ${created.status} ${JSON.stringify(created.body)}`);
  const c = { id: created.body.id as string, key: created.body.api_key as string };
  if (opts.cash) await stack.http.post(`/v1/accounts/${c.id}/top-ups`, c.key, { amount: opts.cash }, `seed-${c.id}`);
  if (opts.card) await stack.http.put(`/v1/accounts/${c.id}/card`, c.key, { token: opts.card });
  return c;
}

/**
 * Sends a request the way a careful client does: again with the same Idempotency-Key while the
 * answer is 503 (the service could not finish in time) or the connection failed, until an
 * answer or the deadline. Every answer on the way must be a 2xx, a 4xx or 503: never 500.
 */
export async function untilAnswered(send: () => Promise<HttpResponse>, timeoutMs = 120_000): Promise<HttpResponse & { tries: number; unavailable: number }> {
  const deadline = Date.now() + timeoutMs;
  let tries = 0;
  let unavailable = 0;
  for (;;) {
    tries += 1;
    let res: HttpResponse | null = null;
    try {
      res = await send();
    } catch {
      res = null; // the API process was down or the request hung past the client's timeout
    }
    if (res && res.status >= 500 && res.status !== 503) throw new Error(`answered ${res.status}: ${JSON.stringify(res.body)}`);
    if (res && res.status === 503 && res.body?.error?.code !== 'SERVICE.UNAVAILABLE') throw new Error(`503 without its stable code: ${JSON.stringify(res.body)}`);
    if (res && res.status !== 503) return { ...res, tries, unavailable };
    if (res) unavailable += 1;
    if (Date.now() > deadline) throw new Error(`no answer within ${timeoutMs} ms after ${tries} tries`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * At rest (nothing pending, workflows agree with the read model), then every money invariant.
 * On a violation the histories of the accounts' subscription workflows are written next to the
 * run's logs (a failure on a fresh CI clone can then be read, and replayed).
 */
export async function moneyHolds(o: Observer, accountIds: string[], timeoutMs = 60_000): Promise<void> {
  await waitAtRest(o.db, o.temporal, accountIds, timeoutMs, { queryFailureIsBusy: true });
  try {
    await checkMoneyInvariants(o.db, accountIds);
  } catch (err) {
    const dir = join(process.env.QUOTAFLOW_STACK_RUN_DIR ?? tmpdir(), `violation-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    for (const id of await o.db('subscriptions').whereIn('account_id', accountIds).pluck('id')) {
      const history = await o.temporal.workflow.getHandle(`subscription-${id}`).fetchHistory().catch(() => null);
      if (history) writeFileSync(join(dir, `subscription-${id}.json`), JSON.stringify(history, null, 1));
    }
    process.stderr.write(`[violation] workflow histories written to ${dir}\n`);
    throw err;
  }
}

/** How many faults a process injected (QUOTAFLOW_FAULT_LOG), by point. */
export function faultsLogged(file: string): Record<string, number> {
  if (!existsSync(file)) return {};
  const out: Record<string, number> = {};
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) out[line.split(' ')[0]] = (out[line.split(' ')[0]] ?? 0) + 1;
  return out;
}

/**
 * The BILLING_UTC_OFFSET (whole minutes) that puts local 03:00 — when deduction attempts run
 * (R-S3) — at least `inMs` from now (and less than a minute more), and the instant it falls on.
 */
export function offsetPutting0300In(inMs: number): { offset: string; at: number } {
  const at = Math.ceil((Date.now() + inMs) / 60_000) * 60_000;
  const utcMinutes = Math.floor((at % 86_400_000) / 60_000);
  let minutes = 180 - utcMinutes; // local 03:00 = utc + offset
  while (minutes > 14 * 60) minutes -= 1440;
  while (minutes < -14 * 60) minutes += 1440;
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  const offset = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return { offset, at };
}

/** The local date (YYYY-MM-DD) at `ms` under `offset`. */
export function localDate(ms: number, offset: string): string {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset)!;
  const minutes = (Number(m[2]) * 60 + Number(m[3])) * (m[1] === '-' ? -1 : 1);
  return new Date(ms + minutes * 60_000).toISOString().slice(0, 10);
}

/** A scenario's figures, appended to the run's report (docs/reliability.md quotes the last one). */
export function report(line: Record<string, unknown>): void {
  const dir = process.env.QUOTAFLOW_STACK_RUN_DIR;
  const text = `${JSON.stringify({ at: new Date().toISOString(), ...line })}\n`;
  process.stderr.write(`[reliability] ${text}`);
  if (process.env.QUOTAFLOW_RELIABILITY_REPORT) appendFileSync(process.env.QUOTAFLOW_RELIABILITY_REPORT, text);
  else if (dir) appendFileSync(join(dir, 'reliability.jsonl'), text);
}

/**
 * A seeded random source for the random SIGKILL moments (CHAOS_SEED, else a fresh seed): the
 * seed goes into the report, so a failing run can be repeated.
 */
export function random(seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31))): (() => number) & { seed: number } {
  let a = seed >>> 0;
  const next = () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Object.assign(next, { seed });
}
