import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { verifySignature } from '../../common/webhook-signature';

// Issue #15: what is on the other end of quotaflow's messages, on real local sockets: an SMTP
// server that keeps the parsed emails, and a status change receiver that verifies each call's
// signature the way docs/notifications.md tells receivers to.

export interface ReceivedMail { to: string; from: string; subject: string; text: string; language: string | undefined; template: string | undefined }

export async function startSmtpServer(): Promise<{ url: string; mails: ReceivedMail[]; close(): Promise<void> }> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'], // plain SMTP on localhost; production uses smtps:// or STARTTLS
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((m) => {
          const to = Array.isArray(m.to) ? m.to.map((a) => a.text).join(', ') : (m.to?.text ?? '');
          mails.push({ to, from: m.from?.text ?? '', subject: m.subject ?? '', text: m.text ?? '', language: m.headers.get('content-language') as string | undefined, template: m.headers.get('x-quotaflow-template') as string | undefined });
          callback();
        })
        .catch((err: Error) => callback(err));
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = ((server as unknown as { server: Server }).server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

export interface ReceivedCall { eventId: string; type: string; body: any; signed: boolean; attempt: string }

/** A status change receiver; `answer(n)` is the HTTP status of its n-th call (1-based). */
export async function startReceiver(secret: string, answer: (n: number) => number = () => 200): Promise<{ url: string; calls: ReceivedCall[]; setAnswer(f: (n: number) => number): void; close(): Promise<void> }> {
  const calls: ReceivedCall[] = [];
  let n = 0;
  let reply = answer;
  const server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      n += 1;
      const signed = verifySignature(secret, raw, req.headers['quotaflow-signature'] as string | undefined);
      calls.push({ eventId: String(req.headers['quotaflow-event-id']), type: String(req.headers['quotaflow-event-type']), body: JSON.parse(raw), signed, attempt: String(req.headers['quotaflow-delivery-attempt']) });
      res.writeHead(signed ? reply(n) : 401).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/status-change`;
  return { url, calls, setAnswer: (f) => { reply = f; }, close: () => new Promise<void>((r) => server.close(() => r())) };
}
