import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { LetheError, RecordError, ServiceUnavailableError, UsageError } from '../errors.js';

/**
 * Sends the mail of privacy requests (receipts, verification codes, outcomes) through an SMTP
 * server, over nodemailer: one connection per message, since a request sends a handful of them.
 *
 * Errors are translated here, once (STYLE.md): a server that cannot be reached, times out or
 * answers 4xx is a wait (`ServiceUnavailableError('smtp', …)`); a recipient or message the server
 * refuses for good (5xx) is the request's own fault (`RecordError`), named by the context the
 * caller passes, never by the address. No error or cause carries the address or the SMTP
 * password: the server's reply is kept with addresses masked, and the raw nodemailer error (which
 * holds the envelope) is dropped.
 */

export interface MailerOptions {
  /** `smtp://[user:password@]host[:port]` (STARTTLS when offered) or `smtps://…` (TLS from the start). */
  smtp: string;
  /** The From header, e.g. `Shop privacy <privacy@shop.example>`. */
  from: string;
  /** Limit for connecting, the greeting and each reply; default 15 s. */
  timeoutMs?: number;
}

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** What the mail is for, named in errors: e.g. `request req_… (receipt)`. Never the address. */
  context?: string;
}

export interface SmtpServer {
  host: string;
  port: number;
  secure: boolean;
  auth?: { user: string; pass: string };
  /** `host:port`, for messages: no credentials. */
  display: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** Reads an smtp:// or smtps:// URL. A bad one is a UsageError that does not repeat it (it may hold a password). */
export function smtpServerOf(url: string): SmtpServer {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      'mail: the SMTP address is not a URL (expected smtp://host:port or smtps://user:password@host:port)',
    );
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new UsageError(`mail: the SMTP address has the scheme '${parsed.protocol}' (expected smtp:// or smtps://)`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new UsageError('mail: the SMTP address names no host');
  const secure = parsed.protocol === 'smtps:';
  const port = parsed.port === '' ? (secure ? 465 : 587) : Number(parsed.port);
  const user = decodeURIComponent(parsed.username);
  const server: SmtpServer = { host, port, secure, display: `${parsed.hostname}:${port}` };
  if (user !== '') server.auth = { user, pass: decodeURIComponent(parsed.password) };
  return server;
}

/** Replaces every e-mail address and every given secret in a text. */
export function maskText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('***');
  }
  return out.replace(/[^\s<>"'(),;:]+@[^\s<>"'(),;:]+/g, '<address>');
}

/** The fields of a nodemailer error this translation reads. */
interface SmtpErrorFields {
  message?: string;
  code?: string;
  responseCode?: number;
  command?: string;
}

/** nodemailer's codes for a connection, TLS, protocol or login failure, named in the wait's message. */
const CONNECTION_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ETLS',
  'EPROTOCOL',
  'EAUTH',
  'ENOAUTH',
]);

/**
 * Decides whether a failed send is a wait or the mail's own fault, and words it without the
 * address or the password. Pure: unit-tested without a server.
 */
export function translateSmtpError(
  error: unknown,
  where: { server: string; context: string; secrets: readonly string[] },
): LetheError {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as SmtpErrorFields;
  const reason = maskText(fields.message ?? String(error), where.secrets);
  // A cause without the envelope nodemailer attaches (accepted/rejected addresses).
  const cause = Object.assign(new Error(reason), { code: fields.code, responseCode: fields.responseCode });
  const code = fields.responseCode;
  const permanent = code !== undefined && code >= 500 && code < 600 && code !== 503;
  if (permanent && fields.command === 'RCPT TO') {
    const message = `smtp ${where.server} refused the recipient of ${where.context}: ${reason}`;
    return new RecordError('MAIL_RECIPIENT_REFUSED', message, { cause });
  }
  if (permanent && fields.code !== 'EAUTH') {
    return new RecordError('MAIL_REFUSED', `smtp ${where.server} refused ${where.context}: ${reason}`, { cause });
  }
  if (code === undefined && fields.code === 'EENVELOPE') {
    // Refused by nodemailer itself before any command: an address it cannot parse.
    const message = `the recipient of ${where.context} is not a usable address: ${reason}`;
    return new RecordError('MAIL_RECIPIENT_INVALID', message, { cause });
  }
  const what = fields.code !== undefined && CONNECTION_CODES.has(fields.code) ? fields.code : 'send failed';
  return new ServiceUnavailableError('smtp', `${where.server} (${what}) for ${where.context}: ${reason}`, { cause });
}

export class Mailer {
  readonly #transport: Transporter<SMTPTransport.SentMessageInfo>;
  readonly #from: string;
  readonly #server: SmtpServer;
  readonly #secrets: string[];

  constructor(options: MailerOptions) {
    this.#server = smtpServerOf(options.smtp);
    // Checked here so that an envelope nodemailer refuses can only be the recipient's fault.
    if (!/[^\s<>@]+@[^\s<>@]+/.test(options.from)) {
      throw new UsageError('mail: the From address has no mailbox (expected e.g. "Shop privacy <privacy@shop.example>")');
    }
    this.#from = options.from;
    const pass = this.#server.auth?.pass ?? '';
    this.#secrets = pass === '' ? [] : [pass, encodeURIComponent(pass)];
    const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { host, port, secure, auth } = this.#server;
    this.#transport = nodemailer.createTransport({
      host,
      port,
      secure,
      ...(auth ? { auth } : {}),
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      dnsTimeout: timeout,
      logger: false,
      debug: false,
    });
  }

  /** The server as `host:port` (no credentials). */
  get server(): string {
    return this.#server.display;
  }

  /** Sends one message; answers its Message-ID. */
  async send(mail: OutgoingMail): Promise<string> {
    const context = mail.context ?? 'a mail';
    try {
      const info = await this.#transport.sendMail({
        from: this.#from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        ...(mail.html === undefined ? {} : { html: mail.html }),
      });
      return info.messageId;
    } catch (error) {
      throw translateSmtpError(error, { server: this.#server.display, context, secrets: this.#secrets });
    }
  }

  /** Connects, greets and logs in (when the URL has credentials) without sending: for `lethe ping`. */
  async verify(): Promise<void> {
    try {
      await this.#transport.verify();
    } catch (error) {
      const where = { server: this.#server.display, context: 'a connection check', secrets: this.#secrets };
      throw translateSmtpError(error, where);
    }
  }

  close(): void {
    this.#transport.close();
  }
}
