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
  email: z.string().nullable().openapi({ description: 'where email notifications go (issue #15)' }),
  phone: z.string().nullable().openapi({ description: 'E.164, where SMS notifications go' }),
  language: z.enum(['en', 'zh-CN']).openapi({ description: 'the language of email and SMS messages' }),
  created_at: z.string(),
}).openapi('Account');

// Issue #15: the account's contact fields, as POST /v1/accounts and PATCH /v1/accounts/{id} take them.
// null clears a field; E.164 is "+" then up to 15 digits, the first not 0.
export const LANGUAGES = ['en', 'zh-CN'] as const;
export const contactFields = {
  email: z.email('an email address such as ops@example.com').max(254).nullable().optional(),
  phone: z.string().regex(/^\+[1-9]\d{6,14}$/, 'a phone number in E.164 form such as +8613800138000').nullable().optional(),
  language: z.enum(LANGUAGES).optional(),
};
