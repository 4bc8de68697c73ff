import { describe, expect, it } from 'vitest';
import { RecordError, ServiceUnavailableError, UsageError } from '../../../src/errors.js';
import { Mailer, maskText, smtpServerOf, translateSmtpError } from '../../../src/requests/mailer.js';

const where = { server: 'mail.example:587', context: 'request req_abc (receipt)', secrets: ['hunter2'] };

/** A nodemailer-shaped error, as its SMTP connection formats them. */
function smtpError(fields: { message: string; code: string; responseCode?: number; command?: string }): Error {
  return Object.assign(new Error(fields.message), fields, { rejected: ['bob@example.test'] });
}

function shown(error: Error): string {
  return [error.message, JSON.stringify(error), String((error.cause as Error).message), JSON.stringify(error.cause)].join(
    '\n',
  );
}

describe('mailer: SMTP URLs', () => {
  it('reads host, port, TLS and credentials, with the defaults nodemailer uses', () => {
    expect(smtpServerOf('smtp://127.0.0.1:51025')).toEqual({
      host: '127.0.0.1',
      port: 51025,
      secure: false,
      display: '127.0.0.1:51025',
    });
    expect(smtpServerOf('smtps://ops%40shop.example:p%2Fw%20d@mail.example')).toEqual({
      host: 'mail.example',
      port: 465,
      secure: true,
      auth: { user: 'ops@shop.example', pass: 'p/w d' },
      display: 'mail.example:465',
    });
    expect(smtpServerOf('smtp://mail.example').port).toBe(587);
    expect(smtpServerOf('smtp://[::1]:2525')).toMatchObject({ host: '::1', display: '[::1]:2525' });
  });

  it('refuses a URL that is not smtp:// or smtps:// without repeating it (it may hold a password)', () => {
    expect(() => smtpServerOf('https://u:hunter2@mail.example')).toThrow(UsageError);
    expect(() => smtpServerOf('https://u:hunter2@mail.example')).toThrow(/scheme 'https:'/);
    expect(() => smtpServerOf('not a url hunter2')).toThrow(/not a URL/);
    for (const bad of ['https://u:hunter2@mail.example', 'not a url hunter2']) {
      try {
        smtpServerOf(bad);
      } catch (error) {
        expect((error as Error).message).not.toContain('hunter2');
      }
    }
  });

  it('refuses a From without a mailbox', () => {
    expect(() => new Mailer({ smtp: 'smtp://127.0.0.1:1', from: 'Shop privacy' })).toThrow(/From address/);
  });

  it('masks addresses and secrets', () => {
    expect(maskText('550 5.1.1 <bob@example.test>: no such user; auth hunter2', ['hunter2'])).toBe(
      '550 5.1.1 <<address>>: no such user; auth ***',
    );
  });
});

describe('mailer: SMTP errors', () => {
  it('a 5xx at RCPT is the mail\'s own fault, named by its context, without the address', () => {
    const error = translateSmtpError(
      smtpError({
        message: "Can't send mail - all recipients were rejected: 550 5.1.1 <bob@example.test>: unknown user",
        code: 'EENVELOPE',
        responseCode: 550,
        command: 'RCPT TO',
      }),
      where,
    );
    expect(error).toBeInstanceOf(RecordError);
    expect(error.code).toBe('MAIL_RECIPIENT_REFUSED');
    expect(error.message).toContain('request req_abc (receipt)');
    expect(error.message).toContain('550 5.1.1');
    expect(shown(error)).not.toContain('bob');
  });

  it('a 4xx (at RCPT or anywhere) is a wait', () => {
    const error = translateSmtpError(
      smtpError({ message: 'Recipient command failed: 451 try later', code: 'EENVELOPE', responseCode: 451, command: 'RCPT TO' }),
      where,
    );
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect((error as ServiceUnavailableError).service).toBe('smtp');
  });

  it('a message refused for good (5xx at DATA) fails that mail; a refused login is a wait', () => {
    const data = translateSmtpError(
      smtpError({ message: 'Message failed: 554 spam', code: 'EMESSAGE', responseCode: 554, command: 'DATA' }),
      where,
    );
    expect(data).toBeInstanceOf(RecordError);
    expect(data.code).toBe('MAIL_REFUSED');
    const auth = translateSmtpError(
      smtpError({ message: 'Invalid login: 535 bad credentials hunter2', code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' }),
      where,
    );
    expect(auth).toBeInstanceOf(ServiceUnavailableError);
    expect(auth.message).toContain('EAUTH');
    expect(shown(auth)).not.toContain('hunter2');
  });

  it('an address nodemailer cannot use is the mail\'s own fault', () => {
    const error = translateSmtpError(smtpError({ message: 'No recipients defined', code: 'EENVELOPE', command: 'API' }), where);
    expect(error).toBeInstanceOf(RecordError);
    expect(error.code).toBe('MAIL_RECIPIENT_INVALID');
  });

  it('a connection refused, a timeout or anything unknown is a wait naming the server, not the password', () => {
    for (const code of ['ESOCKET', 'ETIMEDOUT', 'ECONNECTION', 'EDNS']) {
      const error = translateSmtpError(smtpError({ message: 'connect ECONNREFUSED hunter2', code, command: 'CONN' }), where);
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      expect(error.message).toContain(`mail.example:587 (${code})`);
      expect(shown(error)).not.toContain('hunter2');
    }
    expect(translateSmtpError(new Error('something odd'), where)).toBeInstanceOf(ServiceUnavailableError);
    expect(translateSmtpError('a string', where)).toBeInstanceOf(ServiceUnavailableError);
  });
});
