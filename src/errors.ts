/**
 * One error hierarchy for Lethe. Every error carries a stable `code` (for logs, API responses and
 * tests), a `retriable` flag the retry helper consults, and the underlying `cause`. Subclasses add
 * the structured fields that name the thing at fault (a service, a config path, a table, a topic).
 *
 * What a long-running loop does with an error is decided by its kind (`errorKind`), once, from
 * errors each edge (a connector, the codec, the tracker's store) has already translated:
 * - `infrastructure`: a server unreachable, slow, overloaded or electing a leader. A wait: offsets
 *   stay, the loop backs off and tries again for as long as it takes.
 * - `record`: the record's own fault (bytes no registered schema reads, a document the store
 *   rejects for its content, a target misconfigured so no retry can succeed). Dead-lettered with
 *   a failed ack; the partition moves on.
 * - `programmer`: a bug (TypeError, RangeError, a broken invariant). Never retried in a loop: the
 *   service ends and `lethe run` exits non-zero.
 */
export type ErrorKind = 'infrastructure' | 'record' | 'programmer';

export interface LetheErrorOptions {
  retriable?: boolean;
  cause?: unknown;
}

export class LetheError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: LetheErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A backing service (Postgres, Kafka, a store, the registry) is not reachable, slow or overloaded: a wait. */
export class ServiceUnavailableError extends LetheError {
  readonly service: string;

  constructor(service: string, message: string, options: Omit<LetheErrorOptions, 'retriable'> & { code?: string } = {}) {
    super(options.code ?? 'SERVICE_UNAVAILABLE', `${service}: ${message}`, { retriable: true, cause: options.cause });
    this.service = service;
  }
}

/**
 * The record's own fault: no retry can succeed, so it is dead-lettered with a failed ack. `record`
 * names where it was read (topic/partition/offset) or the event id, when known.
 */
export class RecordError extends LetheError {
  constructor(code: string, message: string, options: Omit<LetheErrorOptions, 'retriable'> = {}) {
    super(code, message, { ...options, retriable: false });
  }
}

/** A broken invariant: a bug in Lethe, never retried. */
export class InvariantError extends LetheError {
  constructor(message: string, options: Omit<LetheErrorOptions, 'retriable'> = {}) {
    super('INVARIANT', message, { ...options, retriable: false });
  }
}

/** Bad input from the user: a flag, an argument, a config value. Never retriable. */
export class UsageError extends LetheError {
  constructor(message: string, options: Omit<LetheErrorOptions, 'retriable'> = {}) {
    super('USAGE', message, options);
  }
}

const PROGRAMMER_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError, InvariantError];

/**
 * The kind of an error, as the edges translated it. Errors no edge translated count as
 * infrastructure (kafka-connect-elasticsearch's rule: only an explicit set is the record's fault;
 * anything else keeps the offsets and waits), except the language's own programmer errors.
 */
export function errorKind(error: unknown): ErrorKind {
  if (PROGRAMMER_ERRORS.some((type) => error instanceof type)) return 'programmer';
  if (error instanceof LetheError) return error.retriable ? 'infrastructure' : 'record';
  return 'infrastructure';
}

/** The message of any thrown value, for an ack's or a log line's reason. */
export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
