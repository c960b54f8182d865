// Money and time as the API gives them, shown without ever going through a float (R-M1):
// amounts stay decimal strings, instants are shown in the billing local time they carry (R-T1).

/** "1700.5" → "1,700.50"; "-3" → "-3.00". Only digit grouping and two decimals, no arithmetic. */
export function groupDigits(amount: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!m) return amount;
  const [, sign, int, frac = ''] = m;
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const decimals = frac.length >= 2 ? frac : frac.padEnd(2, '0');
  return `${sign}${grouped}.${decimals}`;
}

export function money(amount: string | null | undefined, currency = 'USD'): string {
  if (amount === null || amount === undefined) return '—';
  return `${currency} ${groupDigits(amount)}`;
}

/** Is `s` a positive amount with at most 2 decimals (what the API takes as money)? */
export function isPositiveMoney(s: string): boolean {
  return /^(0|[1-9]\d{0,11})(\.\d{1,2})?$/.test(s) && !/^0(\.0{1,2})?$/.test(s);
}

/** "2026-03-20T15:00:00.000+08:00" → "2026-03-20 15:00" (the local time the instant carries). */
export function localTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]}` : iso;
}

export function localDate(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 10) : '—';
}

/** "+08:00" from an instant, for "times are in UTC+08:00". */
export function offsetOf(iso: string | null | undefined): string | null {
  const m = iso ? /([+-]\d{2}:\d{2}|Z)$/.exec(iso) : null;
  if (!m) return null;
  return m[1] === 'Z' ? '+00:00' : m[1];
}

/** Instants compared as instants (their offsets may differ). */
export const instantMs = (iso: string) => Date.parse(iso);
