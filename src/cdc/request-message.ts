import type { DecodedTransaction } from './decoded-transaction.js';

/**
 * The logical message (`pg_logical_emit_message(true, 'lethe', <json>)`) a privacy request's
 * transaction carries: `{"requestId": "req_…", "subjects": [{"type": "user", "key": {"id": "42"},
 * "operation": "DELETE" | "ANONYMIZE"}]}`. `subjects` is optional (a message naming only the
 * request attributes the transaction's erasures to it). Pure.
 */

/** The prefix of logical messages that attribute a transaction to an erasure request. */
export const REQUEST_MESSAGE_PREFIX = 'lethe';

export interface RequestedSubject {
  type: string;
  /** Column -> value, in PostgreSQL's text form. */
  key: Record<string, string>;
  operation: 'DELETE' | 'ANONYMIZE';
}

export interface RequestMessages {
  /** The last valid message's request id; null without one. */
  requestId: string | null;
  subjects: RequestedSubject[];
  /** What was ignored, without any value from the message. */
  problems: string[];
}

export function readRequestMessages(messages: DecodedTransaction['messages']): RequestMessages {
  const out: RequestMessages = { requestId: null, subjects: [], problems: [] };
  for (const m of messages) {
    if (m.prefix !== REQUEST_MESSAGE_PREFIX) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(m.content);
    } catch {
      parsed = undefined;
    }
    const body = isObject(parsed) ? parsed : {};
    if (typeof body.requestId !== 'string' || body.requestId === '') {
      out.problems.push(`a '${REQUEST_MESSAGE_PREFIX}' logical message without a string requestId was ignored`);
      continue;
    }
    out.requestId = body.requestId;
    if (body.subjects === undefined) continue;
    if (!Array.isArray(body.subjects)) {
      out.problems.push(`the subjects of request ${body.requestId}'s logical message are not a list; they were ignored`);
      continue;
    }
    body.subjects.forEach((subject: unknown, i: number) => {
      const s = isObject(subject) ? subject : {};
      const key = isObject(s.key) ? s.key : undefined;
      const valid =
        typeof s.type === 'string' &&
        (s.operation === 'DELETE' || s.operation === 'ANONYMIZE') &&
        key !== undefined &&
        Object.keys(key).length > 0 &&
        Object.values(key).every((v) => typeof v === 'string');
      if (!valid) {
        out.problems.push(`subjects[${i}] of request ${body.requestId}'s logical message is not { type, key: { <column>: <text> }, operation: DELETE | ANONYMIZE }; it was ignored`);
        return;
      }
      out.subjects.push({ type: s.type as string, key: key as Record<string, string>, operation: s.operation as RequestedSubject['operation'] });
    });
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
