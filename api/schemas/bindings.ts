import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

/** A live binding of a yearly/monthly quota to a server (R-Q1); a server answers it as its `binding`. */
export const bindingSchema = z.object({
  id: z.string(),
  account_id: z.string(),
  subscription_id: z.string(),
  server_id: z.string(),
  product: z.string(),
  edition: z.string(),
  region: z.string(),
  status: z.enum(['active', 'suspended']).openapi({ description: 'R-Q4: `suspended` while the quota is frozen or isolated; a renewal makes it `active` again' }),
  created_at: z.string(),
}).openapi('Binding');
