import { z } from 'zod';
import { listSandboxSms } from '../../store/sms.store';
import type { ApiDeps } from '../app';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { at, checkSeqCursor, cursorField, limitField, list, localInstant, pageOf, resourceId } from '../schemas';

// Issue #15: what the sandbox SMS provider would have sent (SMS_PROVIDER=sandbox), for operators.

const smsQuery = z.strictObject({ limit: limitField, cursor: cursorField, account_id: resourceId.optional() });

const smsSchema = z.object({
  id: z.string(),
  notification_id: z.string(),
  account_id: z.string(),
  to: z.string(),
  template: z.string(),
  language: z.string(),
  body: z.string(),
  created_at: at,
}).openapi('SandboxSms');

export function sandboxSmsRoutes(deps: ApiDeps): RouteDef[] {
  const local = localInstant(deps.settings.offsetMinutes);

  async function sandboxSms({ query }: RouteContext<unknown, z.infer<typeof smsQuery>, unknown>): Promise<RouteResult> {
    checkSeqCursor(query.cursor);
    const beforeId = query.cursor === undefined ? null : Number(Buffer.from(query.cursor, 'base64url').toString('utf8'));
    const rows = await listSandboxSms(deps.db, { accountId: query.account_id, limit: query.limit + 1, beforeId });
    const { kept, next_cursor } = pageOf(rows, query.limit, (last) => Buffer.from(String(last.id)).toString('base64url'));
    const data = kept.map((m) => ({ id: String(m.id), notification_id: String(m.notification_id), account_id: m.account_id, to: m.phone, template: m.template, language: m.language, body: m.body, created_at: local(m.created_at) }));
    return { status: 200, body: { data, next_cursor } };
  }

  return [
    defineRoute({
      method: 'get',
      path: '/v1/sandbox/sms',
      summary: 'The messages the sandbox SMS provider would have sent, newest first; filter with ?account_id=',
      access: 'operator',
      tags: ['notifications'],
      query: smsQuery,
      responses: { 200: { description: 'a page', schema: list(smsSchema) } },
      handler: sandboxSms,
    }),
  ];
}
