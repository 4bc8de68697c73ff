import type { Logger } from '../logger.js';
import type { AccessExport } from './access-export.js';
import { utcDay } from './notifications.js';
import { openExport, sealExport } from './export-crypto.js';
import { LeaseLost, type ExecutionPorts } from './request-execution.js';
import { RequestActionError, type RequestService } from './request-service.js';
import type { Actor } from './request-states.js';
import type { RequestRow } from './request-store.js';

/**
 * Access requests, from execution to the deleted copy. An `access` request in `executing` reads
 * the subject's rows from the primary (access-export.ts; holds do not stop it and sinks are not
 * involved), and in one transaction of the request store keeps the copy in `request_exports`,
 * sealed with AES-256-GCM under a key derived from the request secret (export-crypto.ts), moves
 * the request to `complete` and queues the completion mail, whose download link (purpose
 * `export`, valid until the copy expires) is made when the mail is sent. The copy is given to the
 * person through that link (POST, so a mail scanner downloads nothing) and to operators through
 * the API and CLI; each read is recorded in the request's history. It is deleted
 * `requests.accessExport.retention` after completion by the sweep the worker runs every tick.
 */
export class AccessExports {
  constructor(private readonly service: Pick<RequestService, 'store' | 'secrets' | 'clock' | 'catalog' | 'exportNow'>) {}

  /** The person's download: a valid `export` link and a copy not yet expired; anything else is 403. */
  async download(id: string, token: string): Promise<Buffer> {
    const now = this.service.clock.now();
    const refused = new RequestActionError('BAD_LINK', 'this download link is not valid (expired, or not for this request)', 403);
    if (!(await this.service.secrets.checkLink(token, id, 'export', now))) throw refused;
    const content = await this.take(id, 'subject', 'the access export was downloaded with the link from the mail', now);
    if (content) return content;
    const before = await this.beforeErasure(id, now);
    if (!before) throw refused;
    return before;
  }

  /**
   * Export before erasure: during an erasure's grace period the person may take a copy of what is
   * about to be erased. It is read from the primary on demand and never stored; once the request
   * is executed (or canceled) there is nothing to give.
   */
  private async beforeErasure(id: string, now: number): Promise<Buffer | undefined> {
    const { store } = this.service;
    const r = await store.get(id);
    if (!r || r.type !== 'erasure' || r.state !== 'waiting' || !this.service.exportNow) return undefined;
    const built = await this.service.exportNow({ requestId: id, subjectType: r.subjectType!, key: r.subjectKey!, now });
    await store.transaction(async (db) => {
      const current = await store.get(id, db, true);
      if (current?.state !== 'waiting') throw new RequestActionError('TOO_LATE', `request ${id} is ${current?.state ?? 'gone'}: its data is no longer there to copy`, 409);
      await store.appendTransition(db, id, 'waiting', 'waiting', 'subject', 'a copy of the data was downloaded before the erasure, with the link from the mail', now);
    });
    return Buffer.from(`${JSON.stringify(built, null, 2)}\n`, 'utf8');
  }

  /** An operator's read (API, CLI), recorded as theirs; 404 when there is no copy (any more). */
  async read(id: string, actor: Actor): Promise<Buffer> {
    const now = this.service.clock.now();
    const r = await this.service.store.get(id);
    if (!r) throw new RequestActionError('NOT_FOUND', `no request ${id}`, 404);
    if (r.type !== 'access') throw new RequestActionError('NOT_AN_ACCESS_REQUEST', `request ${id} is an ${r.type} request: only access requests have an export`, 409);
    const content = await this.take(id, actor, 'the access export was read by an operator', now);
    if (!content) {
      const why = r.state === 'complete' ? 'it expired and was deleted' : `the request is ${r.state}`;
      throw new RequestActionError('NO_EXPORT', `request ${id} has no access export: ${why}`, 404);
    }
    return content;
  }

