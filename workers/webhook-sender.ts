import type { Knex } from 'knex';
import { SIGNATURE_HEADER, signatureHeader } from '../common/webhook-signature';
import { CallResult, OutgoingCall, sendDueDeliveries } from '../store/status-changes.store';

// R-I4 / issue #15: the HTTP half of the status change calls. store/status-changes.store claims
// due deliveries (SKIP LOCKED) and logs the outcome; this signs and POSTs one call.
//
// The body is exactly the bytes signed: { id, type, created_at, data }. A 2xx acknowledges; a
// timeout, a refused connection or any other status is an attempt to retry (docs/notifications.md).

export interface WebhookSenderOptions {
  timeoutMs?: number;
  /** First retry delay; doubles each attempt, at most 6 hours apart, for 3 days. */
  backoffBaseMs?: number;
  now?: () => number;
}

export function httpPost(opts: WebhookSenderOptions = {}): (call: OutgoingCall) => Promise<CallResult> {
  return async (call) => {
    const body = JSON.stringify(call.event);
    const t = Math.floor((opts.now ?? Date.now)() / 1000);
    const started = performance.now();
    try {
      const res = await fetch(call.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'quotaflow-status-change/1',
          [SIGNATURE_HEADER]: signatureHeader(call.secret, body, t),
          'Quotaflow-Event-Id': call.event.id,
          'Quotaflow-Event-Type': call.event.type,
          'Quotaflow-Delivery-Attempt': String(call.attempt),
        },
        body,
        redirect: 'manual', // a redirect is not an acknowledgement
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined); // drain, so the connection is reused
      const ok = res.status >= 200 && res.status < 300;
      return { statusCode: res.status, error: ok ? null : `HTTP ${res.status}`, durationMs: performance.now() - started };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const error = e.name === 'TimeoutError' ? 'timeout' : `${e.cause?.code ?? e.name}: ${e.message}`;
      return { statusCode: null, error, durationMs: performance.now() - started };
    }
  };
}

/** One round of the worker's loop: sends what is due. */
export function deliverStatusChanges(db: Knex, opts: WebhookSenderOptions & { limit?: number } = {}) {
  return sendDueDeliveries(db, httpPost(opts), { limit: opts.limit, backoffBaseMs: opts.backoffBaseMs });
}
