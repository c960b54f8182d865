import type { Knex } from 'knex';

// Orders as the API reads them directly (the payment engine, payments/, writes them and answers
// the order reads with money in them): whose an order is, and a subscription's orders for its
// timeline.

type Conn = Knex | Knex.Transaction;

/** The account an order belongs to, or null when there is no such order. */
export async function orderAccountId(db: Conn, orderId: string): Promise<string | null> {
  return (await db('orders').where({ id: orderId }).first('account_id'))?.account_id ?? null;
}
