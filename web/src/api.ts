// Every call the Billing Center makes, and the shapes it reads (shared/API.md). One module, so
// a shape that changes is changed here only. Routes marked "v1.1" are API.md's v1.1 additions
// (catalog, quotes, discount_id, PATCH account, notification read): written to the contract as
// API.md states it.

export type Money = string; // decimal string, "1700.00"
export type Instant = string; // ISO 8601 with offset

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface Term {
  unit: 'month' | 'year';
  count: number;
}

export interface Account {
  id: string;
  name: string;
  currency: string;
  customer_level: 'standard' | 'key_account';
  cash: Money;
  credit_limit: Money;
  credit_used: Money;
  locked: Money;
  card: null | { token_hint: string; last4?: string; brand?: string; bound_at?: Instant };
  auto_binding: boolean;
  email?: string | null; // v1.1
  phone?: string | null; // v1.1
}

export type SubscriptionStatus = 'trial' | 'active' | 'grace' | 'frozen' | 'isolated' | 'released' | 'unsubscribed';

export interface Subscription {
  id: string;
  account_id: string;
  product: string;
  edition: string;
  region: string;
  quantity: number;
  billing_mode: string;
  status: SubscriptionStatus;
  trial?: boolean;
  started_at: Instant;
  expires_at: Instant;
  auto_renew: boolean;
  deduction_date: string | null;
  renewal_period: Term;
  forecast: {
    next_deduction_at: Instant | null;
    deduction_attempts: Instant[];
    grace_ends_at: Instant | null;
    frozen_ends_at: Instant | null;
  };
}

export interface SubscriptionTerm {
  term_number: number;
  kind: string;
  edition: string;
  starts_at: Instant;
  ends_at: Instant;
  order_id: string | null;
}

export interface Binding {
  id: string;
  subscription_id: string;
  server_id: string;
  region: string;
  status: 'active' | 'suspended';
  created_at: Instant;
}

export interface AppliedDiscount {
  id: string;
  kind: 'commercial' | 'partner' | 'promotional';
  percent_off: string;
  amount: Money;
}

export interface Order {
  id: string;
  subscription_id: string | null;
  kind: string;
  product: string | null;
  description: string | null;
  list_amount: Money;
  discount: AppliedDiscount | null;
  due: Money;
  coupon: Money;
  cash: Money;
  credit: Money;
  card: Money;
  refunded: Money;
  status: 'pending' | 'paid' | 'failed' | 'partially_refunded' | 'refunded';
  failure: { code: string; message: string } | null;
  created_at: Instant;
}

export interface Coupon {
  id: string;
  amount: Money;
  balance: Money;
  locked: Money;
  available: Money;
  scope: string | null;
  expires_at: Instant;
  status: 'active' | 'used_up' | 'expired';
}

export interface Discount {
  id: string;
  kind: 'commercial' | 'partner' | 'promotional';
  percent_off: string;
  scope: string | null;
  effective_at: Instant;
  expires_at: Instant;
  status: 'scheduled' | 'active' | 'expired';
}

export interface Notification {
  id: string;
  subscription_id: string | null;
  channel: string;
  template: string;
  payload: Record<string, unknown>;
  status: string;
  created_at: Instant;
  /** v1.1 (POST /v1/notifications/{id}/read): when it was read; either field may carry it. */
  read_at?: Instant | null;
  read?: boolean;
}

export interface BillLine {
  kind: 'protection' | 'usage';
  resource_id: string;
  product: string | null;
  edition: string | null;
  metric: string | null;
  seconds: number | null;
  quantity: string;
  unit_price: string;
  covered: string;
  billed_quantity: string;
  amount: string;
}

export interface Bill {
  id: string;
  hour_start: Instant;
  hour_end: Instant;
  total: Money;
  status: 'pending' | 'paid' | 'failed' | 'unpaid';
  order_id: string | null;
  failure: { code: string; message: string } | null;
  lines?: BillLine[];
}

export interface UsagePackage {
  id: string;
  metric: string;
  content: string;
  remaining: string;
  reset: 'none' | 'monthly' | 'yearly';
  expires_at: Instant;
  next_reset_at: Instant | null;
  status: 'active' | 'expired';
}

export interface Arrears {
  arrears_status: 'none' | 'grace' | 'frozen' | 'released';
  grace_ends_at: Instant | null;
  frozen_ends_at: Instant | null;
  outstanding: Money;
}

/** v1.1 GET /v1/catalog. */
export interface CatalogEdition {
  edition: string;
  rank?: number;
  prices: { monthly: Money | null; yearly: Money | null; pay_per_use_hourly: string | null };
  trial_days?: number | null;
}
export interface Catalog {
  products: { product: string; editions: CatalogEdition[] }[];
  regions: string[];
}

/** v1.1 POST /v1/quotes: the split the action would make now. */
export interface Quote {
  list_amount: Money;
  discount: AppliedDiscount | null;
  due: Money;
  coupon: Money;
  cash: Money;
  credit: Money;
  card: Money;
}

export interface PurchaseBody {
  account_id: string;
  product: string;
  edition: string;
  region: string;
  quantity: number;
  term?: Term;
  auto_renew?: boolean;
  trial?: boolean;
  discount_id?: string; // v1.1
}
export interface RenewalBody {
  term: Term;
  auto_renew?: boolean;
  discount_id?: string; // v1.1
}

export type QuoteRequest =
  | ({ kind: 'purchase' } & PurchaseBody)
  | ({ kind: 'renewal'; subscription_id: string } & RenewalBody)
  | { kind: 'upgrade'; subscription_id: string; edition: string };

