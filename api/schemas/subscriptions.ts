import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { termSchema } from './instants';

extendZodWithOpenApi(z);

const instantOrNull = z.string().nullable();

/** API.md's Subscription: state, dates and the forecast (which assumes no deduction succeeds). */
export const subscriptionSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  product: z.string(),
  edition: z.string(),
  region: z.string(),
  quantity: z.number().int(),
  billing_mode: z.literal('yearly_monthly'),
  status: z.enum(['trial', 'active', 'grace', 'frozen', 'isolated', 'released', 'unsubscribed']),
  trial: z.boolean(),
  started_at: z.string(),
  expires_at: z.string(),
  auto_renew: z.boolean(),
  deduction_date: z.string().nullable(),
  renewal_period: termSchema,
  term_number: z.number().int(),
  grace_ends_at: instantOrNull,
  frozen_ends_at: instantOrNull,
  forecast: z.object({
    next_deduction_at: instantOrNull,
    deduction_attempts: z.array(z.string()),
    grace_ends_at: instantOrNull,
    frozen_ends_at: instantOrNull,
  }),
}).openapi('Subscription');
