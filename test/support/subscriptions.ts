import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { DateTime } from 'luxon';
import { getStateQuery, purchaseOutcomeUpdate } from '../../workflows/subscription.messages';
import { subscriptionWorkflow } from '../../workflows/subscription.workflow';
import type { PurchaseOutcome, SubscriptionView, Term } from '../../workflows/subscription.types';
import { settingsFor, TASK_QUEUE, World } from './world';

export const DAY = 86_400_000;
export const ZONE = 'UTC+8'; // R-T1 billing local time

export const local = (ms: number) => DateTime.fromMillis(ms, { zone: ZONE });
/** 'YYYY-MM-DD HH:mm' in billing local time, for readable assertions. */
export const fmt = (ms: number) => local(ms).toFormat('yyyy-MM-dd HH:mm');

/**
 * The next instant after `now` whose local month/day/hour/minute are the given ones, so a
 * SPEC example ("expiry 03-20 15:00") can be replayed whatever day the test server starts on.
 */
export function nextLocal(now: number, month: number, day: number, hour: number, minute = 0): number {
  let t = local(now).set({ month, day, hour, minute, second: 0, millisecond: 0 });
  while (t.toMillis() <= now) t = t.plus({ years: 1 }).set({ month, day });
  return t.toMillis();
}

export async function advanceTo(world: Pick<World, 'env'>, at: number): Promise<void> {
  const now = await world.env.currentTimeMs();
  if (at > now) await world.env.sleep(at - now);
}

/**
 * Moves the test server's clock to the next `hour`:00 local. The server starts at the real time,
 * and some counts depend on the time of day: a term bought between 00:00 and 03:00 local expires
 * before that day's 03:00 attempt, so it has 7 deduction attempts, not 8 (R-S3). Tests that
 * count them buy at a fixed hour.
 */
export async function advanceToLocalHour(world: Pick<World, 'env'>, hour: number): Promise<void> {
  const now = await world.env.currentTimeMs();
  let t = local(now).set({ hour, minute: 0, second: 0, millisecond: 0 });
  if (t.toMillis() <= now) t = t.plus({ days: 1 });
  await advanceTo(world, t.toMillis());
}

let seq = 0;
export interface Bought {
  id: string;
  handle: WorkflowHandleWithFirstExecutionRunId<typeof subscriptionWorkflow>;
  outcome: PurchaseOutcome;
  state(): Promise<SubscriptionView>;
}

/** Starts a subscription workflow exactly as the API does, and waits for the purchase outcome. */
export async function buy(world: World, p: {
  accountId: string;
  product?: string;
  edition?: string;
  quantity?: number;
  term?: Term | null;
  trial?: boolean;
  autoRenew?: boolean;
  deductionDate?: string | null;
  level?: 'standard' | 'key_account';
  policy?: 'grace_then_freeze' | 'isolate';
}): Promise<Bought> {
  const id = `sub_t${Date.now().toString(36)}${(seq++).toString(36)}`;
  const product = p.product ?? 'host-security';
  const handle = await world.env.client.workflow.start(subscriptionWorkflow, {
    workflowId: `subscription-${id}`,
    taskQueue: TASK_QUEUE,
    args: [{ purchase: {
      subscriptionId: id,
      accountId: p.accountId,
      product,
      edition: p.edition ?? 'enterprise',
      region: 'cn-hangzhou',
      quantity: p.quantity ?? 1,
      term: p.trial ? null : p.term ?? { unit: 'month', count: 1 },
      trial: p.trial ?? false,
      autoRenew: p.autoRenew ?? false,
      deductionDate: p.deductionDate ?? null,
      settings: settingsFor(p.level ?? 'standard', p.policy ?? (product === 'workload-protection' ? 'isolate' : 'grace_then_freeze')),
    } }],
  });
  const outcome = await handle.executeUpdate(purchaseOutcomeUpdate, { args: [{}] });
  return { id, handle, outcome, state: () => handle.query(getStateQuery) };
}

/** The subscription's timeline events of a type, as [type, local time] pairs. */
export async function events(world: World, subscriptionId: string, types?: string[]): Promise<[string, string][]> {
  const q = world.db('subscription_events').where({ subscription_id: subscriptionId }).orderBy('seq');
  if (types) q.whereIn('type', types);
  return (await q).map((e) => [e.type, fmt(new Date(e.at).getTime())]);
}

/**
 * With RECORD_HISTORIES=1, writes a run's event history to test/history/<name>.json; the
 * replay test (test/workflows/replay.test.ts) replays every committed history on each CI run,
 * so a workflow change that breaks determinism fails the build.
 */
export async function saveHistory(world: Pick<World, 'env'>, workflowId: string, runId: string | undefined, name: string): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { temporal } = await import('@temporalio/proto');
  const history = await world.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const dir = join(__dirname, '..', 'history');
  mkdirSync(dir, { recursive: true });
  // The protobuf encoding of Temporal's History (proto JSON conversion trips over jest's module
  // registry), base64 in a small JSON envelope that also names the workflow and its events.
  const encoded = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('base64');
  const eventTypes = (history.events ?? []).map((e) => String(e.eventType));
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ workflowId, events: eventTypes.length, eventTypes, historyBase64: encoded }, null, 1)}\n`);
}
