import { z } from 'zod';
import { STATUS_CHANGE_TYPES } from '../../billing/status-change-events';
import { attemptsOf, createEndpoint, deleteEndpoint, EndpointRow, getDelivery, getEndpoint, listDeliveries, listEndpoints, listStatusChanges, replayDelivery } from '../../store/status-changes.store';
import type { ApiDeps } from '../app';
import { notFound } from '../errors';
import { defineRoute, RouteContext, RouteDef, RouteResult } from '../http';
import { at, checkSeqCursor, cursorField, cursorRefused, decodeCursor, encodeCursor, IdParams, idParams, limitField, list, localInstant, pageOf, pageQuery, resourceId, seqIdParams } from '../schemas';
import { errorDoc } from '../schemas/responses';

// R-I4, issue #15: resource status change calls (the KooGallery interface). Operators register
// the endpoints of the systems that protect servers, read every delivery and its attempts, replay
// one, and see the status changes no endpoint has acknowledged (a late release costs the seller).
// docs/notifications.md documents the calls and how to verify their signature.

const eventType = z.enum([...STATUS_CHANGE_TYPES, '*']);

const endpointBody = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }).max(2000),
  events: z.array(eventType).min(1).max(STATUS_CHANGE_TYPES.length + 1).refine((e) => new Set(e).size === e.length, 'events are listed once each'),
  secret: z.string().min(16, 'at least 16 characters').max(256),
  description: z.string().max(500).optional(),
});

const endpointSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  secret_hint: z.string().openapi({ description: 'the last 4 characters of the secret; the secret itself is never answered' }),
  description: z.string().nullable(),
  created_at: at,
}).openapi('WebhookEndpoint');

const attemptSchema = z.object({ attempt: z.number().int(), at, status_code: z.number().int().nullable(), error: z.string().nullable(), duration_ms: z.number().int() });

