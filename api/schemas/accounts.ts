import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { at } from './instants';

extendZodWithOpenApi(z);

export const cardSchema = z.object({ token_hint: z.string(), last4: z.string().optional(), brand: z.string().optional(), bound_at: at }).openapi('Card');

export const accountSchema = z.object({
  id: z.string(),
  name: z.string(),
  currency: z.string(),
  customer_level: z.enum(['standard', 'key_account']),
  cash: z.string(),
  credit_limit: z.string(),
  credit_used: z.string(),
  locked: z.string(),
  card: cardSchema.nullable(),
  auto_binding: z.boolean(),
  created_at: z.string(),
}).openapi('Account');
