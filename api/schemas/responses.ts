import { errorSchema } from '../http';

/** A documented error answer of a route (OpenAPI): its description with the error shape. */
export const errorDoc = (description: string) => ({ description, schema: errorSchema });