const deliverySchema = z.object({
  id: z.string(),
  event_id: z.string(),
  event_type: z.string(),
  endpoint_id: z.string(),
  account_id: z.string(),
  subscription_id: z.string().nullable(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: at.nullable(),
  give_up_at: at,
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  created_at: at,
  delivered_at: at.nullable(),
  attempt_log: z.array(attemptSchema),
}).openapi('WebhookDelivery');

const statusChangeSchema = z.object({
  id: z.string(),
  type: z.string(),
  account_id: z.string(),
  subscription_id: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  created_at: at,
  acknowledged: z.boolean(),
  acknowledged_at: at.nullable(),
  deliveries: z.record(z.string(), z.number().int()).openapi({ description: 'deliveries by status, e.g. { "pending": 1, "delivered": 2 }' }),
}).openapi('StatusChange');

const deliveryQuery = z.strictObject({
  limit: limitField,
  cursor: cursorField,
  endpoint_id: resourceId.optional(),
  event_id: resourceId.optional(),
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
});

const statusChangeQuery = z.strictObject({
  limit: limitField,
  cursor: cursorField,
  unacknowledged: z.enum(['true', 'false']).optional(),
  type: z.enum(STATUS_CHANGE_TYPES).optional(),
  account_id: resourceId.optional(),
  subscription_id: resourceId.optional(),
});

export function webhookRoutes(deps: ApiDeps): RouteDef[] {
  const local = localInstant(deps.settings.offsetMinutes);
  const localOrNull = (v: string | Date | null | undefined): string | null => (v ? local(v) : null);

  const endpointView = (e: EndpointRow) => ({ id: e.id, url: e.url, events: e.events, secret_hint: `…${e.secret.slice(-4)}`, description: e.description, created_at: local(e.created_at) });

  async function deliveryViews(rows: Record<string, any>[]) {
    const attempts = await attemptsOf(deps.db, rows.map((r) => r.id));
    return rows.map((d) => ({
      id: String(d.id),
      event_id: d.event_id,
      event_type: d.event_type,
      endpoint_id: d.endpoint_id,
      account_id: d.account_id,
      subscription_id: d.subscription_id ?? null,
      status: d.status,
      attempts: d.attempts,
      next_attempt_at: d.status === 'pending' ? local(d.next_attempt_at) : null,
      give_up_at: local(d.give_up_at),
      last_status_code: d.last_status_code ?? null,
      last_error: d.last_error ?? null,
      created_at: local(d.created_at),
      delivered_at: localOrNull(d.delivered_at),
      attempt_log: attempts.filter((a) => String(a.delivery_id) === String(d.id)).map((a) => ({ attempt: a.attempt, at: local(a.at), status_code: a.status_code ?? null, error: a.error ?? null, duration_ms: a.duration_ms })),
    }));
  }

  async function registerEndpoint({ body }: RouteContext<unknown, unknown, z.infer<typeof endpointBody>>): Promise<RouteResult> {
    const events = body.events.includes('*') ? ['*'] : body.events;
    return { status: 201, body: endpointView(await createEndpoint(deps.db, { url: body.url, events, secret: body.secret, description: body.description })) };
  }

  async function endpoints({ query }: RouteContext<unknown, z.infer<typeof pageQuery>, unknown>): Promise<RouteResult> {
    const c = decodeCursor(query.cursor);
    if (query.cursor !== undefined && (!c || c.length !== 2)) throw cursorRefused();
    const rows = await listEndpoints(deps.db, { limit: query.limit + 1, before: c ? { at: String(c[0]), id: String(c[1]) } : null });
    const { kept, next_cursor } = pageOf(rows, query.limit, (last) => encodeCursor([new Date(last.created_at).toISOString(), last.id]));
    return { status: 200, body: { data: kept.map(endpointView), next_cursor } };
  }

  async function endpoint({ params }: RouteContext<IdParams, unknown, unknown>): Promise<RouteResult> {
    const e = await getEndpoint(deps.db, params.id);
    if (!e) throw notFound('webhook endpoint', params.id);
    return { status: 200, body: endpointView(e) };
  }

  async function removeEndpoint({ params }: RouteContext<IdParams, unknown, unknown>): Promise<RouteResult> {
    if (!(await deleteEndpoint(deps.db, params.id))) throw notFound('webhook endpoint', params.id);
    return { status: 204 };
  }

  async function deliveries({ query }: RouteContext<unknown, z.infer<typeof deliveryQuery>, unknown>): Promise<RouteResult> {
    checkSeqCursor(query.cursor);
    const beforeId = query.cursor === undefined ? null : Number(Buffer.from(query.cursor, 'base64url').toString('utf8'));
    const rows = await listDeliveries(deps.db, { endpointId: query.endpoint_id, eventId: query.event_id, status: query.status, limit: query.limit + 1, beforeId });
    const { kept, next_cursor } = pageOf(rows, query.limit, (last) => Buffer.from(String(last.id)).toString('base64url'));
    return { status: 200, body: { data: await deliveryViews(kept), next_cursor } };
  }

  async function delivery({ params }: RouteContext<{ id: string }, unknown, unknown>): Promise<RouteResult> {
    const d = await getDelivery(deps.db, params.id);
    if (!d) throw notFound('webhook delivery', params.id);
    return { status: 200, body: (await deliveryViews([d]))[0] };
  }

  async function replay({ params }: RouteContext<{ id: string }, unknown, unknown>): Promise<RouteResult> {
    if (!(await getDelivery(deps.db, params.id))) throw notFound('webhook delivery', params.id);
    await replayDelivery(deps.db, params.id);
    return { status: 202, body: (await deliveryViews([await getDelivery(deps.db, params.id)]))[0] };
  }

  async function statusChanges({ query }: RouteContext<unknown, z.infer<typeof statusChangeQuery>, unknown>): Promise<RouteResult> {
    const c = decodeCursor(query.cursor);
    if (query.cursor !== undefined && (!c || c.length !== 2)) throw cursorRefused();
    const rows = await listStatusChanges(deps.db, {
      unacknowledged: query.unacknowledged === undefined ? undefined : query.unacknowledged === 'true',
      type: query.type,
      accountId: query.account_id,
      subscriptionId: query.subscription_id,
      limit: query.limit + 1,
      beforeCreated: c ? { at: String(c[0]), id: String(c[1]) } : null,
    });
    const { kept, next_cursor } = pageOf(rows, query.limit, (last) => encodeCursor([new Date(last.created_at).toISOString(), last.id]));
    const data = kept.map((e) => ({ id: e.id, type: e.type, account_id: e.account_id, subscription_id: e.subscription_id ?? null, data: e.data, created_at: local(e.created_at), acknowledged: e.acknowledged_at != null, acknowledged_at: localOrNull(e.acknowledged_at), deliveries: e.deliveries }));
    return { status: 200, body: { data, next_cursor } };
  }

  const common = { access: 'operator' as const, tags: ['webhooks'] };
  return [
    defineRoute({ ...common, method: 'post', path: '/v1/webhook-endpoints', summary: 'Register a status change endpoint: url, the event types wanted ("*" = all) and the signing secret', body: endpointBody, idempotent: true, responses: { 201: { description: 'registered', schema: endpointSchema }, 400: errorDoc('VALIDATION.BODY') }, handler: registerEndpoint }),
    defineRoute({ ...common, method: 'get', path: '/v1/webhook-endpoints', summary: 'The live endpoints, newest first', query: pageQuery, responses: { 200: { description: 'all of them', schema: list(endpointSchema) } }, handler: endpoints }),
    defineRoute({ ...common, method: 'get', path: '/v1/webhook-endpoints/{id}', summary: 'One endpoint', params: idParams, responses: { 200: { description: 'the endpoint', schema: endpointSchema }, 404: errorDoc('NOT_FOUND') }, handler: endpoint }),
    defineRoute({ ...common, method: 'delete', path: '/v1/webhook-endpoints/{id}', summary: 'Stop calling an endpoint (its delivery log stays)', params: idParams, responses: { 204: { description: 'deleted' }, 404: errorDoc('NOT_FOUND') }, handler: removeEndpoint }),
    defineRoute({ ...common, method: 'get', path: '/v1/webhook-deliveries', summary: 'The delivery log, newest first, each with every attempt; filter by endpoint, event or status', query: deliveryQuery, responses: { 200: { description: 'a page', schema: list(deliverySchema) } }, handler: deliveries }),
    defineRoute({ ...common, method: 'get', path: '/v1/webhook-deliveries/{id}', summary: 'One delivery with its attempts', params: seqIdParams, responses: { 200: { description: 'the delivery', schema: deliverySchema }, 404: errorDoc('NOT_FOUND') }, handler: delivery }),
    defineRoute({ ...common, method: 'post', path: '/v1/webhook-deliveries/{id}/replay', summary: 'Send a delivery again (due at once, a fresh 3-day retry window); the same event id, so receivers deduplicate', params: seqIdParams, responses: { 202: { description: 'queued', schema: deliverySchema }, 404: errorDoc('NOT_FOUND') }, handler: replay }),
    defineRoute({ ...common, method: 'get', path: '/v1/status-changes', summary: 'Status changes (R-I4), newest first; ?unacknowledged=true&type=resource.release shows the releases no endpoint has confirmed', query: statusChangeQuery, responses: { 200: { description: 'a page', schema: list(statusChangeSchema) } }, handler: statusChanges }),
  ];
}
