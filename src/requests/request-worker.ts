import { hostname } from 'node:os';
import type pg from 'pg';
import { errorKind, RecordError } from '../errors.js';
import type { Logger } from '../logger.js';
import { OutageWaiter } from '../outage-waiter.js';
import { sleep } from '../retry.js';
import type { RequestExecution } from './request-execution.js';
import type { RequestMail } from './request-mail.js';
import type { RequestService } from './request-service.js';
import type { RequestStore } from './request-store.js';

/**
 * The request lifecycle's clock work, once per tick, by whichever instance claims it first: due
 * timers (reminders, verification expiry, the end of a grace period, deadlines), execution in the
 * primary, requests following their erasures to completion, and the mail outbox. Everything it
 * claims is claimed in Postgres (SKIP LOCKED rows, a lease on an executing request), so any number
 * of `lethe run` may run it and a restart loses nothing: what was due is still due.
 */
export interface RequestWorkerOptions {
  service: RequestService;
  execution: RequestExecution;
  mail: RequestMail;
  /** More work done each tick (the redelivery of events whose hold was released). */
  extra?: Array<{ name: string; run: () => Promise<void> }>;
  logger: Logger;
}

export class RequestWorker {
  readonly instance = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  private readonly log: Logger;

  constructor(private readonly options: RequestWorkerOptions) {
    this.log = options.logger.child({ component: 'requests' });
  }

  async run(signal: AbortSignal): Promise<void> {
    const { store, catalog } = this.options.service;
    // A database or mail server that does not answer is waited out (backing off up to 30 s), as
    // everywhere else; anything else ends the worker.
    const waiter = new OutageWaiter({ initialDelayMs: catalog.requests.tickMs, maxDelayMs: 30_000, logger: this.log });
    this.log.info({ tickMs: catalog.requests.tickMs }, 'request worker started');
    try {
      await waiter.run('creating the request tables', () => store.ensureSchema(), signal);
      while (!signal.aborted) {
        await waiter.run('a request tick', () => this.tick(), signal);
        await sleep(catalog.requests.tickMs, signal);
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  }

  /** One round of everything due. Exposed for tests, which move the clock and tick. */
  async tick(): Promise<void> {
    await this.fireTimers();
    await this.options.execution.applyReleases();
    await this.options.execution.executeDue(this.instance);
    await this.options.execution.follow();
    for (const step of this.options.extra ?? []) await step.run();
    await this.options.mail.sendDue();
  }

  private async fireTimers(): Promise<void> {
    const { service } = this.options;
    const { store } = service;
    const now = service.clock.now();
    await store.transaction(async (db) => {
      for (const timer of await store.claimDueTimers(db, now)) {
        // Marked fired first, re-checked on the row as it is now: an instance whose claim saw the
        // timer before another fired it finds nothing to do.
        if (!(await store.fireTimer(db, timer.requestId, timer.kind, now))) continue;
        // One timer's own fault is logged and the timer spent; it never stops every other request's.
        await db.query('SAVEPOINT timer');
        try {
          await this.fire(db, timer.requestId, timer.kind, now);
          await db.query('RELEASE SAVEPOINT timer');
        } catch (error) {
          if (errorKind(error) === 'infrastructure') throw error;
          await db.query('ROLLBACK TO SAVEPOINT timer');
          this.log.error({ requestId: timer.requestId, timer: timer.kind, err: error }, 'a request timer failed; it is not fired again');
        }
      }
    });
  }

  private async fire(db: pg.PoolClient, id: string, kind: string, now: number): Promise<void> {
    const { service } = this.options;
    const { store } = service;
    const r = await store.get(id, db, true);
    if (!r) return;
    switch (kind) {
      case 'verification_reminder':
        if (r.state === 'identity_unverified') await store.queueMail(db, id, 'reminder', {}, now);
        return;
      case 'verification_expiry':
        if (r.state === 'identity_unverified') await service.closeUnverified(db, id, 'not verified in time', now);
        return;
      case 'grace_end':
        if (await store.move(db, id, ['waiting'], 'executing', 'system', 'the grace period ended', now)) this.log.info({ requestId: id }, 'grace period over: executing');
        return;
      case 'deadline':
        if (r.closedAt === null) this.log.warn({ requestId: id, state: r.state, deadline: new Date(r.deadline).toISOString() }, 'request past its deadline');
        return;
      default:
        throw new RecordError('UNKNOWN_TIMER', `request ${id} has a timer of unknown kind ${kind}`);
    }
  }
}
