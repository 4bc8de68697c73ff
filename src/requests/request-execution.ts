import type pg from 'pg';
import { errorKind } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ErasureStatus } from '../tracker/erasure-status.js';
import { requestProof } from './request-report.js';
import type { StatusStore } from '../tracker/status-store.js';
import type { RequestService } from './request-service.js';
import type { RequestException, RequestRow } from './request-store.js';
import type { RequestHandler } from '../catalog/catalog.js';
import { formatQualifiedName } from '../catalog/identifiers.js';
import type { AccessExport } from './access-export.js';
import { executeAccess } from './access-exports.js';

/**
 * A request from the point of no return to its end: the executor erases the subject in the
 * primary (one transaction that names the request, so the CDC path and every ack carry it), then
 * the request follows the erasures that name it, as the tracker folds them, to complete,
 * complete_with_exceptions (something was kept: a table the catalog keeps, a scope under a legal
 * hold) or failed. Holds are read before anything is erased, and an unreadable hold stops the
 * execution (a wait), it never skips the check.
 */
export interface HeldScope {
  id: string;
  scope: string;
  basis: string;
  review: string;
}

export interface ExecutionPorts {
  /** The subject's active holds; throws (a wait) when they cannot be read. */
  activeHolds(subjectType: string, subjectId: string): Promise<HeldScope[]>;
  /** Erases the subject in the primary in one transaction, `inTransaction` last inside it. */
  erase(input: {
    requestId: string;
    subjectType: string;
    key: Record<string, string>;
    heldTables: string[];
    only?: string[];
    inTransaction?: (db: pg.PoolClient) => Promise<void>;
  }): Promise<Array<{ table: string; action: string; rows: number; keptReason?: string }>>;
  /** Which of these holds have been released. */
  releasedHolds(ids: readonly string[]): Promise<Set<string>>;
  /** The subject's rows in the primary: an access request's copy (access-export.ts). */
  exportAccess(input: { requestId: string; subjectType: string; key: Record<string, string>; now: number }): Promise<AccessExport>;
  /** Whether the request store shares the primary's database (execution and the move are atomic). */
  sameDatabase: boolean;
}

const LEASE_MS = 5 * 60_000;

export class RequestExecution {
  constructor(
    private readonly service: RequestService,
    private readonly statuses: StatusStore,
    private readonly ports: ExecutionPorts,
    private readonly logger: Logger,
  ) {}

  /** Executes every request in `executing` that no other instance holds. */
  async executeDue(instance: string): Promise<void> {
    const { store } = this.service;
    const { rows } = await store.query<{ id: string }>(
      `SELECT id FROM ${store.s}.requests WHERE state = 'executing' AND (lease_until IS NULL OR lease_until < to_timestamp($1 / 1000.0)) ORDER BY updated_at LIMIT 20`,
      [this.service.clock.now()],
      'listing requests to execute',
    );
    for (const { id } of rows) {
      const now = this.service.clock.now();
      const claimed = await store.query(
        `UPDATE ${store.s}.requests SET lease_owner = $2, lease_until = to_timestamp($3 / 1000.0)
         WHERE id = $1 AND state = 'executing' AND (lease_until IS NULL OR lease_until < to_timestamp($4 / 1000.0)) RETURNING id`,
        [id, instance, now + LEASE_MS, now],
        `claiming request ${id}`,
      );
      if (claimed.rowCount !== 1) continue;
      try {
        await this.executeOne(id, instance);
      } catch (error) {
        await store.query(`UPDATE ${store.s}.requests SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2`, [id, instance], `releasing request ${id}`).catch(() => undefined);
        if (errorKind(error) === 'infrastructure') throw error;
        await this.fail(id, error as Error);
      }
    }
  }

