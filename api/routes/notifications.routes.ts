import { z } from 'zod';
import { getNotification, listNotifications, setNotificationRead, unreadNotificationCount } from '../../store/outbox.store';
import type { ApiDeps } from '../app';
import { assertAccountAccess } from '../auth';
import { apiClock } from '../clock';
import { conflict, notFound } from '../errors';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { at, checkSeqCursor, cursorField, IdParams, idParams, limitField, list, localInstant, pageOf, seqIdParams } from '../schemas';
import { errorDoc } from '../schemas/responses';

// Notifications (R-S10): one row per notification and channel, as the outbox wrote them. The
// in-app rows are the inbox (issue #15): read/unread, an unread filter and an unread count.

const notificationQuery = z.strictObject({
  limit: limitField,
  cursor: cursorField,
  channel: z.enum(['email', 'sms', 'in_app']).optional(),
  subscription_id: z.string().min(1).max(64).optional(),
  unread: z.enum(['true', 'false']).optional().openapi({ description: 'true: only unread rows; false: only read rows' }),
});

export const notificationSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  subscription_id: z.string().nullable(),
  channel: z.string(),
  template: z.string(),
  payload: z.record(z.string(), z.unknown()),
  status: z.enum(['pending', 'sent', 'failed', 'skipped']).openapi({ description: 'delivery by its channel; skipped: the account has no address for it' }),
  created_at: at,
  sent_at: at.nullable(),
  read: z.boolean(),
  read_at: at.nullable(),
}).openapi('Notification');

export function notificationRoutes(deps: ApiDeps): RouteDef[] {
  const local = localInstant(deps.settings.offsetMinutes);
  const localOrNull = (v: string | Date | null | undefined): string | null => (v ? local(v) : null);
  const now = apiClock(deps);

  const view = (n: Record<string, any>) => ({
    id: String(n.id),
    account_id: n.account_id,
    subscription_id: n.subscription_id ?? null,
    channel: n.channel,
    template: n.template,
    payload: n.payload,
    status: n.status,
    created_at: local(n.created_at),
    sent_at: localOrNull(n.sent_at),
    read: n.read_at != null,
    read_at: localOrNull(n.read_at),
  });

  async function listAccountNotifications({ params, query, principal }: RouteContext<IdParams, z.infer<typeof notificationQuery>, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    // The cursor is the last id shown, base64url (like the payment engine's seq cursors).
    checkSeqCursor(query.cursor);
    const beforeId = query.cursor === undefined ? null : Number(Buffer.from(query.cursor, 'base64url').toString('utf8'));
    const read = query.unread === undefined ? undefined : query.unread === 'false';
    const rows = await listNotifications(deps.db, params.id, { limit: query.limit + 1, channel: query.channel, subscriptionId: query.subscription_id, beforeId, read });
    const { kept, next_cursor } = pageOf(rows, query.limit, (last) => Buffer.from(String(last.id)).toString('base64url'));
    return { status: 200, body: { data: kept.map(view), next_cursor } };
  }

  async function unreadCount({ params, principal }: RouteContext<IdParams, unknown, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    return { status: 200, body: { account_id: params.id, unread: await unreadNotificationCount(deps.db, params.id) } };
  }

  /** Another tenant's notification answers 404, like one that does not exist; only in-app rows are read. */
  const markAs = (read: boolean) =>
    async function markNotification({ params, principal }: RouteContext<IdParams, unknown, unknown>): Promise<RouteResult> {
      const row = await getNotification(deps.db, params.id);
      if (!row) throw notFound('notification', params.id);
      assertAccountAccess(principal, row.account_id, 'notification', params.id);
      if (row.channel !== 'in_app') throw conflict('STATE.NOT_IN_APP', `notification ${params.id} was sent by ${row.channel}; only in-app notifications are read in the inbox`, { channel: row.channel });
      return { status: 200, body: view(await setNotificationRead(deps.db, params.id, read, new Date(now()))) };
    };

  const one = { 200: { description: 'the notification now', schema: notificationSchema }, 404: errorDoc('NOT_FOUND'), 409: errorDoc('STATE.NOT_IN_APP: an email or SMS row') };
  return [
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/notifications',
      summary: 'Notifications (R-S10), one row per notification and channel, newest first; filter with ?channel= and ?unread=',
      access: 'owner',
      tags: ['payments'],
      params: idParams,
      query: notificationQuery,
      responses: { 200: { description: 'a page', schema: list(notificationSchema) } },
      handler: listAccountNotifications,
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/notifications/unread-count',
      summary: 'How many in-app notifications are unread',
      access: 'owner',
      tags: ['payments'],
      params: idParams,
      responses: { 200: { description: 'the count', schema: z.object({ account_id: z.string(), unread: z.number().int() }).openapi('UnreadCount') } },
      handler: unreadCount,
    }),
    defineRoute({
      method: 'post',
      path: '/v1/notifications/{id}/read',
      summary: 'Mark an in-app notification read (again: nothing changes)',
      access: 'owner',
      tags: ['payments'],
      params: seqIdParams,
      responses: one,
      handler: markAs(true),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/notifications/{id}/unread',
      summary: 'Mark an in-app notification unread again',
      access: 'owner',
      tags: ['payments'],
      params: seqIdParams,
      responses: one,
      handler: markAs(false),
    }),
  ];
}
