import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford-ish base32, lowercase

function encode(bytes: Buffer, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i] % 32];
  return out;
}

/** A fresh opaque id such as `acc_7k3m…` (20 random base32 characters, 100 bits). */
export function newId(prefix: string): string {
  return `${prefix}_${encode(randomBytes(20), 20)}`;
}

/** An id derived from a business key: the same key always names the same resource. */
export function derivedId(prefix: string, key: string): string {
  return `${prefix}_${encode(createHash('sha256').update(key).digest(), 20)}`;
}
