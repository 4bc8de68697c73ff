/**
 * One error hierarchy for Lethe. Every error carries a stable `code` (for logs, API responses and
 * tests), a `retriable` flag the retry helper consults, and the underlying `cause`. Subclasses add
 * the structured fields that name the thing at fault (a service, a config path, a table, a topic).
 */
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

/** A backing service (Postgres, Kafka, ...) is not reachable or not configured. */
export class ServiceUnavailableError extends LetheError {
  readonly service: string;

  constructor(service: string, message: string, options: LetheErrorOptions = {}) {
    super('SERVICE_UNAVAILABLE', `${service}: ${message}`, { retriable: true, ...options });
    this.service = service;
  }
}

/** Bad input from the user: a flag, an argument, a config value. Never retriable. */
export class UsageError extends LetheError {
  constructor(message: string, options: Omit<LetheErrorOptions, 'retriable'> = {}) {
    super('USAGE', message, options);
  }
}
