import type pg from 'pg';
import { errorKind, LetheError } from '../errors.js';
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
  activeHolds(subjectType: string, subjectId: string, db?: pg.PoolClient): Promise<HeldScope[]>;
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

/** Another instance moved the request on while this one executed it: its transaction is rolled back. */
class LeaseLost extends LetheError {
  constructor(id: string, instance: string) {
    super('LEASE_LOST', `request ${id} left executing while ${instance} executed it: the other instance's execution stands`);
  }
}

export { LeaseLost };

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
        if (error instanceof LeaseLost) {
          this.logger.info({ requestId: id }, error.message);
          continue;
        }
        await store.query(`UPDATE ${store.s}.requests SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2`, [id, instance], `releasing request ${id}`).catch(() => undefined);
        if ((error as LetheError).code === 'HOLDS_CHANGED') {
          this.logger.info({ requestId: id }, (error as Error).message);
          continue;
        }
        // The subject's rows locked by the application past the bound: this request waits for the
        // next tick; the others go on.
        const sqlstate = ((error as Error).cause as { code?: string } | undefined)?.code;
        if (sqlstate === '55P03' || sqlstate === '57014') {
          this.logger.warn({ requestId: id, sqlstate }, 'request waits: its rows in the primary are locked');
          continue;
        }
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
      // What earlier executions kept stays in the record beside it.
      const exceptions: RequestException[] = [...r.exceptions.filter((e) => !(e.kind === 'held' && e.holdId === all.id)), { kind: 'held', scope: 'all', holdId: all.id, basis: all.basis, review: all.review }];
      const summary = r.executedAt === null
        ? 'Nothing was erased yet: all of your data is kept under a legal hold; it is erased once the hold ends.'
        : 'What is left of your data is kept under a legal hold; it is erased once the hold ends.';
      await store.transaction(async (db) => {
        const moved = await store.move(db, id, ['executing'], 'complete_with_exceptions', 'system', `held: ${all.id}`, clock.now(), { exceptions, lease_owner: null, lease_until: null });
        if (!moved) throw new LeaseLost(id, instance);
        await store.queueMail(db, id, 'completion', { summary }, clock.now());
      });
      return;
    }
    const heldTables = holds.filter((h) => h.scope.startsWith('table:'));
    const only = r.pendingTables ?? undefined;
    const exceptions = exceptionsOf(r, this.service.subjectType(r.subjectType!).onRequest, holds);
    // Inside the erasure's own transaction on the primary: the holds once more (one placed since
    // they were read stops it, to be read again next tick), and the position after which its
    // commit, and so the erasure event naming this execution, must come.
    let lsn = '';
    const inPrimary = async (db: pg.PoolClient) => {
      if (this.ports.sameDatabase) {
        const now = await this.ports.activeHolds(r.subjectType!, r.subjectId!, db);
        if (now.map((h) => h.id).sort().join() !== holds.map((h) => h.id).sort().join()) throw new LetheError('HOLDS_CHANGED', `request ${id}: its holds changed while it was executed; it is executed again with the holds as they are now`, { retriable: true });
      }
      lsn = (await db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
      if (this.ports.sameDatabase) await toPropagating(db);
    };
    const toPropagating = async (db: pg.PoolClient) => {
      const moved = await store.move(db, id, ['executing'], 'propagating', 'system', only ? `erased what a released hold kept: ${only.join(', ')}` : 'erased in the primary', clock.now(), {
        exceptions,
        pending_tables: null,
        executed_at: clock.now(),
        lease_owner: null,
        lease_until: null,
        execution_lsn: lsn,
        execution_failed: false,
      });
      if (!moved) throw new LeaseLost(id, instance);
      await store.query(`UPDATE ${store.s}.requests SET executions = executions + 1 WHERE id = $1`, [id], `counting an execution of request ${id}`, db);
    };
    const result = await this.ports.erase({
      requestId: id,
      subjectType: r.subjectType!,
      key: r.subjectKey!,
      heldTables: heldTables.map((h) => h.scope.slice('table:'.length)),
      ...(only ? { only } : {}),
      // In the primary's own database the move is part of the erasure's transaction: both or neither.
      inTransaction: inPrimary,
    });
    // Elsewhere, a crash between the two executes the request again, which finds nothing left to erase.
    if (!this.ports.sameDatabase) await store.transaction(toPropagating);
    this.logger.info({ requestId: id, tables: result.map((t) => `${t.table}:${t.action}:${t.rows}`) }, 'request executed in the primary');
  }

  private async fail(id: string, error: Error): Promise<void> {
    const { store, clock } = this.service;
    this.logger.error({ requestId: id, err: error }, 'request could not be executed');
    await store.transaction(async (db) => {
      // The execution itself failed (not a sink): only a retry moves it on, never an earlier erasure.
      await store.move(db, id, ['executing'], 'failed', 'system', error.message, clock.now(), { lease_owner: null, lease_until: null, execution_failed: true });
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
      `SELECT id FROM ${store.s}.requests WHERE state IN ('complete_with_exceptions', 'propagating', 'failed')
       AND jsonb_path_exists(exceptions, '$[*] ? (@.kind == "held" && !exists(@.released))')`,
      [],
      'listing requests with holds',
    );
    for (const { id } of rows) {
      const r = (await store.get(id))!;
      const held = r.exceptions.filter((e): e is HeldException => e.kind === 'held' && !e.released);
      const released = await this.ports.releasedHolds(held.map((e) => e.holdId));
      if (released.size === 0) continue;
      const active = await this.ports.activeHolds(r.subjectType!, r.subjectId!);
      const plan = releasePlan(r, released, active);
      await store.transaction(async (db) => {
        const now = clock.now();
        const why = `released hold(s) ${[...released].join(', ')}`;
        const moved = plan.execute
          ? await store.move(db, id, [r.state], 'executing', 'system', why, now, { exceptions: plan.exceptions, pending_tables: plan.tables ?? null })
          : undefined;
        if (moved || JSON.stringify(plan.exceptions) === JSON.stringify(r.exceptions)) return;
        // Nothing to execute now (the state does not allow it yet, or another hold still keeps it):
        // recorded once, by whichever instance still finds the exceptions unchanged.
        const recorded = await store.query(
          `UPDATE ${store.s}.requests SET exceptions = $2 WHERE id = $1 AND exceptions = $3::jsonb`,
          [id, JSON.stringify(plan.execute ? r.exceptions : plan.exceptions), JSON.stringify(r.exceptions)],
          `recording released holds of request ${id}`,
          db,
        );
        if (!plan.execute && recorded.rowCount === 1) await store.appendTransition(db, id, r.state, r.state, 'system', why, now);
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
    // `current`: the erasure of the latest execution has arrived (its commit is after the
    // position read inside that execution's transaction), so earlier executions' erasures, or a
    // crashed attempt's, never complete a request on their own.
    const { rows } = await store.query<{ id: string; current: boolean; statuses: string[]; event_ids: string[] }>(
      `SELECT r.id, coalesce(bool_or(r.execution_lsn IS NULL OR (e.facts->>'commitLsn')::pg_lsn >= r.execution_lsn::pg_lsn), false) AS current,
              array_agg(e.status) AS statuses, array_agg(e.event_id) AS event_ids
       FROM ${store.s}.requests r JOIN ${store.s}.erasures e ON e.facts->>'requestId' = r.id
       WHERE r.state IN ('propagating', 'failed', 'complete_with_exceptions') AND r.type = 'erasure' AND NOT r.execution_failed
       GROUP BY r.id`,
      [],
      'following requests to their erasures',
    );
    for (const row of rows) {
      try {
        await this.followOne(row);
      } catch (error) {
        if (errorKind(error) === 'infrastructure') throw error;
        this.logger.error({ requestId: row.id, err: error }, 'a request could not follow its erasures');
      }
    }
  }

  private async followOne(row: { id: string; current: boolean; statuses: string[]; event_ids: string[] }): Promise<void> {
    const { store, clock } = this.service;
    const r = (await store.get(row.id))!;
    const next = nextState(r, row.statuses, row.current);
    if (!next || next === r.state) return;
    const statuses = (await Promise.all(row.event_ids.map((e) => this.statuses.get(e)))).filter((s): s is ErasureStatus => s !== undefined);
    await store.transaction(async (db) => {
      const moved = await store.move(db, r.id, [r.state], next, 'system', `erasures: ${row.statuses.join(', ')}`, clock.now());
      if (moved && next !== 'failed') await store.queueMail(db, r.id, 'completion', { summary: requestSummary(moved, statuses, clock.now()) }, clock.now());
    });
    this.logger.info({ requestId: r.id, state: next }, 'request moved with its erasures');
  }
}

/**
 * Where a request goes from its erasures' statuses; undefined while they are still open or the
 * latest execution's erasure has not arrived (`current`).
 */
export function nextState(r: Pick<RequestRow, 'state' | 'exceptions'>, statuses: readonly string[], current: boolean): RequestRow['state'] | undefined {
  if (!current || statuses.length === 0) return undefined;
  // A failure after a release (its erasure redelivered, or a table erased again) fails the request too.
  if (statuses.some((s) => s === 'failed')) return r.state === 'failed' ? undefined : 'failed';
  if (!statuses.every((s) => s === 'complete' || s === 'held')) return undefined;
  const open = r.exceptions.filter((e) => !(e.kind === 'held' && e.released));
  return open.length > 0 || statuses.includes('held') ? 'complete_with_exceptions' : 'complete';
}

/**
 * What an execution keeps: what earlier executions kept (a released hold stays in the record,
 * marked released), the tables the catalog keeps (with its reason) and every active hold.
 */
export function exceptionsOf(r: Pick<RequestRow, 'exceptions'>, handlers: readonly RequestHandler[], holds: readonly HeldScope[]): RequestException[] {
  const out: RequestException[] = [...r.exceptions];
  for (const h of handlers) {
    const table = formatQualifiedName(h.table);
    if (h.action.kind === 'keep' && !out.some((e) => e.kind === 'kept' && e.table === table)) out.push({ kind: 'kept', table, reason: h.action.reason });
  }
  for (const h of holds) {
    if (!out.some((e) => e.kind === 'held' && e.holdId === h.id)) out.push({ kind: 'held', scope: h.scope, holdId: h.id, basis: h.basis, review: h.review });
  }
  return out;
}

type HeldException = Extract<RequestException, { kind: 'held' }>;

/**
 * What releasing holds means for a request. Each released hold is marked so, by its id (never by
 * its scope), except one that frees a table or everything before the request can act on it:
 * that one stays open until the request is complete with exceptions (its earlier erasure
 * settled), so the release is never lost. A scope another active hold still covers is not freed:
 * that hold joins the exceptions, so its own release is followed too. Executed again:
 * everything once no hold over everything is left, else the freed tables. A released sink hold
 * needs nothing here: its sink applies the redelivered event.
 */
export function releasePlan(r: Pick<RequestRow, 'state' | 'exceptions'>, released: ReadonlySet<string>, active: readonly HeldScope[]): { exceptions: RequestException[]; execute: boolean; tables?: string[] } {
  const open = r.exceptions.filter((e): e is HeldException => e.kind === 'held' && !e.released && released.has(e.holdId));
  const stillHeld = (scope: string) => active.filter((h) => h.scope === scope);
  const freed = open.filter((e) => (e.scope === 'all' || e.scope.startsWith('table:')) && stillHeld(e.scope).length === 0);
  const ready = r.state === 'complete_with_exceptions';
  const mark = (e: RequestException) => e.kind === 'held' && released.has(e.holdId) && (ready || !freed.includes(e as HeldException));
  const exceptions: RequestException[] = r.exceptions.map((e) => (mark(e) ? { ...e, released: true } : e));
  for (const e of open) {
    for (const h of stillHeld(e.scope)) {
      if (!exceptions.some((x) => x.kind === 'held' && x.holdId === h.id)) exceptions.push({ kind: 'held', scope: h.scope, holdId: h.id, basis: h.basis, review: h.review });
    }
  }
  if (!ready || freed.length === 0) return { exceptions, execute: false };
  if (freed.some((e) => e.scope === 'all')) return { exceptions, execute: true };
  return { exceptions, execute: true, tables: [...new Set(freed.map((e) => e.scope.slice('table:'.length)))] };
}

/** The completion mail's line: the proof's own summary of the request, on one line. */
export function requestSummary(r: RequestRow, statuses: readonly ErasureStatus[], now: number): string {
  return requestProof(r, [], statuses, now).summary.replace(/\s+/g, ' ');
}
