import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { escapeHtml } from '../tracker/proof-report.js';
import { describeIssues } from '../tracker/confirmation-input.js';
import { registerAccessRoutes } from './access-routes.js';
import { LAWS } from './deadlines.js';
import { RequestActionError, type CreateInput, type RequestService } from './request-service.js';
import { DENIAL_REASONS, REQUEST_STATES, REQUEST_TYPES, type RequestState } from './request-states.js';
import type { RequestRow } from './request-store.js';
import { MAILBOX } from './request-mail.js';
import type { RequestReports } from './request-report.js';
import { page } from './public-page.js';

/**
 * The request API. `/api/requests` is for operators (an operator token writes, a reader token
 * reads); `/public/requests` is the intake for members of the public: rate limited per client
 * address, always verified by a code sent to the address given, and answering the same whether or
 * not the address belongs to a customer. Links in mail land on small pages whose button posts, so
 * a mail scanner that follows links verifies or cancels nothing. No answer carries an address.
 */
const note = z.string().trim().min(1).max(2_000);
const identityText = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]*=.+$/, 'an identity is <kind>=<value>, e.g. email=ada@example.com')
  .transform((t) => ({ kind: t.slice(0, t.indexOf('=')), value: t.slice(t.indexOf('=') + 1) }));
const identity = z.union([identityText, z.object({ kind: z.string().min(1).max(64), value: z.string().min(1).max(320) }).strict()]);
const subjectText = z
  .string()
  .regex(/^[^:]+:.+$/, "a subject is '<type>:<id>', e.g. user:42")
  .transform((t) => ({ type: t.slice(0, t.indexOf(':')), id: t.slice(t.indexOf(':') + 1) }));

const createBody = z
  .object({
    type: z.enum(REQUEST_TYPES),
    identity: identity.optional(),
    subject: subjectText.optional(),
    subjectType: z.string().max(64).optional(),
    law: z.enum(LAWS).optional(),
    idempotencyKey: z.string().min(1).max(200).optional(),
    verified: z.boolean().optional(),
  })
  .strict();
// The public asks by the address the code goes to: one mailbox, nothing a mailer would split.
const publicBody = z
  .object({ type: z.enum(REQUEST_TYPES), email: z.string().trim().max(320).regex(MAILBOX, 'not one email address'), subjectType: z.string().max(64).optional(), law: z.enum(LAWS).optional(), idempotencyKey: z.string().min(1).max(200).optional() })
  .strict();

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new RequestActionError('BAD_REQUEST', describeIssues(result.error), 400);
  return result.data;
}

/** A request as the API shows it: everything but the address. */
export function publicView(r: RequestRow) {
  const { identityValue: _address, identityHash: _hash, pendingTables: _pending, ...rest } = r;
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    ...rest,
    subject: r.subjectType && r.subjectId ? `${r.subjectType}:${r.subjectId}` : null,
    receivedAt: iso(r.receivedAt),
    deadline: iso(r.deadline),
    extendedAt: iso(r.extendedAt),
    graceEndsAt: iso(r.graceEndsAt),
    executedAt: iso(r.executedAt),
    closedAt: iso(r.closedAt),
    updatedAt: iso(r.updatedAt),
  };
}

/** What a person sees about their own request: its id and state, nothing that identifies anyone. */
const personView = (r: RequestRow) => ({ id: r.id, type: r.type, state: r.state, deadline: new Date(r.deadline).toISOString() });

export async function registerRequestRoutes(app: FastifyInstance, service: RequestService, reports: RequestReports): Promise<void> {
  const limit = service.catalog.requests.intakeRateLimit;
  await app.register(rateLimit, { global: false });
  const limited = { access: 'open' as const, rateLimit: { max: limit.max, timeWindow: limit.timeWindowMs } };
  // The pages' forms post urlencoded bodies; the API's clients post JSON.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  registerOperatorRoutes(app, service, reports);
  registerPublicRoutes(app, service, limited);
  registerAccessRoutes(app, service, limited);
}

const actorOf = (request: { apiToken?: { name: string } }) => `token:${request.apiToken!.name}`;