/** An answer that is not 2xx: the API's `{ error: { code, message, details } }`, or a network failure. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

/** A fresh Idempotency-Key: made once per confirmation dialog, so a second click replays the first. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // works without a secure context too
  return `bc-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

type Query = Record<string, string | number | undefined | null>;

function qs(q: Query = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export interface ApiClient {
  readonly key: string;
  get<T>(path: string, query?: Query): Promise<T>;
  send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, idempotencyKey?: string): Promise<T>;
}

/** The API at this origin (the page is served by it), authenticated with `key`. */
export function createClient(key: string, onUnauthorized?: (e: ApiError) => void): ApiClient {
  async function call<T>(method: string, path: string, body: unknown, idempotencyKey?: string): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${key}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    let res: Response;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', e instanceof Error ? e.message : String(e));
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: handled below */
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined)?.error;
      const e = new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? (text.slice(0, 200) || res.statusText), err?.details);
      if (res.status === 401) onUnauthorized?.(e);
      throw e;
    }
    return json as T;
  }
  return {
    key,
    get: (path, query) => call('GET', `${path}${qs(query)}`, undefined),
    send: (method, path, body, idempotencyKey) => call(method, path, body, idempotencyKey),
  };
}

const enc = encodeURIComponent;

/** The routes, typed. `c` is the signed-in client; `a` the account being looked at. */
export const api = {
  account: (c: ApiClient, a: string) => c.get<Account>(`/v1/accounts/${enc(a)}`),
  updateContact: (c: ApiClient, a: string, body: { email?: string | null; phone?: string | null }) => c.send<Account>('PATCH', `/v1/accounts/${enc(a)}`, body), // v1.1
  topUp: (c: ApiClient, a: string, amount: Money, key: string) => c.send<{ transaction_id: string; account: Account }>('POST', `/v1/accounts/${enc(a)}/top-ups`, { amount }, key),
  bindCard: (c: ApiClient, a: string, token: string) => c.send<Account['card']>('PUT', `/v1/accounts/${enc(a)}/card`, { token }),
  unbindCard: (c: ApiClient, a: string) => c.send<void>('DELETE', `/v1/accounts/${enc(a)}/card`),
  coupons: (c: ApiClient, a: string, cursor?: string) => c.get<Page<Coupon>>(`/v1/accounts/${enc(a)}/coupons`, { cursor }),
  discounts: (c: ApiClient, a: string, cursor?: string) => c.get<Page<Discount>>(`/v1/accounts/${enc(a)}/discounts`, { cursor }),
  orders: (c: ApiClient, a: string, cursor?: string) => c.get<Page<Order>>(`/v1/accounts/${enc(a)}/orders`, { cursor }),
  order: (c: ApiClient, id: string) => c.get<Order>(`/v1/orders/${enc(id)}`),
  bills: (c: ApiClient, a: string, cursor?: string) => c.get<Page<Bill>>(`/v1/accounts/${enc(a)}/bills`, { cursor }),
  bill: (c: ApiClient, a: string, id: string) => c.get<Bill>(`/v1/accounts/${enc(a)}/bills/${enc(id)}`),
  usagePackages: (c: ApiClient, a: string, cursor?: string) => c.get<Page<UsagePackage>>(`/v1/accounts/${enc(a)}/usage-packages`, { cursor }),
  arrears: (c: ApiClient, a: string) => c.get<Arrears>(`/v1/accounts/${enc(a)}/arrears`),
  inbox: (c: ApiClient, a: string, cursor?: string) => c.get<Page<Notification>>(`/v1/accounts/${enc(a)}/notifications`, { channel: 'in_app', cursor }),
  markRead: (c: ApiClient, id: string) => c.send<unknown>('POST', `/v1/notifications/${enc(id)}/read`), // v1.1

  subscriptions: (c: ApiClient, a: string, cursor?: string) => c.get<Page<Subscription>>('/v1/subscriptions', { account_id: a, cursor }),
  subscription: (c: ApiClient, id: string) => c.get<Subscription>(`/v1/subscriptions/${enc(id)}`),
  terms: (c: ApiClient, id: string) => c.get<Page<SubscriptionTerm>>(`/v1/subscriptions/${enc(id)}/terms`, { limit: 200 }),
  bindings: (c: ApiClient, id: string, cursor?: string) => c.get<Page<Binding>>(`/v1/subscriptions/${enc(id)}/bindings`, { cursor }),
  setAutoRenew: (c: ApiClient, id: string, enabled: boolean, deductionDate?: string | null) =>
    c.send<Subscription>('PUT', `/v1/subscriptions/${enc(id)}/auto-renew`, deductionDate === undefined ? { enabled } : { enabled, deduction_date: deductionDate }),
  renew: (c: ApiClient, id: string, body: RenewalBody, key: string) => c.send<Subscription>('POST', `/v1/subscriptions/${enc(id)}/renewals`, body, key),
  upgrade: (c: ApiClient, id: string, edition: string, key: string) => c.send<{ subscription: Subscription; charged: Money }>('POST', `/v1/subscriptions/${enc(id)}/upgrade`, { edition }, key),
  unsubscribe: (c: ApiClient, id: string, key: string) => c.send<{ subscription: Subscription; refund: Money }>('POST', `/v1/subscriptions/${enc(id)}/unsubscribe`, undefined, key),
  buy: (c: ApiClient, body: PurchaseBody, key: string) => c.send<Subscription>('POST', '/v1/subscriptions', body, key),

  catalog: (c: ApiClient) => c.get<Catalog>('/v1/catalog'), // v1.1
  quote: (c: ApiClient, body: QuoteRequest) => c.send<Quote>('POST', '/v1/quotes', body), // v1.1
};
