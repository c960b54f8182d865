// Which workflow task wrote a read-model row, and whether a new write comes after it (issue #13).

/** The run (its start, ms) and the workflow task (the history length when it started) of a write. */
export interface WritePosition {
  run: number;
  task: number;
}

/**
 * Whether a write at (`position`, `seq`) may replace a row written at (`row`): later run, then
 * later task of the run, then higher seq, or equal (the same step written again). A workflow
 * task's steps are numbered in the order its code ran them, and a task rerun after its worker
 * died may run its updates in another order (issue #13, scenario 6): its writes then replace the
 * lost task's, which never happened as far as the workflow's history goes. A write from an older
 * task (an activity attempt that finished late) stays refused. Rows or writes without a
 * position (written before it existed) compare by seq.
 */
export function comesAfter(position: WritePosition | undefined, seq: number, row: { seq: number | string; written_run: number | string | null; written_task: number | null }): boolean {
  if (!position || row.written_run === null || row.written_task === null) return seq >= Number(row.seq);
  const key = [position.run, position.task, seq];
  const rowKey = [Number(row.written_run), Number(row.written_task), Number(row.seq)];
  for (let i = 0; i < key.length; i += 1) if (key[i] !== rowKey[i]) return key[i] > rowKey[i];
  return true;
}

/** `comesAfter` in SQL, for an upsert's `where` (`table`: the existing row; `excluded`: the write). */
export const comesAfterSql = (table: string) => `(case when ${table}.written_run is null or excluded.written_run is null then ${table}.seq <= excluded.seq
  else (excluded.written_run, excluded.written_task, excluded.seq) >= (${table}.written_run, ${table}.written_task, ${table}.seq) end)`;

/** `comesAfter` in SQL for an UPDATE of one row of `table` by a write at (`position`, `seq`). */
export function comesAfterUpdateSql(position: WritePosition | undefined, seq: number): [string, (number | null)[]] {
  const run = position?.run ?? null;
  return [
    `(case when written_run is null or ?::bigint is null then seq <= ? else (?::bigint, ?::int, ?::bigint) >= (written_run, written_task, seq) end)`,
    [run, seq, run, position?.task ?? null, seq],
  ];
}
