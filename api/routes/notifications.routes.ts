import { z } from 'zod';
import { listNotifications } from '../../store/outbox.store';
import type { ApiDeps } from '../app';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { ownedAccount } from '../ownership';
import { at, checkSeqCursor, cursorField, IdParams, idParams, limitField, list, localInstant, pageOf } from '../schemas';

// Notifications (R-S10): one row per notification and channel, as the outbox wrote them.

const notificationQuery = z.strictObject({
  limit: limitField,
  cursor: cursorField,
  channel: z.enum(['email', 'sms', 'in_app']).optional(),
  subscription_id: z.string().min(1).max(64).optional(),
});

export const notificationSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  subscription_id: z.string().nullable(),
  channel: z.string(),
  template: z.string(),
  payload: z.record(z.string(), z.unknown()),
  status: z.enum(['pending', 'sent', 'failed']),
  created_at: at,
  sent_at: at.nullable(),
}).openapi('Notification');

export function notificationRoutes(deps: ApiDeps): RouteDef[] {
  const local = localInstant(deps.settings.offsetMinutes);
  const localOrNull = (v: string | Date | null | undefined): string | null => (v ? local(v) : null);

  async function listAccountNotifications({ params, query, principal }: RouteContext<IdParams, z.infer<typeof notificationQuery>, unknown>): Promise<RouteResult> {
    await ownedAccount(deps.db, principal, params.id);
    // The cursor is the last id shown, base64url (like the payment engine's seq cursors).
    checkSeqCursor(query.cursor);
    const beforeId = query.cursor === undefined ? null : Number(Buffer.from(query.cursor, 'base64url').toString('utf8'));
    const rows = await listNotifications(deps.db, params.id, { limit: query.limit + 1, channel: query.channel, subscriptionId: query.subscription_id, beforeId });
    const { kept, next_cursor } = pageOf(rows, query.limit, (last) => Buffer.from(String(last.id)).toString('base64url'));
    return {
      status: 200,
      body: {
        data: kept.map((n) => ({
          id: String(n.id),
          account_id: n.account_id,
          subscription_id: n.subscription_id ?? null,
          channel: n.channel,
          template: n.template,
          payload: n.payload,
          status: n.status,
          created_at: local(n.created_at),
          sent_at: localOrNull(n.sent_at),
        })),
        next_cursor,
      },
    };
  }

  return [
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/notifications',
      summary: 'Notifications (R-S10), one row per notification and channel, newest first; filter with ?channel=',
      access: 'owner',
      tags: ['payments'],
      params: idParams,
      query: notificationQuery,
      responses: { 200: { description: 'a page', schema: list(notificationSchema) } },
      handler: listAccountNotifications,
    }),
  ];
}
