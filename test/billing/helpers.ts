// Test helpers for the pure billing rules. Instants are written as local ISO strings with
// their offset, so each test reads like the SPEC example it checks.
export const CST = 480; // +08:00, the default billing offset (R-T1)

/** '2026-03-20T15:00' (local +08:00 unless an offset is given) → epoch ms. */
export function at(local: string): number {
  const withOffset = /([+-]\d{2}:\d{2}|Z)$/.test(local) ? local : `${local}+08:00`;
  const ms = Date.parse(withOffset);
  if (Number.isNaN(ms)) throw new Error(`bad test instant ${local}`);
  return ms;
}
