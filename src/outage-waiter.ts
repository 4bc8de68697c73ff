import { errorKind, reasonOf, ServiceUnavailableError } from './errors.js';
import type { Logger } from './logger.js';
import { jitteredDelay, sleep } from './retry.js';

/** Who hears that a service waits for a server, and when it is back. */
export interface OutageReport {
  waiting(outage: Outage): void;
  recovered(outage: Outage, waitedMs: number): void;
}

export interface Outage {
  /** The server waited for: redis, elasticsearch, bigquery, kafka, schema-registry, postgres. */
  service: string;
  reason: string;
  since: number;
}

export interface OutageWaiterOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  logger: Logger;
  report?: OutageReport;
  /** How often a continuing wait is logged again (the first failure always is). */
  logEveryMs?: number;
}

/**
 * Runs work until it succeeds, waiting out infrastructure errors for as long as they last: a
 * server down is a wait, never a failure (DESIGN.md, "Errors"). Between tries it backs off
 * exponentially with full jitter up to a cap, so a recovered server is used again within about
 * `maxDelayMs`; each `run` starts from the initial delay. The record's own errors and programmer
 * errors are thrown at once; an aborted signal (a stop, a rebalance) ends the wait with its reason.
 */
export class OutageWaiter {
  constructor(private readonly options: OutageWaiterOptions) {}

  async run<T>(what: string, work: (attempt: number) => Promise<T>, signal: AbortSignal): Promise<T> {
    let outage: Outage | undefined;
    let logged = 0;
    for (let attempt = 1; ; attempt += 1) {
      signal.throwIfAborted();
      try {
        const result = await work(attempt);
        if (outage) {
          const waitedMs = Date.now() - outage.since;
          this.options.logger.info({ service: outage.service, waitedMs, attempts: attempt }, `${what}: ${outage.service} is back`);
          this.options.report?.recovered(outage, waitedMs);
        }
        return result;
      } catch (error) {
        if (errorKind(error) !== 'infrastructure' || signal.aborted) {
          // Stopped or handed on while waiting: this wait is over, whether or not the server is back.
          if (outage) this.options.report?.recovered(outage, Date.now() - outage.since);
          throw error;
        }
        const now = Date.now();
        if (!outage) {
          outage = { service: serviceOf(error), reason: reasonOf(error).slice(0, 500), since: now };
          this.options.report?.waiting(outage);
        }
        if (now - logged >= (this.options.logEveryMs ?? 30_000)) {
          logged = now;
          this.options.logger.warn({ service: outage.service, err: reasonOf(error), since: new Date(outage.since).toISOString(), attempt }, `${what}: waiting for ${outage.service}`);
        }
        await sleep(jitteredDelay(attempt, this.options), signal).catch((reason: unknown) => {
          this.options.report?.recovered(outage!, Date.now() - outage!.since);
          throw reason;
        });
      }
    }
  }
}

/** The server an infrastructure error is about, as the edges named it. */
export function serviceOf(error: unknown): string {
  if (error instanceof ServiceUnavailableError) return error.service;
  const name = error instanceof Error ? error.name : '';
  return name.startsWith('KafkaJS') ? 'kafka' : 'unknown';
}
