import { endpoints } from './endpoints.js';
import { uniqueName } from './names.js';
import { waitFor } from './wait-for.js';

/**
 * A small client of Mailpit's HTTP API (MAILPIT_URL), for tests that read back the mail Lethe
 * sends through SMTP_URL. Tests send to addresses of their own (`uniqueRecipient`), so searching
 * by recipient sees only their mail, and `deleteTo` cleans up after them. Mailpit's `to:` search
 * matches substrings, so results are filtered here to the exact address.
 */

export interface MailpitAddress {
  name: string;
  address: string;
}

export interface MailpitSummary {
  /** Mailpit's database id (for `textOf`), not the Message-ID header. */
  id: string;
  /** The Message-ID header, without angle brackets. */
  messageId: string;
  from: MailpitAddress;
  to: MailpitAddress[];
  subject: string;
  created: string;
}

interface ApiAddress {
  Name: string;
  Address: string;
}

interface ApiSummary {
  ID: string;
  MessageID: string;
  From: ApiAddress | null;
  To: ApiAddress[] | null;
  Subject: string;
  Created: string;
}

/** A recipient no other test uses: `<prefix>_<random>@example.test`. */
export function uniqueRecipient(prefix = 'mail'): string {
  return `${uniqueName(prefix)}@example.test`;
}

/** A recipient the stack's Mailpit refuses at RCPT with 550 (any address at the .invalid domain). */
export function refusedRecipient(prefix = 'refused'): string {
  return `${uniqueName(prefix)}@refused.invalid`;
}

function addressOf(a: ApiAddress | null): MailpitAddress {
  return { name: a?.Name ?? '', address: a?.Address ?? '' };
}

export class MailpitClient {
  constructor(private readonly baseUrl: string) {}

  /** The messages sent to `address` (To, exactly, ignoring case), newest first. */
  async messagesTo(address: string): Promise<MailpitSummary[]> {
    const body = (await this.request('GET', `/api/v1/search?${this.query(address)}&limit=500`)) as {
      messages: ApiSummary[];
    };
    const wanted = address.toLowerCase();
    return body.messages
      .filter((m) => (m.To ?? []).some((to) => to.Address.toLowerCase() === wanted))
      .map((m) => ({
        id: m.ID,
        messageId: m.MessageID,
        from: addressOf(m.From),
        to: (m.To ?? []).map(addressOf),
        subject: m.Subject,
        created: m.Created,
      }))
      .sort((a, b) => b.created.localeCompare(a.created));
  }

  /** The plain-text body of one message, with line ends as `\n`. */
  async textOf(id: string): Promise<string> {
    const body = (await this.request('GET', `/api/v1/message/${encodeURIComponent(id)}`)) as { Text: string };
    return body.Text.replace(/\r\n/g, '\n');
  }

  /** Polls until a message to `address` satisfies `predicate` (any message when omitted); answers the newest such. */
  async waitForMessage(
    address: string,
    predicate: (message: MailpitSummary) => boolean = () => true,
    { timeoutMs = 15_000 } = {},
  ): Promise<MailpitSummary> {
    return waitFor(async () => (await this.messagesTo(address)).find(predicate), {
      timeoutMs,
      intervalMs: 100,
      what: 'a mail to the test recipient in Mailpit',
    });
  }

  /** Deletes every message to `address` (tests clean up after themselves). */
  async deleteTo(address: string): Promise<void> {
    await this.request('DELETE', `/api/v1/search?${this.query(address)}`);
  }

  private query(address: string): string {
    return new URLSearchParams({ query: `to:"${address}"` }).toString();
  }

  private async request(method: 'GET' | 'DELETE', path: string): Promise<unknown> {
    const response = await fetch(new URL(path, this.baseUrl), { method, signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`mailpit: ${method} ${path.split('?')[0]} answered ${response.status}`);
    const text = await response.text();
    return method === 'DELETE' ? text : JSON.parse(text);
  }
}

/** The client of the stack's Mailpit, at the endpoint the global setup probed. */
export function mailpit(): MailpitClient {
  return new MailpitClient(endpoints().mailpitUrl);
}