/** /api/requests: an operator token writes, a reader token reads. */
function registerOperatorRoutes(app: FastifyInstance, service: RequestService, reports: RequestReports): void {

  app.post('/api/requests', { config: { access: 'operator' } }, async (request, reply) => {
    const body = parse(createBody, request.body);
    const key = body.idempotencyKey ?? headerKey(request.headers['idempotency-key']);
    const input: CreateInput = { type: body.type, source: 'api', actor: actorOf(request), ...(body.identity ? { identity: body.identity } : {}), ...(body.subject ? { subject: body.subject } : {}), ...(body.subjectType ? { subjectType: body.subjectType } : {}), ...(body.law ? { law: body.law } : {}), ...(key ? { idempotencyKey: key } : {}), ...(body.verified ? { verified: true } : {}) };
    const { request: created, created: isNew } = await service.create(input);
    return reply.code(isNew ? 201 : 200).send(publicView(created));
  });

  app.get<{ Querystring: { state?: string; subject?: string; limit?: string } }>('/api/requests', async (request) => {
    const q = parse(
      z.object({
        state: z.string().transform((s) => s.split(',').filter(Boolean)).pipe(z.array(z.enum(REQUEST_STATES))).optional(),
        subject: subjectText.optional(),
        limit: z.coerce.number().int().min(1).max(1000).optional(),
      }).strict(),
      request.query,
    );
    const rows = await service.list({ ...(q.state ? { states: q.state as RequestState[] } : {}), ...(q.subject ? { subjectType: q.subject.type, subjectId: q.subject.id } : {}), ...(q.limit ? { limit: q.limit } : {}) });
    return { requests: rows.map(publicView) };
  });

  app.get<{ Params: { id: string } }>('/api/requests/:id', async (request) => {
    const { request: r, transitions } = await service.show(request.params.id);
    return { ...publicView(r), transitions: transitions.map((t) => ({ ...t, at: new Date(t.at).toISOString() })), erasures: await reports.erasuresOf(r.id) };
  });

  app.get<{ Params: { id: string }; Querystring: { format?: string } }>('/api/requests/:id/report', async (request, reply) => {
    const format = request.query.format ?? 'json';
    if (!['json', 'md', 'html'].includes(format)) throw new RequestActionError('BAD_REQUEST', 'format: one of json, md, html', 400);
    const { text, type } = await reports.render(request.params.id, format as 'json' | 'md' | 'html');
    return reply.type(`${type}; charset=utf-8`).send(text);
  });

  const action = <B extends z.ZodType>(path: string, body: B, run: (id: string, body: z.output<B>, actor: string) => Promise<RequestRow>) =>
    app.post<{ Params: { id: string } }>(`/api/requests/:id/${path}`, { config: { access: 'operator' } }, async (request) => publicView(await run(request.params.id, parse(body, request.body), actorOf(request))));
  action('verify', z.object({ note: note.optional() }).strict(), (id, b, actor) => service.verifyByOperator(id, actor, b.note));
  action('approve', z.object({}).strict(), (id, _b, actor) => service.approve(id, actor));
  action('deny', z.object({ reason: z.enum(DENIAL_REASONS), note: note.optional() }).strict(), (id, b, actor) => service.deny(id, b.reason, actor, b.note));
  action('cancel', z.object({ reason: note.optional() }).strict(), (id, b, actor) => service.cancel(id, actor, b.reason));
  action('retry', z.object({}).strict(), (id, _b, actor) => service.retry(id, actor));
  action('extend', z.object({ reason: note, until: z.string().date().optional() }).strict(), (id, b, actor) => service.extend(id, b.reason, actor, b.until ? Date.parse(`${b.until}T23:59:59Z`) : undefined));

}

/** /public/requests: anyone, rate limited per client address; every answer the same for a customer and a stranger. */
function registerPublicRoutes(app: FastifyInstance, service: RequestService, limited: { access: 'open'; rateLimit: { max: number; timeWindow: number } }): void {
  app.post('/public/requests', { config: limited }, async (request, reply) => {
    const body = parse(publicBody, request.body);
    const key = body.idempotencyKey ?? headerKey(request.headers['idempotency-key']);
    const { request: r, created } = await service.create({
      type: body.type,
      identity: { kind: 'email', value: body.email },
      source: 'public',
      actor: 'subject',
      ...(body.subjectType ? { subjectType: body.subjectType } : {}),
      ...(body.law ? { law: body.law } : {}),
      ...(key ? { idempotencyKey: key } : {}),
    });
    return reply.code(created ? 202 : 200).send({ ...personView(r), message: 'If this address is known to us, a code to confirm the request was sent to it. Enter it to go on.' });
  });

  app.post<{ Params: { id: string } }>('/public/requests/:id/verify', { config: limited }, async (request, reply) => {
    const body = parse(z.object({ code: z.string().trim().regex(/^\d{6}$/, 'the code is six digits').optional(), token: z.string().min(10).max(2_000).optional() }).strict(), request.body);
    if (body.token) {
      const r = await service.verifyLink(request.params.id, body.token);
      return answer(reply, request.headers.accept, personView(r), 'Thank you: your request is confirmed.');
    }
    if (!body.code) throw new RequestActionError('BAD_REQUEST', 'give the code from the mail', 400);
    const { verified, request: r } = await service.verifyCode(request.params.id, body.code);
    if (!verified && r.state === 'identity_unverified') throw new RequestActionError('WRONG_CODE', 'that code is not the one we sent', 400);
    if (!verified) throw new RequestActionError('CLOSED_UNVERIFIED', 'the request is closed: the code expired or was entered wrongly too often; you may make a new request', 409);
    return personView(r);
  });

  app.post<{ Params: { id: string } }>('/public/requests/:id/cancel', { config: limited }, async (request, reply) => {
    const body = parse(z.object({ token: z.string().min(10).max(2_000) }).strict(), request.body);
    const r = await service.cancelByLink(request.params.id, body.token);
    return answer(reply, request.headers.accept, personView(r), 'Your request is canceled: nothing will be erased.');
  });

  for (const [path, title, button] of [['verify', 'Confirm your privacy request', 'Confirm my request'], ['cancel', 'Cancel your privacy request', 'Cancel my request']] as const) {
    app.get<{ Params: { id: string }; Querystring: { token?: string } }>(`/public/requests/:id/${path}`, { config: limited }, async (request, reply) => {
      const id = escapeHtml(request.params.id);
      const token = escapeHtml(request.query.token ?? '');
      return reply
        .type('text/html; charset=utf-8')
        .header('referrer-policy', 'no-referrer')
        .send(page(title, `<p>Request <code>${id}</code>.</p><form method="post" action="/public/requests/${id}/${path}"><input type="hidden" name="token" value="${token}"><button type="submit">${button}</button></form>`));
    });
  }
}

function headerKey(value: string | string[] | undefined): string | undefined {
  const key = Array.isArray(value) ? value[0] : value;
  return key && key.length <= 200 ? key : undefined;
}

function answer(reply: FastifyReply, accept: string | undefined, body: object, sentence: string) {
  if (accept?.includes('text/html')) return reply.type('text/html; charset=utf-8').send(page('Privacy request', `<p>${escapeHtml(sentence)}</p>`));
  return reply.send(body);
}

