import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from './config';

export type TemporalConnectionSettings = Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA' | 'TEMPORAL_API_KEY'>;

/**
 * What both `Connection.connect` (client: the API) and `NativeConnection.connect` (worker) take
 * to reach Temporal as configured: a plain connection by default; TLS when a CA, a client
 * certificate or an API key is set (Temporal Cloud: the API key, or an mTLS certificate pair,
 * with the system's trust store). The PEM files are read here, once per connection; config.ts
 * has already checked they exist and that a certificate comes with its key.
 */
export function temporalConnectionOptions(c: TemporalConnectionSettings): { address: string; tls?: TLSConfig; apiKey?: string } {
  const tls: TLSConfig = {};
  if (c.TEMPORAL_TLS_CA) tls.serverRootCACertificate = readFileSync(c.TEMPORAL_TLS_CA);
  if (c.TEMPORAL_TLS_CERT && c.TEMPORAL_TLS_KEY) tls.clientCertPair = { crt: readFileSync(c.TEMPORAL_TLS_CERT), key: readFileSync(c.TEMPORAL_TLS_KEY) };
  const useTls = Boolean(c.TEMPORAL_TLS_CA || c.TEMPORAL_TLS_CERT || c.TEMPORAL_API_KEY);
  return {
    address: c.TEMPORAL_ADDRESS,
    ...(useTls ? { tls } : {}),
    ...(c.TEMPORAL_API_KEY ? { apiKey: c.TEMPORAL_API_KEY } : {}),
  };
}
