import type { Db } from '../common/db';
import type { CardGateway } from './card-gateway';
import type { Clock, PaymentEngineHooks } from './types';

/** What every phase of the payment engine works with: one engine, assembled from its phases. */
export interface EngineContext {
  db: Db;
  gateway: CardGateway;
  clock: Clock;
  /** how long a pending charge may hold its locks before recovery settles it (R-P4) */
  lockTtlMs: number;
  hooks: PaymentEngineHooks;
}
