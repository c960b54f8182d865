import { Client, Connection } from '@temporalio/client';
import { createDb, Db } from '../../common/db';
import type { Real } from '../model/money-model';
import type { Stack } from './stack';

/**
 * The money model's view of a stack of processes: HTTP to the API process, Postgres for the
 * checks, a Temporal client for the workflow-versus-read-model check. The host's clock; no time
 * travel on a real server.
 */
export async function stackReal(stack: Stack): Promise<Real & { close(): Promise<void> }> {
  const db: Db = createDb(stack.databaseUrl, { pool: { min: 0, max: 4 } });
  const connection = await Connection.connect({ address: stack.temporal.address });
  const temporal = new Client({ connection, namespace: stack.temporal.namespace });
  return {
    async send(method, path, { key, body, idem }) {
      const headers: Record<string, string> = { Authorization: `Bearer ${key}` };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (idem) headers['Idempotency-Key'] = idem;
      // Issue #11: never a hang over 10 s.
      const res = await fetch(`${stack.apiUrl}${path}`, { method: method.toUpperCase(), headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    db,
    temporal,
    operatorKey: stack.operatorKey,
    now: async () => Date.now(),
    async cleanup(accountIds) {
      const ids = [...await db('subscriptions').whereIn('account_id', accountIds).pluck('workflow_id'), ...accountIds.map((a) => `account-${a}`)];
      await Promise.all(ids.map((id: string) => temporal.workflow.getHandle(id).terminate('model run done').catch(() => undefined)));
    },
    async close() {
      await connection.close();
      await db.destroy();
    },
  };
}
