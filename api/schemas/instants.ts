import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { toIsoLocal } from '../../billing/calendar';

extendZodWithOpenApi(z);

// Time on the wire: instants in (ISO 8601 with offset), instants out in billing local time
// (R-T1), local dates, terms.

export const instant = z.string().datetime({ offset: true }).openapi({ example: '2026-03-20T15:00:00+08:00' });

/** An instant in an answer (OpenAPI). */
export const at = z.string().openapi({ example: '2026-03-20T15:00:00.000+08:00' });

export const termSchema = z.strictObject({
  unit: z.enum(['month', 'year']),
  count: z.number().int().min(1).max(60),
});

/** R-T1: an instant as the API answers it, in billing local time (offset in minutes). */
export const localInstant = (offsetMinutes: number) => (v: string | Date | number): string => toIsoLocal(new Date(v).getTime(), offsetMinutes);
