import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

export const id = (prefix: string) => z.string().min(3).max(64).regex(/^[a-z]+_[0-9a-z]+$/, 'not a valid id').openapi({ example: `${prefix}_7k3m9q2r8t4v6w1x5y0z` });

/**
 * A path or body reference to a resource the API issued: `<prefix>_<lowercase base32/hex>`,
 * e.g. `acc_7k3m9q2r8t4v6w1x5y0z`. Anything else cannot name a resource and is a 400, not a
 * database lookup.
 */
export const resourceId = z
  .string()
  .min(3)
  .max(64)
  .regex(/^[a-z][a-z0-9]{0,15}_[0-9a-z]{1,60}$/, 'not a valid id (e.g. "acc_7k3m9q2r8t4v6w1x5y0z")')
  .openapi({ example: 'acc_7k3m9q2r8t4v6w1x5y0z' });

export const idParams = z.strictObject({ id: resourceId });
export type IdParams = z.infer<typeof idParams>;

/** A row the API names by its sequence number (notifications, webhook deliveries): a positive integer. */
export const seqIdParams = z.strictObject({ id: z.string().max(18).regex(/^[1-9][0-9]{0,17}$/, 'not a valid id (a positive integer such as "42")').openapi({ example: '42' }) });
