import { appendFileSync } from 'node:fs';

// Fault injection for the system tier (issue #13): a process dies exactly at a named point of the
// charge path (or of the API's idempotent answer), as abruptly as a crash. Set by the environment of the process under test only:
//
//   QUOTAFLOW_FAULT=<point>[@n]   die (SIGKILL) the n-th time this process reaches <point> (n = 1)
//   QUOTAFLOW_FAULT_LOG=<file>    append "<point> <pid> <epoch ms>" there first, to count faults
//
// Unset, a fault point costs one property lookup.

export type FaultPoint =
  | 'charge.before-gateway' // the card charge is about to be sent
  | 'charge.after-gateway' // the gateway approved; the capture is not written yet
  | 'charge.after-capture' // the charge is captured; the workflow has not recorded it yet
  // The API did a purchase or renewal (its effect is in the workflow and the ledger) and has not
  // stored its idempotent answer yet: the client sees the connection drop and retries (issue #13,
  // scenario 4).
  | 'api.before-answer-stored';

const seen = new Map<string, number>();

export function faultPoint(point: FaultPoint, env: NodeJS.ProcessEnv = process.env): void {
  const spec = env.QUOTAFLOW_FAULT;
  if (!spec) return;
  const [name, nth] = spec.split('@');
  if (name !== point) return;
  const count = (seen.get(point) ?? 0) + 1;
  seen.set(point, count);
  if (count !== Number(nth ?? 1)) return;
  if (env.QUOTAFLOW_FAULT_LOG) appendFileSync(env.QUOTAFLOW_FAULT_LOG, `${point} ${process.pid} ${Date.now()}\n`);
  process.kill(process.pid, 'SIGKILL');
}