  private async executeOne(id: string, instance: string): Promise<void> {
    const { store, clock } = this.service;
    const r = (await store.get(id))!;
    // An access request is answered with a copy of the subject's rows: no holds, no sinks, no erasure to follow.
    if (r.type === 'access') return executeAccess(this.service, this.ports, r, instance, this.logger);
    const holds = await this.ports.activeHolds(r.subjectType!, r.subjectId!);
    const all = holds.find((h) => h.scope === 'all');
    if (all) {
      // Everything is kept: nothing is erased until the hold is released.
      const exceptions: RequestException[] = [{ kind: 'held', scope: 'all', holdId: all.id, basis: all.basis, review: all.review }];
      await store.transaction(async (db) => {
        await store.move(db, id, ['executing'], 'complete_with_exceptions', 'system', `held: ${all.id}`, clock.now(), { exceptions, lease_owner: null, lease_until: null });
        await store.queueMail(db, id, 'completion', { summary: 'Nothing was erased yet: all of your data is kept under a legal hold; it is erased once the hold ends.' }, clock.now());
      });
      return;
    }
    const heldTables = holds.filter((h) => h.scope.startsWith('table:'));
    const only = r.pendingTables ?? undefined;
    const exceptions = exceptionsOf(r, this.service.subjectType(r.subjectType!).onRequest, holds, only);
    const toPropagating = async (db: pg.PoolClient) => {
      const moved = await store.move(db, id, ['executing'], 'propagating', 'system', only ? `erased what a released hold kept: ${only.join(', ')}` : 'erased in the primary', clock.now(), {
        exceptions,
        pending_tables: null,
        executed_at: clock.now(),
        lease_owner: null,
        lease_until: null,
      });
      if (!moved) throw new Error(`request ${id} left executing while ${instance} executed it`);
      await store.query(`UPDATE ${store.s}.requests SET executions = executions + 1 WHERE id = $1`, [id], `counting an execution of request ${id}`, db);
    };
    const result = await this.ports.erase({
      requestId: id,
      subjectType: r.subjectType!,
      key: r.subjectKey!,
      heldTables: heldTables.map((h) => h.scope.slice('table:'.length)),
      ...(only ? { only } : {}),
      // In the primary's own database the move is part of the erasure's transaction: both or neither.
      ...(this.ports.sameDatabase ? { inTransaction: toPropagating } : {}),
    });
    // Elsewhere, a crash between the two re-executes the request, which finds nothing left to erase.
    if (!this.ports.sameDatabase) await store.transaction(toPropagating);
    this.logger.info({ requestId: id, tables: result.map((t) => `${t.table}:${t.action}:${t.rows}`) }, 'request executed in the primary');
  }

  private async fail(id: string, error: Error): Promise<void> {
    const { store, clock } = this.service;
    this.logger.error({ requestId: id, err: error.message }, 'request could not be executed');
    await store.transaction(async (db) => {
      await store.move(db, id, ['executing'], 'failed', 'system', error.message, clock.now(), { lease_owner: null, lease_until: null });
    });
  }

  /**
   * Releasing a hold erases what it kept, through the same path: a request that kept everything,
   * or a table, under a hold now released is executed again (for those tables only); a released
   * sink hold is marked so, and its sink's redelivered erasure completes the request.
   */
  async applyReleases(): Promise<void> {
    const { store, clock } = this.service;
    const { rows } = await store.query<{ id: string }>(
      `SELECT id FROM ${store.s}.requests WHERE state IN ('complete_with_exceptions', 'propagating', 'failed') AND exceptions @> '[{"kind": "held"}]'`,
      [],
      'listing requests with holds',
    );
    for (const { id } of rows) {
      const r = (await store.get(id))!;
      const held = r.exceptions.filter((e): e is Extract<RequestException, { kind: 'held' }> => e.kind === 'held' && !e.released);
      const released = await this.ports.releasedHolds(held.map((e) => e.holdId));
      if (released.size === 0) continue;
      const exceptions = r.exceptions.map((e) => (e.kind === 'held' && released.has(e.holdId) ? { ...e, released: true } : e));
      const reopened = held.filter((e) => released.has(e.holdId) && (e.scope === 'all' || e.scope.startsWith('table:')));
      await store.transaction(async (db) => {
        if (reopened.some((e) => e.scope === 'all')) {
          await store.move(db, id, [r.state], 'executing', 'system', 'the hold over everything was released', clock.now(), { exceptions: exceptions.filter((e) => !(e.kind === 'held' && e.scope === 'all')) });
        } else if (reopened.length > 0 && r.state === 'complete_with_exceptions') {
          const tables = reopened.map((e) => e.scope.slice('table:'.length));
          await store.move(db, id, [r.state], 'executing', 'system', `released hold(s) ${reopened.map((e) => e.holdId).join(', ')}`, clock.now(), { exceptions, pending_tables: tables });
        } else if (reopened.length === 0) {
          await store.query(`UPDATE ${store.s}.requests SET exceptions = $2 WHERE id = $1`, [id, JSON.stringify(exceptions)], `recording released holds of request ${id}`, db);
          await store.appendTransition(db, id, r.state, r.state, 'system', `released hold(s) ${[...released].join(', ')}`, clock.now());
        }
      });
    }
  }

