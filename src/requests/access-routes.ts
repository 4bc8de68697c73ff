import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { describeIssues } from '../tracker/confirmation-input.js';
import { escapeHtml } from '../tracker/proof-report.js';
import { AccessExports } from './access-exports.js';
import { page } from './public-page.js';
import { RequestActionError, type RequestService } from './request-service.js';

/**
 * The routes of an access request's copy. The link in the completion mail lands on a page whose
 * button posts the link's token (a mail scanner that opens links downloads nothing); the post
 * answers with the JSON file as an attachment, or 403 for a link that is expired, for another
 * request or purpose, or whose copy is gone. Operators read the copy with an operator token.
 * Every read is recorded in the request's history; nothing here is logged.
 */
export interface AccessRouteLimits {
  access: 'open';
  rateLimit: { max: number; timeWindow: number };
}

const tokenBody = z.object({ token: z.string().min(10).max(2_000) }).strict();

export function registerAccessRoutes(app: FastifyInstance, service: RequestService, limited: AccessRouteLimits): void {
  const exports = new AccessExports(service);

  app.get<{ Params: { id: string }; Querystring: { token?: string } }>('/public/requests/:id/export', { config: limited }, async (request, reply) => {
    const id = escapeHtml(request.params.id);
    const token = escapeHtml(request.query.token ?? '');
    const body =
      `<p>Request <code>${id}</code>: a copy of your personal data, as a JSON file.</p>` +
      `<form method="post" action="/public/requests/${id}/export"><input type="hidden" name="token" value="${token}"><button type="submit">Download my data</button></form>`;
    return reply.type('text/html; charset=utf-8').header('referrer-policy', 'no-referrer').header('cache-control', 'no-store').send(page('Download your personal data', body));
  });

  app.post<{ Params: { id: string } }>('/public/requests/:id/export', { config: limited }, async (request, reply) => {
    const parsed = tokenBody.safeParse(request.body ?? {});
    if (!parsed.success) throw new RequestActionError('BAD_REQUEST', describeIssues(parsed.error), 400);
    return attachment(reply, request.params.id, await exports.download(request.params.id, parsed.data.token));
  });

  app.get<{ Params: { id: string } }>('/api/requests/:id/export', { config: { access: 'operator' } }, async (request, reply) =>
    attachment(reply, request.params.id, await exports.read(request.params.id, `token:${request.apiToken!.name}`)),
  );
}

function attachment(reply: FastifyReply, id: string, content: Buffer) {
  return reply
    .type('application/json; charset=utf-8')
    .header('content-disposition', `attachment; filename="${id.replace(/[^A-Za-z0-9_-]/g, '')}-personal-data.json"`)
    .header('cache-control', 'no-store')
    .send(content);
}

