import pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import type { Logger } from '../logger.js';
import { expectedTargetsOf } from '../tracker/erasure-status.js';
import { StatusStore } from '../tracker/status-store.js';
import { accessExportSweep } from './access-exports.js';
import { clockFromEnv, type Clock } from './clock.js';
import { RequestExecution, type ExecutionPorts } from './request-execution.js';
import { RequestMail, type MailPorts } from './request-mail.js';
import { RequestReports } from './request-report.js';
import { readRequestSecret, RequestSecrets } from './request-secrets.js';
import { RequestService } from './request-service.js';
import { RequestStore } from './request-store.js';
import { RequestWorker } from './request-worker.js';
import { requestPorts } from './request-ports.js';

/**
 * Everything a privacy request needs, built once from the catalog: the store (in the tracker's
 * database), the service the API and CLI act through, the proof, and the worker's parts. One
 * place, so the tracker, `lethe run` and the CLI cannot wire them differently.
 */
export interface RequestSystem {
  service: RequestService;
  reports: RequestReports;
  worker: RequestWorker;
  close(): Promise<void>;
}

export interface RequestSystemOptions {
  clock?: Clock;
  /** The tracker's status store when the caller has one; else one is opened. */
  statuses?: StatusStore;
  /** Create the request tables (the worker and tracker do; CLI commands only check). */
  ensureSchema?: boolean;
  /** The request secret; read from LETHE_REQUEST_SECRET(_FILE) when not given. */
  secret?: Buffer;
}

export async function openRequests(catalog: Catalog, logger: Logger, options: RequestSystemOptions = {}): Promise<RequestSystem> {
  const secrets = new RequestSecrets(options.secret ?? readRequestSecret());
  const clock = options.clock ?? clockFromEnv();
  const pool = new pg.Pool({ connectionString: catalog.tracker.database, max: 4, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  const statuses = options.statuses ?? new StatusStore(catalog.tracker.database, catalog.tracker.schema, (type) => expectedTargetsOf(catalog, type), catalog.tracker.slaMs);
  const store = new RequestStore(pool, catalog.tracker.schema);
  const ports = requestPorts(catalog, pool, logger);
  const service = new RequestService(catalog, store, clock, secrets, ports.resolveIdentity, logger);
  service.exportNow = ports.execution.exportAccess;
  service.checkKey = ports.checkKey;
  const execution = new RequestExecution(service, statuses, ports.execution, logger);
  const mail = new RequestMail(service, ports.mail, logger);
  const worker = new RequestWorker({ service, execution, mail, extra: [...ports.extra, accessExportSweep(service, logger)], logger });
  if (options.ensureSchema !== false) await store.ensureSchema();
  return {
    service,
    reports: new RequestReports(service, statuses),
    worker,
    async close() {
      await ports.close();
      if (!options.statuses) await statuses.close();
      await pool.end();
    },
  };
}

export type { ExecutionPorts, MailPorts };