  /**
   * Moves requests on from the statuses of the erasures that name them: complete once every
   * execution's erasure is complete (with exceptions when something was kept or held), failed
   * while one is failed; a failed erasure redriven to complete completes the request after all.
   */
  async follow(): Promise<void> {
    const { store, clock } = this.service;
    const { rows } = await store.query<{ id: string; executions: number; statuses: string[]; event_ids: string[] }>(
      `SELECT r.id, r.executions, array_agg(e.status) AS statuses, array_agg(e.event_id) AS event_ids
       FROM ${store.s}.requests r JOIN ${store.s}.erasures e ON e.facts->>'requestId' = r.id
       WHERE r.state IN ('propagating', 'failed', 'complete_with_exceptions') AND r.type = 'erasure'
       GROUP BY r.id, r.executions`,
      [],
      'following requests to their erasures',
    );
    for (const row of rows) {
      const r = (await store.get(row.id))!;
      const next = nextState(r, row.statuses, row.executions);
      if (!next || next === r.state) continue;
      const statuses = (await Promise.all(row.event_ids.map((e) => this.statuses.get(e)))).filter((s): s is ErasureStatus => s !== undefined);
      await store.transaction(async (db) => {
        const moved = await store.move(db, r.id, [r.state], next, 'system', `erasures: ${row.statuses.join(', ')}`, clock.now());
        if (moved && next !== 'failed') await store.queueMail(db, r.id, 'completion', { summary: requestSummary(moved, statuses, clock.now()) }, clock.now());
      });
      this.logger.info({ requestId: r.id, state: next }, 'request moved with its erasures');
    }
  }
}

/** Where a request goes from its erasures' statuses; undefined while they are still open. */
export function nextState(r: Pick<RequestRow, 'state' | 'exceptions'>, statuses: readonly string[], executions: number): RequestRow['state'] | undefined {
  if (statuses.length < executions) return undefined;
  if (statuses.some((s) => s === 'failed')) return r.state === 'propagating' ? 'failed' : undefined;
  if (!statuses.every((s) => s === 'complete' || s === 'held')) return undefined;
  const open = r.exceptions.filter((e) => !(e.kind === 'held' && e.released));
  // A released sink hold's erasure is complete again once its sink applied the redelivered event.
  return open.length > 0 || statuses.includes('held') ? 'complete_with_exceptions' : 'complete';
}

/**
 * What an execution keeps: the tables the catalog keeps (with its reason) and every scope under
 * an active hold, beside what an earlier execution kept and this one does not erase.
 */
export function exceptionsOf(r: Pick<RequestRow, 'exceptions'>, handlers: readonly RequestHandler[], holds: readonly HeldScope[], only: readonly string[] | undefined): RequestException[] {
  // What this execution erases after a released hold stays in the record, marked released.
  const out: RequestException[] = r.exceptions.map((e) => (e.kind === 'held' && only?.some((t) => e.scope === `table:${t}`) ? { ...e, released: true } : e));
  for (const h of handlers) {
    const table = formatQualifiedName(h.table);
    if (h.action.kind === 'keep' && !out.some((e) => e.kind === 'kept' && e.table === table)) out.push({ kind: 'kept', table, reason: h.action.reason });
  }
  for (const h of holds) {
    if (!out.some((e) => e.kind === 'held' && e.holdId === h.id)) out.push({ kind: 'held', scope: h.scope, holdId: h.id, basis: h.basis, review: h.review });
  }
  return out;
}

/** The completion mail's line: the proof's own summary of the request, on one line. */
export function requestSummary(r: RequestRow, statuses: readonly ErasureStatus[], now: number): string {
  return requestProof(r, [], statuses, now).summary.replace(/\s+/g, ' ');
}
