import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

/** PEM file paths of a certificate and its key. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  /** the test CA's certificate */
  ca: string;
  /** for the server's frontend: localhost and 127.0.0.1 */
  server: CertFiles;
  /** the server's own system worker, a client of its frontend */
  internalClient: CertFiles;
  /** what quotaflow's worker and API present */
  client: CertFiles;
  /** a second CA, and a client certificate it signed: what the server must refuse */
  otherCa: string;
  otherClient: CertFiles;
}

/**
 * A throwaway PKI made at test time: two CAs, a server certificate and client certificates,
 * as Go's TLS stack accepts them (SANs, key usages, positive serials). RSA keys come from
 * Node's crypto (fast); node-forge builds and signs the X.509 certificates.
 */
export function makeTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const ca = makeCa('quotaflow test CA');
  const other = makeCa('some other CA');
  const write = (name: string, c: { cert: forge.pki.Certificate; key: forge.pki.PrivateKey }): CertFiles => {
    const cert = join(dir, `${name}.pem`);
    const key = join(dir, `${name}.key`);
    writeFileSync(cert, forge.pki.certificateToPem(c.cert));
    writeFileSync(key, forge.pki.privateKeyToPem(c.key), { mode: 0o600 });
    return { cert, key };
  };
  const caFile = write('ca', ca).cert;
  const otherCaFile = write('other-ca', other).cert;
  return {
    ca: caFile,
    server: write('server', leaf(ca, 'localhost', 'server')),
    internalClient: write('internal-client', leaf(ca, 'temporal-system-worker', 'client')),
    client: write('client', leaf(ca, 'quotaflow', 'client')),
    otherCa: otherCaFile,
    otherClient: write('other-client', leaf(other, 'quotaflow', 'client')),
  };
}

interface Issued {
  cert: forge.pki.Certificate;
  key: forge.pki.PrivateKey;
}

function keyPair(): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.PrivateKey } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  return { publicKey: forge.pki.publicKeyFromPem(publicKey), privateKey: forge.pki.privateKeyFromPem(privateKey) };
}

function baseCert(publicKey: forge.pki.PublicKey, cn: string): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial: the top bit clear (Go rejects negative serial numbers).
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + 2 * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  return cert;
}

function makeCa(cn: string): Issued {
  const { publicKey, privateKey } = keyPair();
  const cert = baseCert(publicKey, cn);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert, key: privateKey };
}

function leaf(issuer: Issued, cn: string, use: 'server' | 'client'): Issued {
  const { publicKey, privateKey } = keyPair();
  const cert = baseCert(publicKey, cn);
  cert.setIssuer(issuer.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: use === 'server', clientAuth: use === 'client' },
    // Go checks names only against SANs (never the CN): DNS localhost and IP 127.0.0.1.
    ...(use === 'server' ? [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }] : []),
    { name: 'authorityKeyIdentifier', keyIdentifier: issuer.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(issuer.key as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert, key: privateKey };
}
