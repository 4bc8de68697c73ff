import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Producer } from 'kafkajs';
import pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { formatQualifiedName } from '../catalog/identifiers.js';
import { redeliverReleased } from '../holds/hold-redelivery.js';
import { scopeOf } from '../holds/hold-scope.js';
import { HoldStore, subjectKeyOf } from '../holds/hold-store.js';
import { createKafka, translateKafka } from '../kafka/kafka-client.js';
import type { Logger } from '../logger.js';
import { buildAccessExport } from './access-export.js';
import { resolveIdentity } from './identity-resolution.js';
import { assertCanonicalKey } from './subject-key.js';
import { Mailer } from './mailer.js';
import { canceledMail, closedUnverifiedMail, completionMail, denialMail, reminderMail, verificationMail, verifiedMail, extendedMail, type DenialReason } from './notifications.js';
import { PrimaryExecutor } from './primary-executor.js';
import type { ExecutionPorts } from './request-execution.js';
import type { MailContext, MailPorts } from './request-mail.js';
import type { ResolveIdentity } from './request-service.js';

/**
 * The request lifecycle's ports onto the rest of Lethe, wired from the catalog: identity
 * resolution and execution in the primary (src/requests/primary-executor.ts), legal holds
 * (src/holds/), the redelivery of what a released hold kept from a sink, and mail through the
 * catalog's SMTP server.
 */
export interface RequestPorts {
  resolveIdentity: ResolveIdentity;
  checkKey: (subjectType: string, key: Record<string, string>) => Promise<void>;
  execution: ExecutionPorts;
  mail: MailPorts | undefined;
  extra: Array<{ name: string; run: () => Promise<void> }>;
  close(): Promise<void>;
}

export function requestPorts(catalog: Catalog, trackerPool: pg.Pool, logger: Logger): RequestPorts {
  const source = new pg.Pool({ connectionString: catalog.source.url, max: 2, connectionTimeoutMillis: 10_000 });
  source.on('error', () => undefined);
  const holds = new HoldStore(trackerPool, catalog.tracker.schema);
  let executor: PrimaryExecutor | undefined;
  // Made on first use: a CLI command that only lists requests needs no hmac key.
  const primary = () => (executor ??= new PrimaryExecutor({ catalog, pool: source }));
  const mailer = catalog.requests.mail ? new Mailer(catalog.requests.mail) : undefined;
  let producer: Producer | undefined;
  const registry = new SchemaRegistry({ host: catalog.kafka.schemaRegistry });

  const execution: ExecutionPorts = {
    sameDatabase: sameDatabase(catalog.source.url, catalog.tracker.database),
    async activeHolds(subjectType, subjectId, db) {
      const active = db ? await holds.activeInTransaction(db, subjectType, subjectId) : ((await holds.activeFor([{ subjectType, subjectId }])).get(subjectKeyOf(subjectType, subjectId)) ?? []);
      return active.map((h) => ({ id: h.id, scope: h.scope, basis: h.basis, review: h.reviewAt }));
    },
    exportAccess: (input) => buildAccessExport({ catalog, pool: source, requestId: input.requestId, subject: { type: input.subjectType, key: input.key }, now: input.now }),
    releasedHolds: (ids) => holds.releasedOf(ids),
    async erase(input) {
      const heldTables = input.heldTables.map((t) => tableOf(t));
      const subject = { type: input.subjectType, key: input.key };
      const options = input.inTransaction ? { inTransaction: input.inTransaction } : {};
      const result = input.only
        ? await primary().eraseTables(input.requestId, subject, input.only.map(tableOf), { heldTables, ...options })
        : await primary().execute({ requestId: input.requestId, subject, heldTables, ...options });
      return result.tables.map((t) => ({ table: formatQualifiedName(t.table), action: t.action, rows: t.rows, ...(t.keptReason !== undefined ? { keptReason: t.keptReason } : {}) }));
    },
  };

  const redeliver = async () => {
    if (!producer) {
      const p = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-requests', logger }).producer({ idempotent: true, maxInFlightRequests: 1 });
      await p.connect().catch((error: unknown) => Promise.reject(translateKafka(error, 'connecting the hold redelivery producer')));
      producer = p;
    }
    const sent = await redeliverReleased({ catalog, pool: trackerPool, producer, registry });
    if (sent > 0) logger.info({ parts: sent }, 'redelivered what released holds kept');
  };

  return {
    resolveIdentity: (subjectType, kind, value) => resolveIdentity(catalog, source, subjectType, kind, value),
    checkKey: (subjectType, key) => assertCanonicalKey(source, catalog, subjectType, key),
    execution,
    mail: mailer
      ? {
          send: async (to, mail) => mailer.send({ to, subject: mail.subject, text: mail.text, context: 'request mail' }),
          compose: composeMail,
        }
      : undefined,
    extra: [{ name: 'hold redelivery', run: redeliver }],
    async close() {
      await producer?.disconnect().catch(() => undefined);
      await mailer?.close();
      await source.end();
    },
  };
}

function tableOf(text: string) {
  const scope = scopeOf(`table:${text}`);
  if (scope.kind !== 'table') throw new Error(`not a table: ${text}`);
  return scope.table;
}

/** Whether two connection strings name one database (same host, port and database). */
export function sameDatabase(a: string, b: string): boolean {
  const key = (url: string) => {
    try {
      const u = new URL(url);
      return `${u.hostname}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1))}`;
    } catch {
      return url;
    }
  };
  return key(a) === key(b);
}

/** The mail of each moment, from the request's ids, dates and links only. */
export function composeMail(c: MailContext): { subject: string; text: string } {
  const { request: r } = c;
  const base = { requestId: r.id, type: r.type };
  switch (c.kind) {
    case 'verification':
      return verificationMail({ requestId: r.id, code: c.code!, verifyUrl: c.verifyUrl!, expiresAt: new Date(c.expiresAt!) });
    case 'reminder':
      return reminderMail({ requestId: r.id, code: c.code!, verifyUrl: c.verifyUrl!, expiresAt: new Date(c.expiresAt!) });
    case 'receipt':
      return verifiedMail({ ...base, deadline: new Date(r.deadline), ...(c.cancelUrl && r.graceEndsAt ? { grace: { endsAt: new Date(r.graceEndsAt), cancelUrl: c.cancelUrl, ...(c.exportUrl ? { exportUrl: c.exportUrl } : {}) } } : {}) });
    case 'completion':
      return completionMail({
        ...base,
        summary: String(c.payload.summary ?? 'See the proof of erasure.'),
        ...(c.exportUrl && typeof c.payload.exportExpiresAt === 'number' ? { download: { url: c.exportUrl, until: new Date(c.payload.exportExpiresAt) } } : {}),
      });
    case 'denial':
      return denialMail({ ...base, reason: c.payload.reason as DenialReason });
    case 'canceled':
      return canceledMail(base);
    case 'closed_unverified':
      return closedUnverifiedMail({ ...base, expiredAt: new Date(r.closedAt ?? r.updatedAt) });
    case 'extended':
      return extendedMail({ ...base, deadline: new Date(r.deadline), reason: String(c.payload.reason ?? '') });
    default:
      throw new Error(`no mail for ${String(c.kind)}`);
  }
}
