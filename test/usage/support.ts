import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import { insertUsageRecords, NewUsageRecord, recordPowerChange } from '../../store/usage.store';
import type { Db } from '../../common/db';
import { newId } from '../../common/ids';

export const CST = 480; // R-T1 +08:00
export const ZONE = 'UTC+8';
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** 'YYYY-MM-DD HH:mm:ss' in billing local time, for readable assertions. */
export const fmt = (ms: number) => DateTime.fromMillis(ms, { zone: ZONE }).toFormat('yyyy-MM-dd HH:mm:ss');

/** The next instant after `now` at local hh:mm:ss (today or tomorrow). */
export function nextLocalTime(now: number, hour: number, minute: number, second = 0): number {
  let t = DateTime.fromMillis(now, { zone: ZONE }).set({ hour, minute, second, millisecond: 0 });
  if (t.toMillis() <= now) t = t.plus({ days: 1 });
  return t.toMillis();
}

/** The same local day as `base`, at hh:mm:ss. */
export function sameDayAt(base: number, hour: number, minute: number, second = 0): number {
  return DateTime.fromMillis(base, { zone: ZONE }).set({ hour, minute, second, millisecond: 0 }).toMillis();
}

/**
 * The API's clock in tests: the time-skipping server's. Its time runs like the host's between
 * skips, so the clock is the host's plus the skew measured after each skip.
 */
export function envClock() {
  let skew = 0;
  return {
    now: () => new Date(Date.now() + skew),
    async sync(env: TestWorkflowEnvironment) {
      skew = (await env.currentTimeMs()) - Date.now();
    },
    /** Skips the server's time to `at` (if ahead) and follows it. */
    async advanceTo(env: TestWorkflowEnvironment, at: number) {
      const now = await env.currentTimeMs();
      if (at > now) await env.sleep(at - now);
      skew = (await env.currentTimeMs()) - Date.now();
    },
  };
}

export async function anAccountRow(db: Db, opts: { level?: 'standard' | 'key_account' } = {}): Promise<string> {
  const id = newId('acc');
  await db('accounts').insert({ id, name: 'Usage test', currency: 'USD', customer_level: opts.level ?? 'standard' });
  return id;
}

/** A registered server; its registration is its first power event (R-U1). */
export async function aServer(db: Db, accountId: string, opts: { kind?: 'host' | 'container'; power?: 'running' | 'stopped'; at: number }): Promise<string> {
  const id = newId('srv');
  await db('servers').insert({ id, account_id: accountId, region: 'cn-hangzhou', kind: opts.kind ?? 'host', agent: 'online', power: opts.power ?? 'running' });
  await recordPowerChange(db, id, opts.power ?? 'running', new Date(opts.at));
  return id;
}

/** A power change as the servers route makes it: the server row and the power history (R-U1). */
export async function setPower(db: Db, serverId: string, power: 'running' | 'stopped', at: number): Promise<void> {
  await db('servers').where({ id: serverId }).update({ power });
  await recordPowerChange(db, serverId, power, new Date(at));
}

let seq = 0;
/** Image-scan records (R-C4) as the ingestion route stores them, received at `now`. */
export async function scans(db: Db, p: { accountId: string; resourceId?: string; count: number; at: number; now?: number; id?: string }) {
  const record: NewUsageRecord = {
    id: p.id ?? `scan-${Date.now().toString(36)}-${(seq++).toString(36)}`,
    accountId: p.accountId,
    resourceId: p.resourceId ?? 'img_web',
    metric: 'image_scans',
    quantity: String(p.count),
    periodStart: p.at,
    periodEnd: p.at,
  };
  const [outcome] = await insertUsageRecords(db, [record], { now: p.now ?? p.at + 60_000, offsetMinutes: CST });
  return { record, outcome };
}
