import { errors } from '@elastic/elasticsearch';
import { errorKind, InvariantError, LetheError, reasonOf, RecordError, ServiceUnavailableError } from '../src/errors.js';

/**
 * A reason Elasticsearch gave, without the values it quotes: a mapper error ends with "Preview of
 * field's value: '…'" (a document's own data) and names the document by its id in quotes. Field
 * names and types, in brackets, are kept. Pure.
 */
export function redactReason(reason: string | undefined | null): string {
  if (!reason) return 'no reason given';
  return reason
    .replace(/\.?\s*Preview of field's value:[\s\S]*$/, '')
    .replace(/'[^']*'|"(?:[^"\\]|\\.)*"/g, '(value withheld)')
    .trim();
}

/** A bulk request's failed items in a line: how many, and the first one's type and redacted reason. Pure. */
export function bulkFailure(what: string, failures: ReadonlyArray<{ status: number; error?: { type?: string; reason?: string | null } }>): string {
  const first = failures[0]?.error;
  return `${what}: ${failures.length} item(s) failed, first: ${first?.type ?? 'unknown error'}: ${redactReason(first?.reason)}`;
}

/**
 * Elasticsearch errors in one place. Overload (429), timeouts (408), server errors, refused
 * credentials (401/403), and every connection or timeout error of the client are a wait. Any other response
 * (a request the store rejects) is the record's own fault.
 */
export function translate(error: unknown): LetheError {
  if (error instanceof LetheError) return error;
  // A bug in the connector is neither an outage nor the record's fault: never waited on.
  if (errorKind(error) === 'programmer') return new InvariantError(`elasticsearch connector: ${reasonOf(error)}`, { cause: error });
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode ?? 0;
    // 401/403: credentials or privileges, fixed by an operator for every record at once: a wait.
    // 409: a version conflict with a concurrent writer; the next try reads the document anew.
    if (status === 0 || status === 401 || status === 403 || status === 408 || status === 409 || status === 429 || status >= 500) {
      return new ServiceUnavailableError('elasticsearch', `${status}: ${redactReason(error.message)}`, { cause: error });
    }
    return new RecordError('ELASTICSEARCH_REJECTED', `elasticsearch ${status}: ${redactReason(error.message)}`, { cause: error });
  }
  return new ServiceUnavailableError('elasticsearch', reasonOf(error), { cause: error });
}
