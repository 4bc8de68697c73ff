import { errorKind } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RequestService } from './request-service.js';
import type { MailKind, RequestRow } from './request-store.js';

/**
 * The outbox of request mail: rows queued in the transaction of the move they announce, sent
 * here, each claimed with SKIP LOCKED so two instances never send one twice. A verification
 * code is made when its mail is sent (only its hash is stored, in the same transaction), so the
 * outbox never holds a secret. An SMTP outage is a wait: the row stays and is sent later. Once a
 * request is closed and its last mail sent, its address is forgotten (only a keyed hash stays).
 */
/** One mailbox, `local@domain`: nothing a mailer would read as a list or a display name. */
export const MAILBOX = /^[^\s@,;<>()"'\\]+@[^\s@,;<>()"'\\]+\.[^\s@,;<>()"'\\]+$/;

export interface MailContext {
  request: RequestRow;
  kind: MailKind;
  payload: Record<string, unknown>;
  code?: string;
  verifyUrl?: string;
  cancelUrl?: string;
  /** An access request's download link (completion), valid until its copy expires. */
  exportUrl?: string;
  expiresAt?: number;
}

export interface MailPorts {
  /** Sends one mail, returns its message id; throws ServiceUnavailableError while SMTP is down. */
  send(to: string, mail: { subject: string; text: string }): Promise<string>;
  compose(context: MailContext): { subject: string; text: string };
}

export class RequestMail {
  constructor(
    private readonly service: RequestService,
    private readonly ports: MailPorts | undefined,
    private readonly logger: Logger,
  ) {}

  async sendDue(): Promise<void> {
    const { store, clock, secrets, catalog } = this.service;
    for (;;) {
      const sent = await store.transaction(async (db) => {
        const { rows } = await store.query<{ id: string; request_id: string; kind: MailKind; payload: Record<string, unknown> }>(
          `SELECT id, request_id, kind, payload FROM ${store.s}.request_mail WHERE sent_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`,
          [],
          'claiming request mail',
          db,
        );
        const mail = rows[0];
        if (!mail) return false;
        const now = clock.now();
        const request = (await store.get(mail.request_id, db, true))!;
        const done = async (error: string | null) =>
          store.query(`UPDATE ${store.s}.request_mail SET sent_at = to_timestamp($2 / 1000.0), attempts = attempts + 1, last_error = $3 WHERE id = $1`, [mail.id, now, error], `marking mail ${mail.id}`, db);
        if (!request.identityValue || !this.ports || !MAILBOX.test(request.identityValue)) {
          await done(!this.ports ? 'not sent: the catalog has no requests.mail' : !request.identityValue ? 'not sent: the request has no address' : `not sent: its ${request.identityKind} is not one email address`);
          return true;
        }
        const context: MailContext = { request, kind: mail.kind, payload: mail.payload };
        const base = catalog.requests.publicUrl ?? `http://${catalog.tracker.host}:${catalog.tracker.port}`;
        if ((mail.kind === 'verification' || mail.kind === 'reminder') && request.state !== 'identity_unverified') {
          await done(`not sent: the request is ${request.state}`);
          return true;
        }
        if (mail.kind === 'verification' || mail.kind === 'reminder') {
          const { rows: v } = await store.query<{ expires_at: Date }>(`SELECT expires_at FROM ${store.s}.request_verifications WHERE request_id = $1`, [request.id], 'reading a verification', db);
          const expiresAt = v[0]!.expires_at.getTime();
          const { code, hash } = secrets.newCode(request.id);
          await store.query(`UPDATE ${store.s}.request_verifications SET code_hash = $2, sent_at = to_timestamp($3 / 1000.0) WHERE request_id = $1`, [request.id, hash, now], 'storing a code', db);
          context.code = code;
          context.expiresAt = expiresAt;
          context.verifyUrl = `${base}/public/requests/${request.id}/verify?token=${await secrets.linkToken(request.id, 'verify', expiresAt)}`;
        }
        if (request.state === 'waiting' && request.graceEndsAt !== null) {
          context.cancelUrl = `${base}/public/requests/${request.id}/cancel?token=${await secrets.linkToken(request.id, 'cancel', request.graceEndsAt)}`;
          // Export before erasure: a copy of what is about to be erased, read on demand while it still exists.
          if (request.type === 'erasure') context.exportUrl = `${base}/public/requests/${request.id}/export?token=${await secrets.linkToken(request.id, 'export', request.graceEndsAt)}`;
        }
        if (mail.kind === 'completion' && typeof mail.payload.exportExpiresAt === 'number') {
          context.exportUrl = `${base}/public/requests/${request.id}/export?token=${await secrets.linkToken(request.id, 'export', mail.payload.exportExpiresAt)}`;
        }
        try {
          await this.ports.send(request.identityValue, this.ports.compose(context));
          await done(null);
        } catch (error) {
          if (errorKind(error) === 'infrastructure') throw error;
          this.logger.warn({ requestId: request.id, kind: mail.kind, err: (error as Error).message }, 'request mail refused');
          await done((error as Error).message);
        }
        await this.forgetAddressWhenDone(db, request);
        return true;
      });
      if (!sent) return;
    }
  }

  private async forgetAddressWhenDone(db: Parameters<Parameters<RequestService['store']['transaction']>[0]>[0], request: RequestRow): Promise<void> {
    const { store } = this.service;
    if (request.closedAt === null) return;
    await store.query(
      `UPDATE ${store.s}.requests SET identity_value = NULL WHERE id = $1
       AND NOT EXISTS (SELECT 1 FROM ${store.s}.request_mail WHERE request_id = $1 AND sent_at IS NULL)`,
      [request.id],
      `forgetting the address of request ${request.id}`,
      db,
    );
  }
}
