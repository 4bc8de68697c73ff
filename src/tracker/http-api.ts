import type { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Catalog } from '../catalog/catalog.js';
import { LetheError, ServiceUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { accessPolicy, decideAccess, type Access, type AccessPolicy } from './api-access.js';
import type { ApiToken } from './api-tokens.js';
import { assertManualSystem, confirmationInput, describeIssues } from './confirmation-input.js';
import { DASHBOARD_HTML } from './dashboard-page.js';
import { ERASURE_STATES, type ErasureState, type ErasureStatus } from './erasure-status.js';
import { buildReport, renderReport, REPORT_FORMATS, type ReportFormat } from './proof-report.js';
import type { ErasureFilter, StatusStore } from './status-store.js';
import type { TrackerMetrics } from './tracker-metrics.js';
import { describeWait, type SinkWait, type SinkWaits } from './sink-waits.js';
import { RequestActionError, type RequestService } from '../requests/request-service.js';
import type { RequestReports } from '../requests/request-report.js';
import { registerRequestRoutes } from '../requests/request-routes.js';

export interface HttpApi {
  url: string;
  close(): Promise<void>;
}

export interface HttpApiOptions {
  catalog: Catalog;
  store: StatusStore;
  metrics: TrackerMetrics;
  /** Which sinks wait for a server: shown on the erasures still waiting on them. */
  waits: SinkWaits;
  changes: EventEmitter;
  /** Publishes (and announces) what the store holds unpublished. */
  publishPending: () => Promise<void>;
  logger: Logger;
  listen: { host: string; port: number };
  /** Privacy requests, when the catalog takes them: /api/requests and the public intake. */
  requests?: { service: RequestService; reports: RequestReports };
}

const instant = z
  .string()
  .refine((t) => !Number.isNaN(Date.parse(t)), 'not a date-time (use ISO 8601, e.g. 2026-11-01T00:00:00Z)')
  .transform((t) => Date.parse(t));

const listQuery = z
  .object({
    status: z
      .string()
      .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(z.enum(ERASURE_STATES, { message: `a status is one of ${ERASURE_STATES.join(', ')}` })))
      .optional(),
    subject: z.string().regex(/^[^:]+:.+$/, "a subject is '<type>:<id>', e.g. user:42").optional(),
    since: instant.optional(),
    until: instant.optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

/** The largest request body: a confirmation is a few hundred bytes. */
export const BODY_LIMIT = 16_384;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (api-access.ts); a route without one needs a reader. */
    access?: Access | 'health';
  }
  interface FastifyRequest {
    /** The token the request authenticated with, if any. */
    apiToken?: ApiToken;
  }
}

class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const badRequest = (error: z.ZodError) => new ApiError(400, 'BAD_REQUEST', describeIssues(error));

/**
 * The tracker's HTTP side: JSON status API, proof reports, a live dashboard (server-sent
 * events), and Prometheus metrics. Errors are JSON `{ error: { code, message } }`.
 */