  private async take(id: string, actor: Actor, reason: string, now: number): Promise<Buffer | undefined> {
    const { store, secrets } = this.service;
    return store.transaction(async (db) => {
      const { rows } = await store.query<{ content: Buffer; expires_at: Date }>(
        `SELECT content, expires_at FROM ${store.s}.request_exports WHERE request_id = $1 FOR UPDATE`,
        [id],
        `reading the access export of request ${id}`,
        db,
      );
      const row = rows[0];
      if (!row || row.expires_at.getTime() <= now) return undefined;
      const content = openExport(secrets.exportKey(), id, row.content);
      if (actor === 'subject') {
        await store.query(`UPDATE ${store.s}.request_exports SET downloaded_at = coalesce(downloaded_at, to_timestamp($2 / 1000.0)) WHERE request_id = $1`, [id, now], `recording the download of request ${id}`, db);
      }
      const r = (await store.get(id, db))!;
      await store.appendTransition(db, id, r.state, r.state, actor, reason, now);
      return content;
    });
  }

  /** Deletes every copy past its expiry, recording it in each request's history; returns how many. */
  async sweep(): Promise<number> {
    const { store, clock } = this.service;
    const now = clock.now();
    return store.transaction(async (db) => {
      const { rows } = await store.query<{ request_id: string }>(
        `DELETE FROM ${store.s}.request_exports WHERE expires_at <= to_timestamp($1 / 1000.0) RETURNING request_id`,
        [now],
        'deleting expired access exports',
        db,
      );
      for (const { request_id: id } of rows) {
        const r = await store.get(id, db);
        if (r) await store.appendTransition(db, id, r.state, r.state, 'system', 'the access export expired and was deleted', now);
      }
      return rows.length;
    });
  }
}

/** The worker's step that deletes expired copies (RequestWorker's `extra`). */
export function accessExportSweep(service: Pick<RequestService, 'store' | 'secrets' | 'clock' | 'catalog'>, logger: Logger): { name: string; run: () => Promise<void> } {
  const exports = new AccessExports(service);
  return {
    name: 'access export retention',
    run: async () => {
      const deleted = await exports.sweep();
      if (deleted > 0) logger.info({ exports: deleted }, 'deleted expired access exports');
    },
  };
}

/**
 * Executes an access request (called from RequestExecution.executeOne, the request claimed):
 * the copy read from the primary, sealed and stored, the move to complete and the completion
 * mail, in one transaction of the request store. A request that left `executing` meanwhile
 * stores nothing.
 */
export async function executeAccess(service: RequestService, ports: Pick<ExecutionPorts, 'exportAccess'>, r: RequestRow, instance: string, logger: Logger): Promise<void> {
  const { store, clock, secrets, catalog } = service;
  const built: AccessExport = await ports.exportAccess({ requestId: r.id, subjectType: r.subjectType!, key: r.subjectKey!, now: clock.now() });
  const sealed = sealExport(secrets.exportKey(), r.id, Buffer.from(`${JSON.stringify(built, null, 2)}\n`, 'utf8'));
  const rows = built.tables.reduce((n, t) => n + t.rows.length, 0);
  await store.transaction(async (db) => {
    const now = clock.now();
    const expiresAt = now + catalog.requests.accessExport.retentionMs;
    const moved = await store.move(db, r.id, ['executing'], 'complete', 'system', `exported ${rows} row(s) from ${built.tables.length} table(s); kept until ${new Date(expiresAt).toISOString()}`, now, { executed_at: now, lease_owner: null, lease_until: null });
    if (!moved) throw new LeaseLost(r.id, instance);
    await store.query(
      `INSERT INTO ${store.s}.request_exports (request_id, content, created_at, expires_at) VALUES ($1, $2, to_timestamp($3 / 1000.0), to_timestamp($4 / 1000.0))`,
      [r.id, sealed, now, expiresAt],
      `storing the access export of request ${r.id}`,
      db,
    );
    const summary = `A copy of your personal data is ready: you can download it until ${utcDay(new Date(expiresAt))} (UTC), when we delete it.`;
    await store.queueMail(db, r.id, 'completion', { summary, exportExpiresAt: expiresAt }, now);
  });
  logger.info({ requestId: r.id, tables: built.tables.length, rows }, 'access request exported');
}
