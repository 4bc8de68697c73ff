import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RecordError, ServiceUnavailableError } from '../../../src/errors.js';
import { Mailer } from '../../../src/requests/mailer.js';
import { closedPort } from '../../support/closed-port.js';
import { endpoints } from '../../support/endpoints.js';
import { mailpit, refusedRecipient, uniqueRecipient } from '../../support/mailpit.js';

// The mailer against the stack's real SMTP server (Mailpit), read back through Mailpit's API:
// what arrives is what was sent, a refused recipient fails that mail, and a server that is down
// or silent is a wait whose error carries neither the address nor the SMTP password.
const FROM = 'Shop privacy <privacy@shop.example>';

function mailerAt(smtp = endpoints().smtpUrl, timeoutMs?: number): Mailer & Disposable {
  const mailer = new Mailer({ smtp, from: FROM, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  return Object.assign(mailer, { [Symbol.dispose]: () => mailer.close() });
}

async function failureOf(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the send to fail');
}

/** Everything an error would show in a log line: message, code and the cause chain. */
function shown(error: Error): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) parts.push(e.message, JSON.stringify(e));
  return parts.join('\n');
}

describe('Mailer over SMTP (Mailpit)', () => {
  it('delivers subject, text, recipient and From, and answers the Message-ID', async () => {
    const to = uniqueRecipient();
    const box = mailpit();
    await using _ = { [Symbol.asyncDispose]: () => box.deleteTo(to) };
    using mailer = mailerAt();

    const text = 'We received your request req_test.\nDeadline: 2026-12-31.\n';
    const messageId = await mailer.send({ to, subject: 'Your privacy request', text, context: 'request req_test (receipt)' });

    const message = await box.waitForMessage(to);
    expect(message.subject).toBe('Your privacy request');
    expect(message.to.map((a) => a.address)).toEqual([to]);
    expect(message.from).toEqual({ name: 'Shop privacy', address: 'privacy@shop.example' });
    expect(`<${message.messageId}>`).toBe(messageId);
    expect(await box.textOf(message.id)).toBe(text);
  });

  it('sends an HTML alternative beside the text, and logs in when the URL has credentials', async () => {
    const to = uniqueRecipient();
    const box = mailpit();
    await using _ = { [Symbol.asyncDispose]: () => box.deleteTo(to) };
    const url = new URL(endpoints().smtpUrl);
    url.username = 'lethe';
    url.password = 'p@ss word';
    using mailer = mailerAt(url.toString());

    await mailer.send({ to, subject: 'Both parts', text: 'plain part', html: '<p>html part</p>' });
    const message = await box.waitForMessage(to, (m) => m.subject === 'Both parts');
    expect(await box.textOf(message.id)).toBe('plain part');
  });

  it('answers a recipient the server refuses (550 at RCPT) with a RecordError naming the context, not the address', async () => {
    const to = refusedRecipient();
    using mailer = mailerAt();
    const error = await failureOf(mailer.send({ to, subject: 's', text: 't', context: 'request req_refused (receipt)' }));
    expect(error).toBeInstanceOf(RecordError);
    expect((error as RecordError).code).toBe('MAIL_RECIPIENT_REFUSED');
    expect(error.message).toContain('request req_refused (receipt)');
    expect(error.message).toContain('550');
    expect(shown(error)).not.toContain(to);
    expect(shown(error)).not.toContain(to.split('@')[0]);
  });

  it('answers a server nobody listens on with ServiceUnavailableError(smtp), without the password', async () => {
    const password = 'sekr3t-pw';
    using mailer = mailerAt(`smtp://lethe:${password}@127.0.0.1:${await closedPort()}`, 2_000);
    const error = await failureOf(mailer.send({ to: uniqueRecipient(), subject: 's', text: 't', context: 'request req_down' }));
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect((error as ServiceUnavailableError).service).toBe('smtp');
    expect(error.message).toContain('request req_down');
    expect(shown(error)).not.toContain(password);
  });

  it('answers a server that accepts the connection but never greets with ServiceUnavailableError(smtp)', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    await using _ = {
      [Symbol.asyncDispose]: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      },
    };
    const { port } = silent.address() as { port: number };
    using mailer = mailerAt(`smtp://127.0.0.1:${port}`, 500);
    const error = await failureOf(mailer.send({ to: uniqueRecipient(), subject: 's', text: 't', context: 'request req_slow' }));
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error.message).toMatch(/ETIMEDOUT/);
  });
});