export async function startHttpApi(options: HttpApiOptions): Promise<HttpApi> {
  const { store, metrics, waits, changes, publishPending, logger } = options;
  const annotate = <T extends ErasureStatus | ReturnType<typeof summaryOf>>(s: T) => withWaits(s, waits.current());
  const { catalog } = options;
  const policy = accessPolicy(catalog.tracker, options.listen.host);
  const tls = catalog.tracker.tls ? await readTls(catalog.tracker.tls) : null;
  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: BODY_LIMIT, https: tls, ...(catalog.tracker.trustProxy.length > 0 ? { trustProxy: catalog.tracker.trustProxy } : {}) });
  app.addHook('onRequest', async (request, reply) => guard(policy, request, reply, logger));

  const found = async (id: string) => {
    const status = await store.get(id);
    if (!status) throw new ApiError(404, 'NOT_FOUND', `no erasure ${id}`);
    return annotate(status);
  };
  const parse = <T extends z.ZodType>(schema: T, value: unknown): z.output<T> => {
    const result = schema.safeParse(value ?? {});
    if (!result.success) throw badRequest(result.error);
    return result.data;
  };

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof RequestActionError) return reply.code(error.status).send({ error: { code: error.code, message: error.message } });
    // A database or store that does not answer: a wait for the caller too.
    if (error instanceof ServiceUnavailableError) {
      logger.warn({ err: error.message, route: request.routeOptions.url }, 'API request waits for a service');
      return reply.code(503).header('retry-after', '5').send({ error: { code: 'SERVICE_UNAVAILABLE', message: `${error.service} does not answer; try again shortly` } });
    }
    if (error instanceof ApiError) return reply.code(error.statusCode).send({ error: { code: error.code, message: error.message } });
    if (error instanceof LetheError && error.code === 'NOT_FOUND') return reply.code(404).send({ error: { code: error.code, message: error.message } });
    if (error instanceof LetheError && error.code === 'NOT_A_MANUAL_SYSTEM') return reply.code(400).send({ error: { code: error.code, message: error.message } });
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 413) return reply.code(413).send({ error: { code: 'BODY_TOO_LARGE', message: `the request body is over ${BODY_LIMIT} bytes` } });
    if (status && status >= 400 && status < 500) {
      return reply.code(status).send({ error: { code: (error as { code?: string }).code ?? 'BAD_REQUEST', message: (error as Error).message } });
    }
    logger.error({ err: (error as Error).message, route: request.routeOptions.url }, 'API request failed');
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'the tracker could not answer; see its log' } });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } }));

  app.get('/api/erasures', async (request) => {
    const q = parse(listQuery, request.query);
    const filter: ErasureFilter = {};
    if (q.status) filter.status = q.status as ErasureState[];
    if (q.subject) {
      const at = q.subject.indexOf(':');
      filter.subjectType = q.subject.slice(0, at);
      filter.subjectId = q.subject.slice(at + 1);
    }
    if (q.since !== undefined) filter.since = q.since;
    if (q.until !== undefined) filter.until = q.until;
    if (q.limit !== undefined) filter.limit = q.limit;
    const erasures = await store.list(filter);
    return { erasures: erasures.map((e) => annotate(summaryOf(e))) };
  });

  app.get<{ Params: { id: string } }>('/api/erasures/:id', async (request) => found(request.params.id));

  app.get<{ Params: { subject: string } }>('/api/subjects/:subject/erasures', async (request) => {
    const subject = request.params.subject;
    const at = subject.indexOf(':');
    if (at <= 0 || at === subject.length - 1) throw new ApiError(400, 'BAD_REQUEST', "a subject is '<type>:<id>', e.g. user:42");
    const erasures = await store.list({ subjectType: subject.slice(0, at), subjectId: subject.slice(at + 1), limit: 1000 });
    return { subject, erasures: erasures.map(annotate) };
  });

  app.post<{ Params: { id: string } }>('/api/erasures/:id/confirm', { config: { access: 'operator' } }, async (request, reply) => {
    const body = parse(confirmationInput, request.body);
    assertManualSystem(catalog, body.system);
    await found(request.params.id);
    const via = `token:${request.apiToken!.name}`;
    const { status, created } = await store.confirm({ eventId: request.params.id, system: body.system, by: body.by, via, note: body.note, at: Date.now() });
    await publishPending();
    logger.info({ eventId: request.params.id, system: body.system, token: request.apiToken!.name, created }, 'manual system confirmed');
    return reply.code(created ? 201 : 200).send(status);
  });

  app.get<{ Params: { id: string }; Querystring: { format?: string } }>('/api/erasures/:id/report', async (request, reply) => {
    const format = (request.query.format ?? 'json') as ReportFormat;
    if (!REPORT_FORMATS.includes(format)) throw new ApiError(400, 'BAD_REQUEST', `format: one of ${REPORT_FORMATS.join(', ')}`);
    const status = await store.get(request.params.id);
    if (!status) throw new ApiError(404, 'NOT_FOUND', `no erasure ${request.params.id}`);
    const text = renderReport(buildReport(status, Date.now()), format);
    const type = { json: 'application/json', md: 'text/markdown', html: 'text/html' }[format];
    return reply.type(`${type}; charset=utf-8`).send(text);
  });

  if (options.requests) await registerRequestRoutes(app, options.requests.service, options.requests.reports);

  app.get('/api/sinks', async () => ({ waiting: waits.current().map((w) => ({ ...w, since: new Date(w.since).toISOString(), message: describeWait(w) })) }));
  app.get('/api/stream', (request, reply) => streamChanges(reply, changes));
  app.get('/metrics', { config: { access: policy.metricsOpen ? 'open' : 'reader' } }, async (request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/healthz', { config: { access: 'health' } }, async () => ({ ok: true }));
  // The page holds no data: it asks for a token when the API answers 401.
  app.get('/', { config: { access: 'open' } }, async (request, reply) => reply.type('text/html; charset=utf-8').send(DASHBOARD_HTML));

  try {
    await app.listen({ host: options.listen.host, port: options.listen.port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new LetheError(
      'TRACKER_LISTEN',
      `tracker API cannot listen on ${options.listen.host}:${options.listen.port} (catalog tracker.host/tracker.port): ${code === 'EADDRINUSE' ? 'the port is in use' : (error as Error).message}`,
      { cause: error },
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.listen.port;
  const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host;
  return { url: `${tls ? 'https' : 'http'}://${host}:${port}`, close: () => app.close() };
}

async function readTls(files: { cert: string; key: string }): Promise<{ cert: Buffer; key: Buffer }> {
  const read = (what: 'cert' | 'key') =>
    readFile(files[what]).catch((error: unknown) => {
      throw new LetheError('TRACKER_TLS', `tracker.tls.${what}: cannot read ${files[what]}: ${(error as Error).message}`, { cause: error });
    });
  return { cert: await read('cert'), key: await read('key') };
}

/**
 * Runs before routing's handlers (and before a body is read): a refused request is answered here.
 * A refused write is logged, with the route and why, never the token.
 */
async function guard(policy: AccessPolicy, request: FastifyRequest, reply: FastifyReply, logger: Logger): Promise<void> {
  const access = request.routeOptions.config.access ?? 'reader';
  const decision = decideAccess(policy, { host: request.headers.host, origin: request.headers.origin, authorization: request.headers.authorization }, access);
  if (decision.ok) {
    if (decision.token) request.apiToken = decision.token;
    return;
  }
  if (access === 'operator') logger.warn({ route: request.routeOptions.url, method: request.method, code: decision.code }, 'API write refused');
  if (decision.challenge) void reply.header('www-authenticate', decision.challenge);
  await reply.code(decision.status).send({ error: { code: decision.code, message: decision.message } });
}

/**
 * An erasure as the API shows it: each target not yet done on a sink that waits for a server says
 * so ("waiting: elasticsearch unreachable since …"), and `waiting` lists those sinks. The stored
 * status itself is unchanged: an outage is a wait, and the SLA still decides what is overdue.
 */
function withWaits<T extends Pick<ErasureStatus, 'targets'>>(status: T, current: readonly SinkWait[]): T & { waiting: string[] } {
  const bySink = new Map(current.map((w) => [w.sink, w]));
  const waiting = new Set<string>();
  const targets = status.targets.map((t) => {
    const wait = t.kind === 'sink' && (t.state === 'pending' || t.state === 'deferred') ? bySink.get(t.sink) : undefined;
    if (!wait) return t;
    waiting.add(`${t.sink} ${describeWait(wait)}`);
    return { ...t, waiting: describeWait(wait) };
  });
  return { ...status, targets, waiting: [...waiting] };
}

/** What a list shows of an erasure: everything but the timeline. */
function summaryOf(s: ErasureStatus) {
  const { timeline: _timeline, ...rest } = s;
  return rest;
}

/** Server-sent events: one `status` event per changed erasure, and a comment every 15 s to keep proxies open. */
function streamChanges(reply: FastifyReply, changes: EventEmitter): void {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  raw.write(': connected\n\n');
  const onStatus = (s: ErasureStatus) => raw.write(`event: status\ndata: ${JSON.stringify({ eventId: s.eventId, status: s.status })}\n\n`);
  const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
  changes.on('status', onStatus);
  raw.on('close', () => {
    clearInterval(keepAlive);
    changes.off('status', onStatus);
  });
}
